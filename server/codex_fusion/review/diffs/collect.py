"""The collector: which changes a review turn shows, run through git with fixed arguments, as one
text with a summary of every file (the package docstring says why it is built this way)."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codex_fusion.errors import DiffError
from codex_fusion.review.diffs.git import Git, failure
from codex_fusion.review.diffs.layout import check_repository
from codex_fusion.review.diffs.material import DiffMaterial, DiffRequest, FileSummary
from codex_fusion.review.diffs.names import short, shown
from codex_fusion.review.diffs.patch import Budget, Entry, tracked_changes
from codex_fusion.review.diffs.untracked import untracked_files

# -- the public API ---------------------------------------------------------------------------


async def collect_diff(
    workspace: Path,
    request: DiffRequest,
    *,
    max_chars: int = 60_000,
    timeout: float = 20.0,
    allow_foreign_gitdir: bool = False,
) -> DiffMaterial:
    """Run git in ``workspace`` and gather the changes ``request`` asks for.

    * Working tree (default): ``git diff HEAD`` (staged and unstaged changes) plus untracked files
      that .gitignore does not exclude; in a repository without commits, against the empty tree.
    * ``staged``: only the index, like ``git diff --cached``; untracked files are not staged, so left out.
    * ``base``: against the merge base of ``base`` and HEAD rather than ``base`` itself, as a pull
      request shows it: changes made on ``base`` since the branch forked are not the author's and
      would otherwise appear reverted. Without common history, against ``base`` itself.

    When everything does not fit in ``max_chars``, whole files are kept, smallest first, so the prompt
    covers as many files as possible and the files left out are the big ones (lock files, generated
    code), which Codex can read in the workspace; the kept files stay in path order. No changes is not
    an error: ``text`` is empty and the description says so. Everything else that goes wrong
    raises :class:`DiffError`, saying what to do. The whole collection is bounded by ``timeout``.

    Only the workspace's own repository is diffed (``layout.py``); ``allow_foreign_gitdir`` (the
    user's ``CODEX_FUSION_ALLOW_FOREIGN_GITDIR``) accepts a git directory elsewhere: a linked
    worktree or a submodule.
    """
    workspace = _directory(workspace)
    pathspecs = _pathspecs(request.paths, workspace)
    git = await Git.open(workspace, timeout)
    repository = await check_repository(git, allow_foreign=allow_foreign_gitdir)
    git = git.locked_down(repository.config)
    if request.trees is not None:
        return await _between(git, request, pathspecs, max_chars)
    target = await _resolve_target(git, request)
    budget = Budget(max_chars)
    entries = await tracked_changes(
        git, target.rev, staged=request.staged, pathspecs=pathspecs, budget=budget
    )
    if not request.staged:
        entries += await untracked_files(git, pathspecs, budget)
    await _check_paths_exist(git, pathspecs, entries)
    return _material(entries, request, target, max_chars)


async def _between(
    git: Git, request: DiffRequest, pathspecs: tuple[str, ...], max_chars: int
) -> DiffMaterial:
    """The changes between two snapshot trees: blobs as stored, so no filter or working file is read."""
    assert request.trees is not None
    before, after = request.trees
    for tree in request.trees:
        if not tree or not all(c in "0123456789abcdef" for c in tree):
            raise DiffError(f"{tree!r} is not a tree id (40 or 64 hex digits).")
    budget = Budget(max_chars)
    entries = await tracked_changes(git, before, staged=False, pathspecs=pathspecs, budget=budget, to=after)
    return _material(entries, request, _Target(before, "the start of the turn"), max_chars)


def _directory(workspace: Path) -> Path:
    workspace = Path(workspace).absolute()
    if not workspace.is_dir():
        raise DiffError(f"The workspace {workspace} is not a directory, so there is no diff to collect.")
    return workspace


# -- what to compare --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """The tree the changes are measured against, and how to name it in the description."""

    rev: str
    label: str


def _pathspecs(paths: Sequence[str], workspace: Path) -> tuple[str, ...]:
    """The requested paths, normalised, refused when they could point outside the workspace."""
    specs: list[str] = []
    for raw in paths:
        if not raw or "\0" in raw:
            raise DiffError(
                f"The path {raw!r} is empty or contains a NUL byte: pass workspace-relative paths."
            )
        if os.path.isabs(raw):
            raise DiffError(
                f"The path {raw!r} is absolute: pass paths relative to the workspace ({workspace})."
            )
        spec = posixpath.normpath(raw.replace(os.sep, "/"))
        # lexically outside, or through a symlinked directory (the path's own last part may be a link)
        if spec == ".." or spec.startswith("../") or not _contains(workspace, (workspace / spec).parent):
            raise DiffError(
                f"The path {raw!r} is outside the workspace ({workspace}): only changes inside it can "
                "be reviewed. Pass paths relative to the workspace."
            )
        if spec not in specs:
            specs.append(spec)
    return tuple(specs)


def _contains(top: Path, workspace: Path) -> bool:
    return workspace.resolve().is_relative_to(top.resolve())


async def _commit(git: Git, ref: str) -> str | None:
    """The commit ``ref`` names, or None when it names none."""
    result = await git.run(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    if result.returncode == 0:
        return result.stdout.decode().strip()
    if result.returncode == 1 or "Needed a single revision" in result.stderr:
        return None
    raise failure("rev-parse", result)


async def _resolve_target(git: Git, request: DiffRequest) -> _Target:
    head = await _commit(git, "HEAD")
    if request.base is None:
        if head is not None:
            return _Target(head, "HEAD")
        empty = await git.run("hash-object", "-t", "tree", "--stdin")
        return _Target(empty.stdout.decode().strip(), "the empty tree, no commits yet")
    base = await _commit(git, request.base) if request.base.strip() else None
    if base is None:
        raise DiffError(
            f"Unknown base ref {request.base!r}: git cannot resolve it to a commit in this repository. "
            "Use a branch, tag or commit that exists here (`git branch -a` lists branches; fetch it "
            "first if it is only on a remote)."
        )
    if head is None:
        return _Target(base, f"{request.base}, as HEAD has no commits yet")
    result = await git.run("merge-base", base, head, check=False)
    if result.returncode == 0:
        merge_base = result.stdout.decode().strip()
        return _Target(merge_base, f"the merge base {merge_base[:7]} of {request.base} and HEAD")
    if result.returncode == 1:
        return _Target(base, f"{request.base}, which shares no history with HEAD")
    raise failure("merge-base", result)


async def _check_paths_exist(git: Git, pathspecs: Sequence[str], entries: Sequence[Entry]) -> None:
    """Refuse requested paths that exist nowhere: not on disk, not in the index, not in the diff."""
    unknown = _unknown_paths(git.cwd, pathspecs, entries)
    if not unknown:
        return
    listed = await git.run("ls-files", "--cached", "-z", "--", *unknown)
    indexed = [os.fsdecode(path) for path in listed.stdout.split(b"\0") if path]
    missing = [spec for spec in unknown if not any(_under(path, spec) for path in indexed)]
    if missing:
        raise DiffError(
            f"No such path in the workspace or in git: {', '.join(map(repr, missing))}. Paths are "
            f"relative to {git.cwd} and taken literally (no wildcards); check their spelling."
        )


def _unknown_paths(workspace: Path, pathspecs: Sequence[str], entries: Sequence[Entry]) -> list[str]:
    """The requested paths neither on disk nor among the changes (a deletion is not on disk)."""
    changed = {entry.path for entry in entries} | {entry.old_path for entry in entries if entry.old_path}
    return [
        spec
        for spec in pathspecs
        if not os.path.lexists(workspace / spec) and not any(_under(path, spec) for path in changed)
    ]


def _under(path: str, spec: str) -> bool:
    return spec == "." or path == spec or path.startswith(spec + "/")


# -- the result -------------------------------------------------------------------------------


def _material(entries: list[Entry], request: DiffRequest, target: _Target, max_chars: int) -> DiffMaterial:
    ordered = sorted(entries, key=lambda entry: entry.raw_path)
    files = tuple(entry.summary() for entry in ordered)
    # keyed like FileSummary.path (quoted as in a diff header), so a part's files match its summaries
    sections = tuple((entry.summary().path, entry.text) for entry in ordered if entry.text is not None)
    return DiffMaterial(
        text="".join(text for _, text in sections),
        files=files,
        description=_describe(request, target, files),
        omitted_note=_omitted_note(files, max_chars),
        sections=sections,
    )


def _describe(request: DiffRequest, target: _Target, files: Sequence[FileSummary]) -> str:
    where = f" in {_names([shown(path) for path in request.paths], 3)}" if request.paths else ""
    if not files:
        subject = "the index" if request.staged else "the working tree"
        return f"no changes{where}: {subject} matches {target.label}"
    subject = "staged changes" if request.staged else "working tree"
    if request.trees is not None:
        subject = "changes since the start of the turn:"
    added = sum(summary.added or 0 for summary in files)
    removed = sum(summary.removed or 0 for summary in files)
    count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    versus = "" if request.trees is not None else f" vs {target.label}"
    return f"{subject}{versus}{where} ({count}, +{added} −{removed})"


def _omitted_note(files: Sequence[FileSummary], max_chars: int) -> str | None:
    left_out = [summary.path for summary in files if not summary.included]
    if not left_out:
        return None
    count = f"{len(left_out)} file{'s' if len(left_out) != 1 else ''}"
    return (
        f"{count} left out of the diff (over the {max_chars}-character limit, or not a regular file): "
        f"{_names(left_out, 10)} — read them in the workspace"
    )


def _names(paths: Sequence[str], limit: int) -> str:
    shown = ", ".join(short(path, 100) for path in paths[:limit])
    return shown if len(paths) <= limit else f"{shown} and {len(paths) - limit} more"
