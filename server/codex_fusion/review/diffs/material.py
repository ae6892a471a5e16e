"""A review's diff as values: what to compare (:class:`DiffRequest`), each changed file
(:class:`FileSummary`) and what a review turn gets (:class:`DiffMaterial`) — read by the prompts,
the parts' plan and the tools without the git that collects them (``collect.py``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DiffMaterial", "DiffRequest", "FileSummary"]


@dataclass(frozen=True)
class FileSummary:
    """One changed file. Every changed file has one, even when its diff is left out of the text."""

    path: str  # as git quotes it in a diff header, hidden characters too (names.shown)
    status: str  # modified, added, deleted, renamed, copied, type changed, unmerged, untracked
    added: int | None  # lines; None when unknown (binary, or an untracked file that was not read)
    removed: int | None
    binary: bool  # known to be binary: listed, its content never put in the text
    included: bool  # its diff is in DiffMaterial.text
    old_path: str | None = None  # where a renamed or copied file came from, quoted the same way


@dataclass(frozen=True)
class DiffRequest:
    """Which changes to review. The default is everything not committed yet, untracked files included."""

    base: str | None = None  # compare with the merge base of this ref and HEAD (what a PR review shows)
    staged: bool = False  # only what is staged (the index), not the working tree
    paths: tuple[str, ...] = ()  # workspace-relative paths to restrict to, taken literally (no wildcards)
    #: Two snapshot trees (``gitsnap.snapshot``): exactly what changed between them, nothing else.
    trees: tuple[str, str] | None = None


@dataclass(frozen=True)
class DiffMaterial:
    """What a review turn needs: the diff text for the prompt, and a summary of every changed file."""

    text: str  # the unified diff for Codex's prompt; whole files only, at most max_chars
    files: tuple[FileSummary, ...]  # sorted by path; names quoted (names.shown), safe to print
    description: str  # one line: what was compared with what, and how much changed
    omitted_note: str | None  # which files were left out of ``text`` and how Codex can read them
    #: Each included file's diff, (path, text) in path order: ``text`` is their concatenation.
    sections: tuple[tuple[str, str], ...] = ()
