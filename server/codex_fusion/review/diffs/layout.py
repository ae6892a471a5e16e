"""Which repository a review diffs: the workspace's own, checked before any diff runs.

A hostile workspace can make git read *another* repository: a ``.git`` gitfile
(``gitdir: ../other/.git``) or a ``.git`` symlink, a ``commondir`` (a linked worktree), object
stores borrowed through ``objects/info/alternates`` or ``http-alternates``, objects, packs, refs or
the index as symlinks out of the git directory, ``core.worktree`` naming another work tree, a
config that includes another file, or a broken ``.git`` (an empty directory, a FIFO) that git skips
to use the repository above. Every file of that other repository would show up as a deletion with
its whole content. So the repository must be ``<top>/.git``, a real directory (not a symlink, not a
gitfile) whose real path is what git itself reports as both its git directory and its common
directory, with nothing in it that leads out of it; and ``<top>`` must hold the workspace.

A workspace below the top of its repository (a package of a monorepo) is fine: the diff is limited
to the workspace (``--relative``; untracked files listed from the workspace), so it shows only what
the workspace may show. The environment cannot point git elsewhere: :mod:`.git` passes none of
``GIT_DIR``, ``GIT_COMMON_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``, ``GIT_OBJECT_DIRECTORY``,
``GIT_ALTERNATE_OBJECT_DIRECTORIES`` on.

A user who works in a linked worktree or a submodule of their own sets
``CODEX_FUSION_ALLOW_FOREIGN_GITDIR=1`` (the environment, never a file in the workspace); then only
the work tree's hold on the workspace and a stray ``.git`` below the top are still checked.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import anyio

from codex_fusion.errors import DiffError
from codex_fusion.review.diffs.git import ADVICE, REPOSITORY_SCOPES, ConfigEntry, Git, failure
from codex_fusion.review.diffs.names import shown

OPT_IN = "CODEX_FUSION_ALLOW_FOREIGN_GITDIR"

_OPT_IN_ADVICE = (
    f"If this is a linked worktree or a submodule of your own, set {OPT_IN}=1 in the environment "
    "Claude Code starts codex-fusion with; otherwise pass the diff text to review_diff yourself."
)

#: Files that make this git directory borrow from another one.
_POINTERS = {
    "commondir": "takes its objects, refs and config from another git directory (a linked worktree)",
    "objects/info/alternates": "borrows objects from other object stores (objects/info/alternates)",
    "objects/info/http-alternates": "borrows objects from other object stores (http-alternates)",
}

_GITFILE_MAX = 64 * 1024  # git itself refuses a gitfile over 4 × PATH_MAX
_WALK_MAX_ENTRIES = 2_000_000  # a git directory with more is refused rather than walked for ever


@dataclass(frozen=True)
class Repository:
    """The repository a review diffs, once checked."""

    top: Path  # its work tree's top, the workspace or above it
    git_dir: Path
    config: tuple[ConfigEntry, ...]  # every setting git sees, for Git.locked_down


async def check_repository(git: Git, *, allow_foreign: bool = False) -> Repository:
    """The workspace's own repository, or :class:`DiffError` saying why not and what to do.

    Refuses a workspace outside git, and a repository that is not the workspace's own (see the
    module docstring) unless ``allow_foreign``. Runs only ``git rev-parse`` and ``git config``.
    """
    own = await anyio.to_thread.run_sync(_kind, os.path.join(git.cwd, ".git"))
    if own not in ("missing", "a directory", "a symlink", "a gitfile"):
        _refuse(git, f"its .git is {own}, neither a git directory nor a gitfile", ADVICE)
    result = await git.run(
        "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir", check=False
    )
    if result.returncode != 0 and "not a git repository" in result.stderr:
        raise DiffError(
            f"The workspace {git.cwd} is not inside a git repository, so there is no diff to collect. "
            "Pass the diff text to review_diff yourself (or run `git init` there and commit a baseline)."
        )
    if result.returncode != 0 and "bare repository" in result.stderr:
        raise DiffError(
            f"The workspace {git.cwd} is (inside) a bare git directory, not a work tree: git refuses "
            f"to use it implicitly ({result.stderr}). {ADVICE}"
        )
    if result.returncode != 0:
        raise failure("rev-parse", result)
    lines = os.fsdecode(result.stdout).split("\n")
    if len(lines) != 4 or lines[3]:
        raise DiffError(f"git rev-parse gave an unexpected answer {result.stdout[:200]!r}. {ADVICE}")
    top, git_dir, common = (Path(git.cwd, line) for line in lines[:3])  # common may be relative
    remaining = max(0.0, git.deadline - anyio.current_time())
    with anyio.CancelScope(deadline=git.deadline) as scope:
        problem = await anyio.to_thread.run_sync(
            _layout_problem, git.cwd, top, git_dir, common, allow_foreign, time.monotonic() + remaining,
            abandon_on_cancel=True,
        )  # fmt: skip
    if scope.cancelled_caught:
        problem = f"checking its git directory took longer than {git.timeout:g} s", ADVICE
    config = await git.read_config()
    if problem is None and not allow_foreign:
        problem = _include_problem(config)
    if problem is not None:
        _refuse(git, *problem)
    return Repository(top, git_dir, config)


def _refuse(git: Git, problem: str, advice: str) -> NoReturn:
    raise DiffError(
        f"review_diff compares only the workspace's own repository, and {git.cwd} is not that: "
        f"{problem}. Nothing was sent to Codex. {advice}"
    )


#: What a layout problem is, and what the user can do about it.
_Problem = tuple[str, str]


def _layout_problem(
    workspace: Path, top: Path, git_dir: Path, common: Path, allow_foreign: bool, deadline: float
) -> _Problem | None:
    """What is wrong with the layout git reported, from the filesystem; None when it is the
    workspace's own repository. Blocking: runs in a thread."""
    ws, top_real = os.path.realpath(workspace), os.path.realpath(top)
    if not _inside(ws, top_real):
        return (
            f"git's work tree is {_p(top)} (core.worktree?), which does not contain the workspace, so its "
            "diff is not this workspace's changes",
            ADVICE,
        )
    stray = _stray_dot_git(ws, top_real, os.path.realpath(git_dir))
    if stray is not None:
        return stray, ADVICE
    if allow_foreign:
        return None
    problem = _own_problem(top_real, git_dir, common, deadline)
    return (problem, _OPT_IN_ADVICE) if problem is not None else None


