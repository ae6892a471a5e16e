"""Reading ``git diff --raw --numstat --patch -z`` as it streams, and keeping what fits the budget."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from codex_fusion.review.diffs.git import DIFF_OPTIONS, Git
from codex_fusion.review.diffs.material import FileSummary
from codex_fusion.review.diffs.names import git_quote, plain, quote, shown

_STATUS = {
    "M": "modified",
    "A": "added",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type changed",
    "U": "unmerged",
}
_LETTERS = {letter.encode(): status for letter, status in _STATUS.items()}


@dataclass(eq=False)
class Entry:
    """One changed file while collecting; ``text`` is its diff while the budget keeps it."""

    raw_path: bytes
    raw_old: bytes
    status: str
    added: int | None = None
    removed: int | None = None
    binary: bool = False
    text: str | None = None
    _header: bytes | None = field(default=None, repr=False)  # header(), computed once
    _plain: bool | None = field(default=None, repr=False)  # plain, computed once

    @property
    def path(self) -> str:
        return self.raw_path.decode("utf-8", "replace")

    @property
    def old_path(self) -> str | None:
        return self.raw_old.decode("utf-8", "replace") if self.raw_old != self.raw_path else None

    def header(self) -> bytes:
        """The line that opens this file's section(s) in git's patch output (a type change has two).

        git writes an unmerged path raw, a newline in it included: that header spans lines."""
        if self._header is None:
            if self.status == "unmerged":
                self._header = b"* Unmerged path " + self.raw_path
            else:
                a, b = git_quote(b"a/" + self.raw_old), git_quote(b"b/" + self.raw_path)
                self._header = b"diff --git " + a + b" " + b
        return self._header

    @property
    def plain(self) -> bool:
        """Both names show as git writes them: no line of the header needs rewriting."""
        if self._plain is None:
            self._plain = plain(self.raw_path) and plain(self.raw_old)
        return self._plain

    def shown_lines(self) -> dict[bytes, bytes]:
        """Each line of git's section header that names this file, and the same line with the names
        quoted by :func:`quote`, so a name's hidden characters are shown (``--- ``/``+++ `` lines
        end with a tab when the name holds a space; the caller keeps it)."""
        a, b = b"a/" + self.raw_old, b"b/" + self.raw_path
        lines = {
            self.header(): b"* Unmerged path " + quote(self.raw_path)
            if self.status == "unmerged"
            else b"diff --git " + quote(a) + b" " + quote(b),
            b"--- " + git_quote(a): b"--- " + quote(a),
            b"+++ " + git_quote(b): b"+++ " + quote(b),
        }
        for verb, name in ((b"rename from ", self.raw_old), (b"rename to ", self.raw_path)):
            lines[verb + git_quote(name)] = verb + quote(name)
            copy = verb.replace(b"rename", b"copy")
            lines[copy + git_quote(name)] = copy + quote(name)
        for left in (a, None):
            for right in (b, None):
                theirs = b"Binary files %s and %s differ" % (
                    git_quote(left) if left else b"/dev/null",
                    git_quote(right) if right else b"/dev/null",
                )
                lines[theirs] = b"Binary files %s and %s differ" % (
                    quote(left) if left else b"/dev/null",
                    quote(right) if right else b"/dev/null",
                )
        return lines

    def summary(self) -> FileSummary:
        return FileSummary(
            path=shown(self.raw_path),
            status=self.status,
            added=self.added,
            removed=self.removed,
            binary=self.binary,
            included=self.text is not None,
            old_path=shown(self.raw_old) if self.raw_old != self.raw_path else None,
        )


async def tracked_changes(
    git: Git, rev: str, *, staged: bool, pathspecs: Sequence[str], budget: Budget, to: str | None = None
) -> list[Entry]:
    """One ``git diff`` gives the file list, the line counts and the patch, all from the same
    snapshot of the working tree (Codex or Claude may be editing it meanwhile); with ``to``, the
    changes from ``rev`` to that tree instead of to the working tree."""
    stream = DiffStream(budget)
    cached = ("--cached",) if staged else (to,) if to is not None else ()
    await git.run(
        "diff", *DIFF_OPTIONS, "--raw", "--numstat", "--patch", "-z", rev, *cached, "--", *pathspecs,
        sink=stream.feed,
    )  # fmt: skip
    return stream.finish()


def _parse_metadata(data: bytes) -> list[Entry]:
    """Parse the ``--raw`` then ``--numstat`` records of ``-z`` output (paths unquoted, NUL-separated)."""
    fields = data.split(b"\0")
    count = len(fields)
    entries: list[Entry] = []
    i = 0
    while i + 1 < count and fields[i].startswith(b":"):
        record = fields[i]
        letter = record[record.rfind(b" ") + 1 :][:1]  # the status, after the last space
        if (letter == b"R" or letter == b"C") and i + 2 < count:
            entries.append(Entry(fields[i + 2], fields[i + 1], _LETTERS[letter]))
            i += 3
        else:
            entries.append(Entry(fields[i + 1], fields[i + 1], _LETTERS.get(letter, "changed")))
            i += 2
    uncounted = {entry.raw_path: entry for entry in entries}
    while i < count and fields[i].count(b"\t") >= 2:
        added, removed, path = fields[i].split(b"\t", 2)
        if not path and i + 2 < count:  # a rename: the paths follow as two fields
            path, i = fields[i + 2], i + 2
        i += 1
        if (entry := uncounted.pop(path, None)) is not None:
            entry.added, entry.removed = _count(added), _count(removed)
            entry.binary = added == b"-"
    # Without the index refresh, a file whose stat data changed but not its content has a raw record
    # and nothing else (no count, no patch): it did not change.
    if not uncounted:
        return entries
    unchanged = set(uncounted.values())
    return [entry for entry in entries if entry not in unchanged]


def _count(field: bytes) -> int | None:
    return int(field) if field.isdigit() else None


@dataclass
class _Section:
    """The part of the patch about one file, as it arrives."""

    entry: Entry
    #: git's header lines naming the file → the same with names quoted; None when the names are
    #: plain, so every line shows as git wrote it (nothing is quoted for a name that needs nothing)
    names: dict[bytes, bytes] | None
    data: bytearray = field(default_factory=bytearray)
    in_header: bool = True  # before the first hunk: lines that name the file are rewritten
    oversize: bool = False  # too large to ever fit: its lines are not kept
    nul: bool = False  # binary content (text forced by an attribute): only the header is kept

    @property
    def header(self) -> bytes:
        header = self.entry.header()
        return header if self.names is None else self.names[header]


_HEADERS = (b"diff --git ", b"* Unmerged path ")
_NEXT = tuple(b"\n" + header for header in _HEADERS)
_HEADER_SPAN = 1 << 16  # a header line longer than this (names of 16k+ bytes) is read line by line


class DiffStream:
    """Consumes ``git diff --raw --numstat --patch -z`` as git writes it.

    The metadata comes first, then an empty record, then the patch. The patch can be far larger than
    anything we keep, so it is cut into per-file sections as it arrives and each finished section goes
    to the budget: memory stays near ``max_chars`` whatever the size of the change.

    The header lines that name a file are rewritten with :func:`names.quote`, which also quotes the
    characters git leaves raw (bidi, invisible). An unmerged path is the one name git writes raw,
    newlines included: its section is only its name, written by us, and every line it spans dropped.
    """

    def __init__(self, budget: Budget) -> None:
        self.entries: list[Entry] = []
        self._budget = budget
        self._limit = 4 * budget.limit + 4096  # bytes beyond which a section cannot fit in limit chars
        self._head = bytearray()
        self._by_header: dict[bytes, Entry] | None = None  # set when the patch starts
        self._by_first_line: dict[bytes, list[Entry]] = {}  # unmerged paths holding a newline
        self._started: set[int] = set()  # ids of the entries whose section has begun
        self._line = bytearray()
        self._section: _Section | None = None
        #: What opens a section at a line's start: git writes ``* Unmerged path`` only for an unmerged
        #: entry (the one name it writes raw); with none, a hunk ends only at ``diff --git``.
        self._next = _NEXT

    def feed(self, chunk: bytes) -> None:
        if self._by_header is None:
            start = max(0, len(self._head) - 1)
            self._head += chunk
            end = self._head.find(b"\0\0", start)
            if end < 0:
                return
            chunk = bytes(self._head[end + 2 :])
            self._start_patch(bytes(self._head[: end + 1]))
        data = bytes(self._line) + chunk if self._line else chunk
        self._line.clear()
        pos = 0
        while pos < len(data):
            end = self._body_end(data, pos)
            if end > pos:  # lines of a hunk: taken whole, up to the next header or the last full line
                self._body(data[pos:end])
                pos = end
                continue
            end = self._header_block(data, pos)
            if end > pos:  # a plain file's section header, taken whole up to its first hunk
                pos = end
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                break
            self._patch_line(data[pos:newline])
            pos = newline + 1
        self._line += data[pos:]
        if len(self._line) > self._limit:  # one huge line: its section cannot fit; keep its start only
            del self._line[64:]
            if self._section is not None:
                self._section.oversize = True

    def _body_end(self, data: bytes, pos: int) -> int:
        """Where the hunk lines starting at ``pos`` end: at the next line that opens a section, else
        after the last complete line; ``pos`` itself when the current section is not in its hunks."""
        section = self._section
        if section is None or section.in_header or section.nul or section.entry.status == "unmerged":
            return pos
        if data.startswith(_HEADERS, pos):
            return pos
        return _hunks_end(data, pos, self._next)

    def _header_block(self, data: bytes, pos: int) -> int:
        """Where the section starting at ``pos`` ends as far as ``data`` holds it, when its header can
        be taken whole: its file's names are plain (no line is rewritten), it holds no NUL, and its
        end (the first hunk, or the next section) is in ``data``. Its hunks go with it up to the next
        section or the last complete line. Else ``pos``: it is read line by line, as ever."""
        if not data.startswith(b"diff --git ", pos):
            return pos
        newline = data.find(b"\n", pos, pos + _HEADER_SPAN)
        assert self._by_header is not None
        entry = self._by_header.get(data[pos:newline]) if newline > 0 else None
        current = self._section.entry if self._section is not None else None
        if entry is None or entry.status == "unmerged" or not entry.plain:
            return pos
        if current is not None and (current.status == "unmerged" or current is entry):
            return pos  # inside an unmerged name, or a type change's second header: line by line
        if id(entry) in self._started:
            return pos
        hunk = data.find(b"\n@@ ", newline, newline + _HEADER_SPAN)  # a header is short: no further
        end = hunk
        for mark in self._next:  # a section with no hunk (a mode, binary or rename only) ends at the next
            found = data.find(mark, newline, hunk if hunk >= 0 else newline + _HEADER_SPAN)
            if found >= 0 and (end < 0 or found < end):
                end = found
        if end < 0:
            return pos  # its end is not here yet
        in_header = end != hunk
        end = end + 1 if in_header else _hunks_end(data, end + 1, self._next)
        if data.find(b"\0", pos, end) >= 0:
            return pos
        self._close_section()
        self._started.add(id(entry))
        section = self._section = _Section(entry, None)
        section.in_header = in_header
        section.data += data[pos:end]
        if len(section.data) > self._limit:
            section.oversize = True
            section.data.clear()
        return end

    def _body(self, block: bytes) -> None:
        """Complete hunk lines of the current section, as :meth:`_patch_line` would keep them."""
        section = self._section
        assert section is not None
        if b"\0" in block:  # binary forced to text: line by line, as ever
            for line in block.split(b"\n")[:-1]:
                self._patch_line(line)
            return
        if not section.oversize:
            section.data += block
            if len(section.data) > self._limit:
                section.oversize = True
                section.data.clear()

    def finish(self) -> list[Entry]:
        if self._by_header is None:
            self._start_patch(bytes(self._head))
        if self._line:
            self._patch_line(bytes(self._line))
        self._close_section()
        return self.entries

    def _start_patch(self, metadata: bytes) -> None:
        self.entries = _parse_metadata(metadata)
        by_header: dict[bytes, Entry] = {}
        unmerged = False
        for entry in self.entries:
            header = entry.header()
            by_header[header] = entry
            if entry.status == "unmerged":  # the one header git writes raw: it may span lines
                unmerged = True
                first, newline, _ = header.partition(b"\n")
                if newline:
                    self._by_first_line.setdefault(first, []).append(entry)
        self._by_header = by_header
        if not unmerged:
            self._next = _NEXT[:1]
        self._head.clear()

    def _patch_line(self, line: bytes) -> None:
        section = self._section
        if line.startswith(_HEADERS):
            entry = self._header_entry(line)
            if entry is None:
                return  # a line an unmerged path spans, or a header repeated inside one
            if section is None or section.entry is not entry:  # a type change has two
                self._close_section()
                self._started.add(id(entry))
                shown_lines = None if entry.plain else entry.shown_lines()
                section = self._section = _Section(entry, shown_lines)
            section.in_header = True
        if section is None or section.nul or section.entry.status == "unmerged":
            return
        if b"\0" in line:  # forced to text by an attribute: binary all the same, never in the prompt
            section.nul = section.entry.binary = True
            section.entry.added = section.entry.removed = None
            section.data.clear()
            return
        if section.in_header:
            if line.startswith(b"@@ "):
                section.in_header = False
            else:
                name_part = line.removesuffix(b"\t")  # git ends a ---/+++ line with a tab for a space
                if section.names is not None:
                    line = section.names.get(name_part, name_part) + line[len(name_part) :]
        if not section.oversize:
            section.data += line + b"\n"
            if len(section.data) > self._limit:
                section.oversize = True
                section.data.clear()

    def _header_entry(self, line: bytes) -> Entry | None:
        """The entry whose section ``line`` opens; None for a line to drop."""
        assert self._by_header is not None
        current = self._section.entry if self._section is not None else None
        entry = self._by_header.get(line)
        if entry is None and line.startswith(b"* Unmerged path "):
            waiting = [e for e in self._by_first_line.get(line, ()) if id(e) not in self._started]
            entry = waiting[0] if waiting else None
        if entry is not None and entry is not current and id(entry) in self._started:
            return None  # its section is over: a header inside an unmerged path's name
        if entry is None and current is not None and current.status == "unmerged":
            return None
        return entry if entry is not None else self._unexpected(line)

    def _unexpected(self, header: bytes) -> Entry:
        """A section no metadata record announced (should not happen): listed all the same."""
        assert self._by_header is not None
        name = header.removeprefix(b"diff --git ").removeprefix(b"* Unmerged path ")
        entry = self._by_header[header] = Entry(name, name, "changed")
        self.entries.append(entry)
        return entry

    def _close_section(self) -> None:
        section, self._section = self._section, None
        if section is None:
            return
        if section.entry.status == "unmerged":
            self._budget.offer(section.entry, text(section.header + b"\n"))
        elif section.nul:
            self._budget.offer(section.entry, text(section.header + b"\nBinary files differ\n"))
        elif not section.oversize:
            self._budget.offer(section.entry, text(section.data))


def _hunks_end(data: bytes, pos: int, marks: tuple[bytes, ...]) -> int:
    """Where hunk lines from ``pos`` end: at the next line starting with one of ``marks`` (each
    ``\\n`` + a header), else after the last complete line; at least ``pos``."""
    end = data.rfind(b"\n", pos) + 1
    for mark in marks:  # each search stops where an earlier one found a header
        found = data.find(mark, pos, end + len(mark) - 1)
        if 0 <= found < end:
            end = found + 1
    return max(end, pos)


def text(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "replace")


# -- the size budget --------------------------------------------------------------------------


class Budget:
    """Keeps the smallest whole sections that fit together in ``limit`` characters.

    Sections are offered one at a time; keeping them in a max-heap and dropping the largest while
    over the limit leaves exactly the smallest ones at the end, without ever holding the whole diff.
    Among equal sizes the later one is dropped.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._total = 0
        self._offered = 0
        self._heap: list[tuple[int, int, Entry]] = []

    def offer(self, entry: Entry, text: str) -> None:
        entry.text = text
        self._offered += 1
        heapq.heappush(self._heap, (-len(text), -self._offered, entry))
        self._total += len(text)
        while self._total > self.limit:
            _, _, dropped = heapq.heappop(self._heap)
            assert dropped.text is not None
            self._total -= len(dropped.text)
            dropped.text = None
