"""The list of changed files a review prompt shows, bounded whatever the size of the change.

A review prompt names the files it covers (``<changes>``). With thousands of changed files the list
alone would outgrow the prompt, so :func:`listing` shows files one a line up to a size, then the
rest as a count and a short summary (:func:`summary`: how many by status, and the directories most
of them are in). Names come quoted (``names.shown``); a name too long to be useful in a list is cut
(:func:`short`), with a mark saying so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from codex_fusion.review.diffs import names
from codex_fusion.review.diffs.material import FileSummary

#: Characters the file list of one prompt may take; the rest is summarised.
LIST_CHARS = 6_000
#: A name longer than this is cut in lists and summaries (the diff itself names the file whole).
NAME_CHARS = 160
#: Directories named in a summary.
TOP_DIRECTORIES = 5


def short(name: str, limit: int = NAME_CHARS) -> str:
    """``name`` cut to ``limit`` characters, its end kept (where a file's own name is)."""
    return names.short(name, limit)


def line(summary: FileSummary) -> str:
    """One file as the list shows it: ``- path (status, +a −r[, binary][, not shown below])``."""
    counts = (
        f", +{summary.added} −{summary.removed}"
        if summary.added is not None and summary.removed is not None
        else ""
    )
    extra = (", binary" if summary.binary else "") + ("" if summary.included else ", not shown below")
    return f"- {short(summary.path)} ({summary.status}{counts}{extra})"


class Profile:
    """How many files, by status and by top directory: what a summary says, countable once and
    subtracted (a part's "everyone else" is the whole change minus its own files)."""

    __slots__ = ("count", "folders", "statuses")

    def __init__(self, files: Sequence[FileSummary] = ()) -> None:
        self.count = len(files)
        self.statuses = Counter(f.status for f in files)
        self.folders = Counter(_top(f.path) for f in files)

    def __sub__(self, other: Profile) -> Profile:
        rest = Profile()
        rest.count = self.count - other.count
        rest.statuses = self.statuses - other.statuses
        rest.folders = self.folders - other.folders
        return rest

    def text(self) -> str:
        """``1,200 files (1,100 modified, 100 added; in src/ 700, tests/ 300)``: a few hundred
        characters at most."""
        if not self.count:
            return "no files"
        by_status = ", ".join(f"{number:,} {status}" for status, number in self.statuses.most_common())
        common = self.folders.most_common(TOP_DIRECTORIES)
        top = ", ".join(f"{short(folder, 40)} {number:,}" for folder, number in common)
        more = " …" if len(self.folders) > TOP_DIRECTORIES else ""
        return f"{self.count:,} file{'s' if self.count != 1 else ''} ({by_status}; in {top}{more})"


def summary(files: Sequence[FileSummary]) -> str:
    """A count and a one-line profile of ``files`` (:meth:`Profile.text`)."""
    return Profile(files).text()


def listing(files: Sequence[FileSummary], limit: int = LIST_CHARS) -> str:
    """``files`` one a line while they fit in ``limit`` characters, then the rest summarised."""
    lines: list[str] = []
    used = 0
    for index, summary_ in enumerate(files):
        text = line(summary_)
        if used + len(text) + 1 > limit:
            rest = files[index:]
            lines.append(f"- and {summary(rest)}, not listed")
            break
        lines.append(text)
        used += len(text) + 1
    return "\n".join(lines)


def _top(path: str) -> str:
    """The first directory of a (quoted) path, or ``./`` for a file at the top."""
    head, slash, _ = path.strip('"').partition("/")
    return f"{head}/" if slash else "./"