def _own_problem(top_real: str, git_dir: Path, common: Path, deadline: float) -> str | None:
    """Why ``<top>/.git`` is not a git directory of its own, with nothing leading out of it."""
    dot_git = os.path.join(top_real, ".git")
    kind = _kind(dot_git)
    if kind == "a gitfile":
        return f"{_p(dot_git)} is a gitfile ({_gitfile_target(dot_git)}): the repository lives elsewhere"
    if kind == "a symlink":
        return (
            f"{_p(dot_git)} is a symlink to {_p(os.path.realpath(dot_git))}: the repository lives elsewhere"
        )
    if kind != "a directory":
        return (
            f"git uses the git directory {_p(git_dir)} for the work tree {_p(top_real)}, which has no "
            f".git directory of its own ({_p(dot_git)} is {kind}; core.worktree?)"
        )
    real_git_dir = os.path.realpath(git_dir)
    if real_git_dir != dot_git:
        return f"git uses the git directory {_p(git_dir)}, not {_p(dot_git)}"
    if os.path.realpath(common) != real_git_dir:
        return f"its git directory takes its objects, refs and config from {_p(common)} (commondir)"
    for name, what in _POINTERS.items():
        if os.path.lexists(os.path.join(dot_git, name)):
            return f"its git directory {what}"
    return _walk_problem(dot_git, deadline)


def _stray_dot_git(workspace: str, top: str, git_dir: str) -> str | None:
    """A ``.git`` between the workspace and the top that git skipped (it is not a repository: an
    empty or broken directory, a FIFO, a dangling symlink): git then uses the repository above,
    which the user did not mean. The git directory in use (its work tree set elsewhere by
    core.worktree) and a gitfile (which git does not skip) are left to the other checks."""
    directory = workspace
    while directory != top and _inside(directory, top):
        candidate = os.path.join(directory, ".git")
        used = os.path.realpath(candidate) == git_dir or _kind(candidate) == "a gitfile"
        if os.path.lexists(candidate) and not used:
            return (
                f"{_p(candidate)} is {_kind(candidate)} that git cannot use as a repository, so git "
                f"went up to the repository at {_p(top)}. Remove it or make it a real repository"
            )
        directory = os.path.dirname(directory)
    return None


def _walk_problem(git_dir: str, deadline: float) -> str | None:
    """Anything in the git directory that leads out of it: a symlink whose target is outside (an
    object, a pack, a ref, the index, the config), or a FIFO or device git would block on."""
    pending = [git_dir]
    seen = 0
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            return f"{_p(directory)} cannot be read ({exc.strerror or exc})"
        for entry in entries:
            seen += 1
            if seen > _WALK_MAX_ENTRIES or time.monotonic() > deadline:
                return f"its git directory {_p(git_dir)} is too large to check (over {seen} entries)"
            # the directory entry's own type answers these without a stat (most entries are objects)
            if entry.is_file(follow_symlinks=False):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not _inside(target, git_dir):
                    return f"{_p(entry.path)} is a symlink to {_p(target)}, outside its git directory"
            elif _kind(entry.path) in ("a FIFO", "a device"):
                return f"{_p(entry.path)} is {_kind(entry.path)}, which git would block on or misread"
    return None


def _include_problem(config: Sequence[ConfigEntry]) -> _Problem | None:
    """The repository's own config including another file (``include.path``, ``includeIf``)."""
    for entry in config:
        section, _, name = entry.key.partition(".")
        if entry.scope in REPOSITORY_SCOPES and section in ("include", "includeif") and name.endswith("path"):
            return (
                f"its config includes another file ({_p(entry.key)} = {_p(entry.value or '')})",
                _OPT_IN_ADVICE,
            )
    return None


def _kind(path: str) -> str:
    """What is at ``path``, in words; "a gitfile" for a regular file small enough to be one."""
    try:
        info = os.lstat(path)
    except OSError:
        return "missing"
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISREG(mode):
        return "a gitfile" if info.st_size <= _GITFILE_MAX else f"a file of {info.st_size} bytes"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "neither a file nor a directory"


def _gitfile_target(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            first = file.read(4096).split(b"\n", 1)[0]
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return _p(os.fsdecode(first.strip()[:300]))


def _p(path: str | Path) -> str:
    """A path from the repository (any name in it may be hostile) as it may appear in a message."""
    return shown(os.fsencode(path))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
