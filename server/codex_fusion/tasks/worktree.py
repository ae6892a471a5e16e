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

When the member's turn ends, :func:`changes` stages the worktree in that repository and records
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
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import anyio

from codex_fusion.errors import DiffError, TaskError
from codex_fusion.review.diffs.git import Git, Result
from codex_fusion.review.diffs.layout import check_repository
from codex_fusion.tasks.record import FileChange

#: Bounds on the copy; a larger workspace is refused (delegate from a narrower one).
MAX_FILES: Final = 50_000
MAX_BYTES: Final = 1 << 30
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
_IDENTITY: Final = (("user.name", "codex-fusion"), ("user.email", "codex-fusion@localhost"))
DIFF: Final = (
    "--no-ext-diff",
    "--no-textconv",
    "--ignore-submodules=none",  # a nested repository the member made shows (and is refused)
    "--submodule=short",
    "-O/dev/null",
    "--no-color",
    "--no-renames",  # each path on its own: what accept writes, file by file
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


@dataclass(frozen=True)
class Snapshot:
    base: str  # the base commit in the task's repository
    label: str  # what was copied, for Claude
    files: int
    size: int
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class Changes:
    """What the member changed: a tree in the task's repository, its files, and the patch."""

    result: str
    files: tuple[FileChange, ...]
    patch: bytes


@dataclass(frozen=True)
class TaskGit:
    """git on the task's own repository, with the worktree as its work tree."""

    git: Git
    git_dir: Path
    tree: Path

    @classmethod
    async def open(cls, task_dir: Path, timeout: float) -> TaskGit:
        git = await Git.open(task_dir, timeout)
        git = replace(git, config=git.config + _IDENTITY)
        return cls(git, task_dir / "git", task_dir / "tree")

    async def run(self, *args: str, check: bool = True) -> Result:
        try:
            return await self.git.run(
                f"--git-dir={self.git_dir}", f"--work-tree={self.tree}", *args, check=check
            )
        except DiffError as exc:
            raise TaskError(f"The task's own git failed ({args[0]}): {exc}") from None

    async def locked(self) -> TaskGit:
        """This runner with every filter the user's own config defines switched off (a copied
        ``.gitattributes`` may name git-lfs's, say)."""
        listed = await self.run("config", "--list", "--show-scope", "--null")
        fields = os.fsdecode(listed.stdout).split("\0")
        filters = sorted(
            {item.split("\n", 1)[0].rsplit(".", 1)[0] for item in fields[1::2] if item.startswith("filter.")}
        )
        off = tuple(
            (f"{name}.{key}", value)
            for name in filters
            for key, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false"))
        )
        return replace(self, git=replace(self.git, config=self.git.config + off))


# -- the copy -----------------------------------------------------------------------------------------


async def create(
    workspace: Path, task_dir: Path, *, base: str | None, timeout: float, allow_foreign_gitdir: bool
) -> Snapshot:
    """Copy the workspace (or ``base``'s tree) into ``task_dir/tree`` and record it as the base
    commit of a fresh repository ``task_dir/git``. Raises TaskError saying what to do."""
    try:
        ws = await Git.open(workspace, timeout)
        repository = await check_repository(ws, allow_foreign=allow_foreign_gitdir)
        ws = ws.locked_down(repository.config)
    except DiffError as exc:
        raise TaskError(f"Cannot copy the workspace for a task: {exc}") from None
    tree, git_dir = task_dir / "tree", task_dir / "git"
    await anyio.to_thread.run_sync(_prepare, tree, git_dir)
    init = await Git.open(task_dir, timeout)
    await init.run("init", "-q", "--bare", "--template=", str(git_dir))
    tg = await (await TaskGit.open(task_dir, timeout)).locked()
    await anyio.to_thread.run_sync(_write_info, git_dir)
    if base is None:
        head = await _commit(ws, "HEAD")
        listed = await _run(ws, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        paths = sorted({p for p in listed.stdout.split(b"\0") if p})
        if len(paths) > MAX_FILES:
            raise _too_large(f"{len(paths):,} files")
        files, size, skipped = await anyio.to_thread.run_sync(copy_files, workspace, tree, paths)
        where = f"HEAD {head[:7]}" if head else "no commits yet"
        label = f"your working tree ({where}, with your uncommitted and untracked changes)"
    else:
        files, size, skipped, short = await _checkout(ws, tg, base)
        label = f"{base} ({short})"
    await tg.run("add", "-A", "-f")  # exactly the copy, whatever its .gitignore says
    written = await tg.run("write-tree")
    made = await tg.run("commit-tree", written.stdout.decode().strip(), "-m", "codex-fusion: task base")
    commit = made.stdout.decode().strip()
    await tg.run("update-ref", "refs/heads/base", commit)
    return Snapshot(commit, label, files, size, tuple(skipped))


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
        raise _too_large(f"{len(entries):,} files, {total / 1e6:,.0f} MB")
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


def _too_large(what: str) -> TaskError:
    return TaskError(
        f"The workspace is too large to copy for a task ({what}; at most {MAX_FILES:,} files and "
        f"{MAX_BYTES >> 20:,} MiB, ignored files not counted). Delegate from a smaller workspace."
    )


def copy_files(workspace: Path, tree: Path, paths: Sequence[bytes]) -> tuple[int, int, list[str]]:
    """Copy ``paths`` (relative to ``workspace``, as git lists them) into ``tree``: regular files
    with their executable bit, symlinks as symlinks (never followed), nothing through a directory
    that is a symlink. Returns the count, the bytes and what was skipped (with why)."""
    source, target = os.fsencode(workspace), os.fsencode(tree)
    real_dirs: dict[bytes, bool] = {b"": True}
    count = size = 0
    skipped: list[str] = []
    for rel in paths:
        shown = os.fsdecode(rel)
        parts = rel.split(b"/")
        if rel.startswith(b"/") or any(p in (b"", b".", b"..", b".git") for p in parts):
            skipped.append(f"{shown} (not a plain relative path)")
            continue
        parent = b"/".join(parts[:-1])
        if not _real_dir(source, parent, real_dirs):
            skipped.append(f"{shown} (below a symlink or not in a directory)")
            continue
        full = os.path.join(source, rel)
        try:
            info = os.lstat(full)
        except FileNotFoundError:
            continue  # deleted in the working tree: the copy has it deleted too
        dest = os.path.join(target, rel)
        os.makedirs(os.path.dirname(dest), 0o700, exist_ok=True)
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(full), dest)
        elif stat.S_ISREG(info.st_mode):
            size += _copy_regular(full, dest, info)
            if size > MAX_BYTES:
                raise _too_large(f"over {MAX_BYTES >> 20:,} MiB")
        else:
            kind = "a submodule or nested repository" if stat.S_ISDIR(info.st_mode) else "not a file"
            skipped.append(f"{shown} ({kind})")
            continue
        count += 1
    return count, size, skipped


def _real_dir(source: bytes, parent: bytes, known: dict[bytes, bool]) -> bool:
    """Every component of ``parent`` is a real directory in the workspace (not a symlink)."""
    if parent in known:
        return known[parent]
    upper = parent.rpartition(b"/")[0]
    ok = _real_dir(source, upper, known)
    if ok:
        try:
            ok = stat.S_ISDIR(os.lstat(os.path.join(source, parent)).st_mode)
        except OSError:
            ok = False
    known[parent] = ok
    return ok


def _copy_regular(full: bytes, dest: bytes, info: os.stat_result) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    mode = 0o755 if info.st_mode & stat.S_IXUSR else 0o644
    src = os.open(full, flags)
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise TaskError(f"{os.fsdecode(full)} changed while it was copied; delegate again")
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            copied = 0
            while chunk := os.read(src, 1 << 20):
                os.write(dst, chunk)
                copied += len(chunk)
            os.fchmod(dst, mode)
            return copied
        finally:
            os.close(dst)
    finally:
        os.close(src)


# -- the changes --------------------------------------------------------------------------------------


async def changes(task_dir: Path, base: str, timeout: float) -> Changes:
    """Stage the worktree in the task's repository and compare it with the base: the result tree, the
    files changed (modes, line counts, sizes) and the whole patch (binary files included)."""
    tg = await (await TaskGit.open(task_dir, timeout)).locked()
    await tg.run("add", "-A")
    result = (await tg.run("write-tree")).stdout.decode().strip()
    return await compare(tg, base, result)


async def compare(tg: TaskGit, base: str, result: str) -> Changes:
    raw = await tg.run("diff", "--raw", "-z", "--no-abbrev", *DIFF, base, result)
    numstat = await tg.run("diff", "--numstat", "-z", *DIFF, base, result)
    patch = await tg.run("diff", "--binary", "--full-index", *DIFF, base, result)
    counts: dict[str, tuple[int | None, int | None]] = {}
    for item in numstat.stdout.split(b"\0"):
        stats = item.split(b"\t", 2)
        if len(stats) == 3:
            plus, minus, named = stats
            counts[os.fsdecode(named)] = (
                int(plus) if plus.isdigit() else None,
                int(minus) if minus.isdigit() else None,
            )
    files: list[FileChange] = []
    items = raw.stdout.split(b"\0")
    for head, path in zip(items[0::2], items[1::2], strict=False):
        fields = head.decode().lstrip(":").split()
        if len(fields) != 5:
            continue
        old_mode, new_mode, old_oid, new_oid, status = fields
        name = os.fsdecode(path)
        added, removed = counts.get(name, (None, None))
        files.append(FileChange(name, status[:1], old_mode, new_mode, added, removed, 0, old_oid, new_oid))
    listed = await tg.run("ls-tree", "-r", "-l", "-z", "--full-tree", result)
    sizes: dict[str, int] = {}
    for item in listed.stdout.split(b"\0"):
        meta, _, entry = item.partition(b"\t")
        columns = meta.split()
        if len(columns) == 4 and columns[3].isdigit():
            sizes[os.fsdecode(entry)] = int(columns[3])
    sized = tuple(replace(change, size=sizes.get(change.path, 0)) for change in files)
    return Changes(result, sized, patch.stdout)
