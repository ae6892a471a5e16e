"""A task's isolated copy of the workspace (ADR 0020), and the changes made in it.

Not ``git worktree add``: a linked worktree's ``.git`` points back into the user's repository (which
Codex's sandbox cannot read, and which it could then write through), registers itself there, runs
the repository's checkout hooks and filters, and carries none of the user's uncommitted work.
Instead the task gets a **copy**: the files of the working tree as they are — HEAD plus uncommitted
and untracked changes, what ``git ls-files --cached --others --exclude-standard`` lists — copied
without following a symlink (a link is copied as a link) into ``<task>/tree``; or, with ``base``, the
tree of that commit. Files git ignores (``node_modules``, ``.venv``, build output) are not copied,
nor submodules. A fresh repository of the task's own, ``<task>/git`` (bare: it is outside the
worktree, so nothing Codex runs can read or change it), records the copy as one base commit.

When the member's turn ends, ``patchset.changes`` stages the worktree in that repository and records
the result as a tree: the patch Claude reviews is ``base → result``, computed by the server from the
worktree (never from what the member says), and accept applies exactly that tree's blobs.

Every git call here runs through :class:`~codex_fusion.review.diffs.git.Git` (locked down; the workspace's
repository checked by ``diffs.layout`` as for a review). The task's repository has
``info/attributes`` that switch off every content conversion the copied ``.gitattributes`` could
ask for (eol, filters, ident, encodings), so what is compared is what is on disk.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio

from codex_fusion.errors import DiffError, TaskError
from codex_fusion.review.diffs.git import Git, Result
from codex_fusion.review.diffs.layout import check_repository
from codex_fusion.tasks import basetree, copying, workcopy
from codex_fusion.tasks.patchset import TaskGit
from codex_fusion.tasks.workcopy import MAX_BYTES, MAX_FILES, too_large

#: Created by the tests and tools a member runs, never part of the patch (the task's own excludes).
EXCLUDES: Final = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".coverage",
    # left behind by Codex's sandbox (mount points for the paths it protects), empty
    "/.codex/",
    "/.agents/",
    "/.aws/",
)
#: Highest-priority attributes of the task's repository: no conversion of any file's content.
ATTRIBUTES: Final = "* -text -filter -ident -working-tree-encoding !eol !diff !merge\n"


@dataclass(frozen=True)
class Snapshot:
    base: str  # the base commit in the task's repository
    label: str  # what was copied, for Claude
    files: int
    size: int
    skipped: tuple[str, ...]


# -- the copy -----------------------------------------------------------------------------------------


async def create(
    workspace: Path,
    task_dir: Path,
    *,
    base: str | None,
    timeout: float,
    allow_foreign_gitdir: bool,
    progress: Callable[[str], None] | None = None,
    paths: Sequence[str] = (),
) -> Snapshot:
    """Copy the workspace (or ``base``'s tree) into ``task_dir/tree`` and record it as the base
    commit of a fresh repository ``task_dir/git``. Raises TaskError saying what to do; an
    over-limit workspace is refused before anything is written."""
    try:
        ws = await Git.open(workspace, timeout)
        repository = await check_repository(ws, allow_foreign=allow_foreign_gitdir)
        ws = ws.locked_down(repository.config)
    except DiffError as exc:
        raise TaskError(f"Cannot copy the workspace for a task: {exc}") from None
    if base is not None:
        tg = await _fresh(task_dir, timeout)
        files, size, skipped, short = await _checkout(ws, tg, base)
        label = f"{base} ({short})"
        await tg.run("add", "-A", "-f")  # exactly the copy, whatever its .gitignore says
    else:
        head = await _commit(ws, "HEAD")
        measured, narrowed, known = await _planned(ws, workspace, paths)
        try:  # nothing is written before this point: the workers wait, measured
            tg = await _fresh(task_dir, timeout)
            objects = (await _run(ws, "rev-parse", "--git-path", "objects")).stdout.decode().strip()
            await anyio.to_thread.run_sync(
                basetree.remember_source, tg.git_dir, os.path.join(ws.cwd, objects)
            )
            form = (await tg.run("rev-parse", "--show-object-format")).stdout.decode().strip()
            target = copying.Target(os.fsencode(tg.tree), tg.git_dir, known, sha256=form == "sha256")
            copied = await measured.copy(target, progress)
        finally:
            await measured.close()
        info = await anyio.to_thread.run_sync(basetree.index_info, copied.blobs)
        await tg.run("update-index", "-z", "--index-info", input=info)
        files, size, skipped = copied.files, copied.size, [*measured.skipped, *copied.skipped]
        where = f"HEAD {head[:7]}" if head else "no commits yet"
        label = f"your working tree ({where}, with your uncommitted and untracked changes)"
        if narrowed:
            label += f", only {', '.join(paths)} (the whole workspace is over the copy's limit)"
    written = await tg.run("write-tree", "--missing-ok")
    made = await tg.run("commit-tree", written.stdout.decode().strip(), "-m", "codex-fusion: task base")
    commit = made.stdout.decode().strip()
    await tg.run("update-ref", "refs/heads/base", commit)
    return Snapshot(commit, label, files, size, tuple(skipped))


async def _planned(
    ws: Git, workspace: Path, paths: Sequence[str]
) -> tuple[workcopy.Measured, bool, dict[bytes, str]]:
    """The listing measured (:func:`workcopy.plan`) and meanwhile, by a git of its own, the workspace
    index's blob ids; the first error raised alone, the workers ended."""
    done: dict[str, Any] = {}
    failed: list[BaseException] = []

    async def run(key: str, step: Callable[..., Awaitable[Any]], *args: Any) -> None:
        try:
            done[key] = await step(*args)
        except Exception as exc:
            failed.append(exc)
            group.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run, "plan", workcopy.plan, ws, workspace, paths)
            group.start_soon(run, "known", basetree.index_oids, ws)
        if failed:
            raise failed[0]
    except BaseException:
        if "plan" in done:
            await done["plan"][0].close()
        raise
    measured, narrowed = done["plan"]
    return measured, narrowed, done["known"]


