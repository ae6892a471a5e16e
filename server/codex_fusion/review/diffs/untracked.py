"""Untracked files in a review: new-file diffs we write ourselves, never through git's filters."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

import anyio

from codex_fusion.errors import DiffError
from codex_fusion.review.diffs.git import Git
from codex_fusion.review.diffs.names import quote
from codex_fusion.review.diffs.patch import Budget, Entry, text

UNTRACKED_MAX_BYTES = 256 * 1024  #: larger untracked files are listed, not read
_SNIFF_BYTES = 8000  # git's rule: a NUL byte in the first 8000 bytes means binary


async def untracked_files(git: Git, pathspecs: Sequence[str], budget: Budget) -> list[Entry]:
    """Untracked files .gitignore does not exclude, as new-file diffs we write ourselves.

    Reading them ourselves (never following a symlink, never opening a FIFO) keeps git's filters out
    of it and reads nothing outside the workspace.
    """
    listed = await git.run("ls-files", "--others", "--exclude-standard", "-z", "--", *pathspecs)
    paths = [path for path in listed.stdout.split(b"\0") if path]
    if not paths:
        return []
    root = os.fsencode(git.cwd)
    with anyio.CancelScope(deadline=git.deadline) as scope:
        entries = await anyio.to_thread.run_sync(read_untracked, root, paths, budget, abandon_on_cancel=True)
    if scope.cancelled_caught:
        raise DiffError(
            f"Reading the untracked files took longer than {git.timeout:g} s. Pass `paths` to narrow "
            "the review, or pass the diff text yourself."
        )
    return entries


def read_untracked(root: bytes, paths: list[bytes], budget: Budget) -> list[Entry]:
    """Render untracked files, smallest first, until they alone exceed the budget (the rest could not
    be kept next to them, so they are listed unread)."""
    sized: list[tuple[int, bytes, os.stat_result | None]] = []
    for path in paths:
        try:
            info: os.stat_result | None = os.lstat(os.path.join(root, path))
        except OSError:
            info = None
        sized.append((info.st_size if info else 0, path, info))
    entries: list[Entry] = []
    spent = 0
    for _, path, info in sorted(sized, key=lambda item: (item[0], item[1])):
        entry = Entry(path, path, "untracked")
        entries.append(entry)
        if info is not None and spent <= budget.limit:
            text = _render_untracked(os.path.join(root, path), info, entry)
            if text is not None:
                spent += len(text)
                budget.offer(entry, text)
    return entries


def _render_untracked(full_path: bytes, info: os.stat_result, entry: Entry) -> str | None:
    """The new-file diff of one untracked file, or None when it is not shown (too large, not a
    regular file or a symlink, unreadable). Sets the entry's line count and binary flag."""
    try:
        if stat.S_ISLNK(info.st_mode):
            return _new_file_patch(entry, b"120000", os.readlink(full_path))
        if not stat.S_ISREG(info.st_mode):
            return None  # a FIFO, a socket, a nested repository (listed as "dir/")
        too_large = info.st_size > UNTRACKED_MAX_BYTES
        content = _read_head(full_path, _SNIFF_BYTES if too_large else UNTRACKED_MAX_BYTES + 1)
    except OSError:
        return None
    if b"\0" in content[:_SNIFF_BYTES]:
        entry.binary = True
        return _binary_new_file(entry.raw_path)
    if too_large or len(content) > UNTRACKED_MAX_BYTES:  # listed, not shown
        return None
    return _new_file_patch(entry, b"100755" if info.st_mode & stat.S_IXUSR else b"100644", content)


def _read_head(full_path: bytes, size: int) -> bytes:
    """At most ``size`` bytes of a regular file, without following a symlink or blocking on a FIFO
    swapped in since we looked."""
    fd = os.open(full_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        return file.read(size)


def _new_file_header(path: bytes, mode: bytes) -> bytes:
    return b"diff --git %s %s\nnew file mode %s\n" % (quote(b"a/" + path), quote(b"b/" + path), mode)


def _binary_new_file(path: bytes) -> str:
    """What git shows for a new binary file: that it differs, never its content."""
    named = quote(b"b/" + path)
    return text(_new_file_header(path, b"100644") + b"Binary files /dev/null and " + named + b" differ\n")


def _new_file_patch(entry: Entry, mode: bytes, content: bytes) -> str:
    """A file's content as git shows a new file: every line added, one hunk."""
    entry.added, entry.removed = 0, 0
    header = _new_file_header(entry.raw_path, mode)
    if not content:
        return text(header)
    lines = content.split(b"\n")
    complete = lines[-1] == b""
    if complete:
        lines.pop()
    entry.added = len(lines)
    tab = b"\t" if b" " in entry.raw_path else b""  # git ends a name holding a space with a tab
    hunk = b"@@ -0,0 +1 @@\n" if len(lines) == 1 else b"@@ -0,0 +1,%d @@\n" % len(lines)
    body = b"".join(b"+" + line + b"\n" for line in lines)
    if not complete:
        body += b"\\ No newline at end of file\n"
    return text(header + b"--- /dev/null\n+++ " + quote(b"b/" + entry.raw_path) + tab + b"\n" + hunk + body)