async def _fresh(task_dir: Path, timeout: float) -> TaskGit:
    """The task's worktree and its own fresh repository, with filters off and its info files."""
    await anyio.to_thread.run_sync(_prepare, task_dir / "tree", task_dir / "git")
    init = await Git.open(task_dir, timeout)
    await init.run("init", "-q", "--bare", "--template=", str(task_dir / "git"))
    tg = await (await TaskGit.open(task_dir, timeout)).locked()
    await anyio.to_thread.run_sync(_write_info, tg.git_dir)
    return tg


def _prepare(tree: Path, git_dir: Path) -> None:
    os.mkdir(tree, 0o700)
    if git_dir.exists():
        raise TaskError(f"{git_dir} exists already: the task directory is not fresh")


def _write_info(git_dir: Path) -> None:
    os.chmod(git_dir, 0o700)  # git made it by the umask; it holds copies of the user's files
    info = git_dir / "info"
    os.makedirs(info, 0o700, exist_ok=True)
    for name, text in (("exclude", "\n".join(EXCLUDES) + "\n"), ("attributes", ATTRIBUTES)):
        fd = os.open(info / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


async def _run(git: Git, *args: str) -> Result:
    try:
        return await git.run(*args)
    except DiffError as exc:
        raise TaskError(f"Cannot copy the workspace for a task: {exc}") from None


async def _commit(git: Git, ref: str) -> str | None:
    found = await git.run(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return found.stdout.decode().strip() if found.returncode == 0 else None


async def _checkout(ws: Git, tg: TaskGit, base: str) -> tuple[int, int, list[str], str]:
    """``base``'s tree (the workspace's part of it) written into the worktree by the task's own git,
    reading the workspace's objects for the moment (``objects/info/alternates``)."""
    commit = await _commit(ws, base) if base.strip() and not base.startswith("-") else None
    if commit is None:
        raise TaskError(
            f"Unknown base {base!r}: git cannot resolve it to a commit in the workspace's repository. "
            "Leave `base` out to start from your working tree as it is, or name a branch, tag or commit."
        )
    prefix = (await _run(ws, "rev-parse", "--show-prefix")).stdout.decode().strip()
    subtree = await _run(ws, "rev-parse", "--verify", f"{commit}:{prefix}")
    sizes = await _run(ws, "ls-tree", "-r", "-l", "-z", subtree.stdout.decode().strip())
    entries = [e for e in sizes.stdout.split(b"\0") if e]
    total = sum(int(e.split()[3]) for e in entries if e.split()[3].isdigit())
    if len(entries) > MAX_FILES or total > MAX_BYTES:
        raise too_large(f"{len(entries):,} files, {total / 1e6:,.0f} MB")
    objects = (await _run(ws, "rev-parse", "--git-path", "objects")).stdout.decode().strip()
    alternates = tg.git_dir / "objects" / "info" / "alternates"
    await anyio.to_thread.run_sync(_write_alternates, alternates, os.path.join(ws.cwd, objects))
    try:
        await tg.run("read-tree", subtree.stdout.decode().strip())
        await tg.run("checkout-index", "-a", "-f")
    finally:
        await anyio.to_thread.run_sync(_unlink, alternates)
        await anyio.to_thread.run_sync(_unlink, tg.git_dir / "index")  # `add -A` hashes every file anew
    tab = b"\t"
    skipped = [f"{os.fsdecode(e.split(tab, 1)[1])} (a submodule)" for e in entries if e.startswith(b"160000")]
    return len(entries), total, skipped, commit[:7]


def _write_alternates(path: Path, objects: str) -> None:
    os.makedirs(path.parent, 0o700, exist_ok=True)
    path.write_text(os.path.abspath(objects) + "\n", encoding="utf-8")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
