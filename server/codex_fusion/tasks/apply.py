"""Accept: the tree Claude reviewed, written into the workspace — all of it or nothing, never committed.

No ``git apply`` runs in the workspace (its config and attributes are the repository's). For each file
the patch changes, the server compares what is in the workspace now with the task's base (the copy
the member started from) by blob id:

- unchanged since the copy → the file becomes exactly the reviewed version;
- already the reviewed version → nothing to do;
- changed since the copy, text on all three sides → a three-way merge (``git merge-file`` on private
  copies); a clean merge is written and named as merged, an overlap is a conflict;
- anything else (deleted, created, a symlink, binary, changed type) → a conflict.

Any conflict refuses the whole accept, naming the files. Then every new file is written beside its
target first, and only when all are ready are they renamed into place, the old ones kept beside
until the end: an error half-way puts everything back. Paths are checked before anything is read:
relative, plain, outside ``.git``, and never through a directory that is a symlink in the workspace.
The index and HEAD are never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import anyio

from codex_fusion.errors import TaskError
from codex_fusion.tasks.checks import unsafe_path
from codex_fusion.tasks.record import FileChange
from codex_fusion.tasks.worktree import TaskGit

ZERO: Final = frozenset({"0" * 40, "0" * 64})
#: A file the three-way merge would read: larger ones changed underneath are conflicts.
MAX_MERGE_BYTES: Final = 4 << 20


@dataclass(frozen=True)
class Current:
    """A path in the workspace as it is now."""

    kind: Literal["missing", "file", "link", "other"]
    data: bytes = b""  # a file's content or a link's target
    mode: int = 0


@dataclass(frozen=True)
class Write:
    path: str
    content: bytes | None  # None: delete
    link: bool = False
    executable: bool = False
    merged: bool = False
    seen: Current | None = None  # the path as it was when checked: it must still be so


@dataclass(frozen=True)
class Applied:
    written: tuple[str, ...]
    merged: tuple[str, ...]
    already: tuple[str, ...]


async def apply(workspace: Path, tg: TaskGit, files: Sequence[FileChange]) -> Applied:
    """Write ``files`` (the reviewed changes) into ``workspace``; TaskError when that cannot be done
    whole (nothing is then changed)."""
    refused = [f"{c.path} ({why})" for c in files if (why := _refusal(c)) is not None]
    if refused:
        raise TaskError(f"Accept refused: {'; '.join(refused[:10])}. Nothing was applied.")
    current = await anyio.to_thread.run_sync(_read_all, workspace, [c.path for c in files])
    writes: list[Write] = []
    conflicts: list[str] = []
    already: list[str] = []
    for change in files:
        now = current[change.path]
        if isinstance(now, str):
            conflicts.append(f"{change.path} ({now})")
            continue
        ours = _oid(now, len(change.old_oid))
        if ours == change.new_oid and (now.kind == "missing" or _mode_ok(now, change.new_mode)):
            already.append(change.path)
            continue
        if ours == change.old_oid or (now.kind == "missing" and change.old_oid in ZERO):
            writes.append(dataclasses.replace(await _reviewed(tg, change), seen=now))
            continue
        merged = await _merge(tg, change, now)
        if merged is None:
            conflicts.append(f"{change.path} ({_changed(now, change)})")
        else:
            writes.append(dataclasses.replace(merged, seen=now))
    if conflicts:
        raise TaskError(
            "Accept refused: your workspace changed underneath the task, and these files conflict with "
            f"its patch: {'; '.join(conflicts[:20])}{' …' if len(conflicts) > 20 else ''}. Nothing was "
            "applied. Apply the parts you want by hand from the patch file, or discard the task and "
            "delegate again from the current state."
        )
    await anyio.to_thread.run_sync(_write_all, workspace, writes)
    return Applied(
        tuple(w.path for w in writes if not w.merged),
        tuple(w.path for w in writes if w.merged),
        tuple(already),
    )


def _refusal(change: FileChange) -> str | None:
    why = unsafe_path(change.path)
    if why is not None:
        return why
    if "160000" in (change.old_mode, change.new_mode):
        return "a submodule: codex-fusion does not write those"
    return None


# -- reading the workspace -----------------------------------------------------------------------------


def _read_all(workspace: Path, paths: Sequence[str]) -> dict[str, Current | str]:
    return {path: _read(workspace, path) for path in paths}


def _read(workspace: Path, path: str) -> Current | str:
    """The path as it is, or why it cannot be written (a directory on the way is a symlink, …)."""
    parts = path.split("/")
    here = workspace
    for part in parts[:-1]:
        here = here / part
        try:
            info = os.lstat(here)
        except FileNotFoundError:
            return Current("missing")
        if stat.S_ISLNK(info.st_mode):
            return f"{here.relative_to(workspace)} is a symlink: nothing is written through one"
        if not stat.S_ISDIR(info.st_mode):
            return f"{here.relative_to(workspace)} is not a directory"
    full = workspace / path
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return Current("missing")
    if stat.S_ISLNK(info.st_mode):
        return Current("link", os.fsencode(os.readlink(full)), info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        return Current("other", b"", info.st_mode)
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return Current("file", b"".join(chunks), info.st_mode)


def _oid(now: Current, width: int) -> str:
    """The blob id git would give what is there now (in the task repository's hash)."""
    if now.kind == "missing":
        return "0" * width
    if now.kind == "other":
        return "other"
    digest = hashlib.sha256() if width == 64 else hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % len(now.data))
    digest.update(now.data)
    return digest.hexdigest()


def _mode_ok(now: Current, mode: str) -> bool:
    if mode == "120000":
        return now.kind == "link"
    executable = bool(now.mode & stat.S_IXUSR)
    return now.kind == "file" and executable == (mode == "100755")


def _changed(now: Current, change: FileChange) -> str:
    if now.kind == "missing":
        return "deleted since the task started"
    if change.old_oid in ZERO:
        return "created since the task started"
    return "changed since the task started, and the changes overlap"


# -- the reviewed contents ---------------------------------------------------------------------------


async def _blob(tg: TaskGit, oid: str) -> bytes:
    return (await tg.run("cat-file", "blob", oid)).stdout


async def _reviewed(tg: TaskGit, change: FileChange) -> Write:
    if change.new_oid in ZERO:
        return Write(change.path, None)
    content = await _blob(tg, change.new_oid)
    return Write(
        change.path, content, link=change.new_mode == "120000", executable=change.new_mode == "100755"
    )


async def _merge(tg: TaskGit, change: FileChange, now: Current) -> Write | None:
    """The user's edits since the copy and the member's, merged; None when they overlap or cannot
    be merged (not three regular text files)."""
    regular = ("100644", "100755")
    if now.kind != "file" or change.old_mode not in regular or change.new_mode not in regular:
        return None
    if len(now.data) > MAX_MERGE_BYTES or change.size > MAX_MERGE_BYTES:
        return None
    base, theirs = await _blob(tg, change.old_oid), await _blob(tg, change.new_oid)
    if any(b"\0" in text[:8000] for text in (now.data, base, theirs)):
        return None
    scratch = tg.git_dir.parent / f"merge-{secrets.token_hex(4)}"
    await anyio.to_thread.run_sync(_scratch, scratch, now.data, base, theirs)
    try:
        names = [str(scratch / name) for name in ("current", "base", "reviewed")]
        merged = await tg.git.run("merge-file", "-p", "--quiet", *names, check=False)
    finally:
        await anyio.to_thread.run_sync(_clear, scratch)
    if merged.returncode != 0:
        return None
    return Write(change.path, merged.stdout, executable=change.new_mode == "100755", merged=True)


def _scratch(scratch: Path, *texts: bytes) -> None:
    os.mkdir(scratch, 0o700)
    for name, text in zip(("current", "base", "reviewed"), texts, strict=True):
        fd = os.open(scratch / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, text)
        finally:
            os.close(fd)


def _clear(scratch: Path) -> None:
    for name in ("current", "base", "reviewed"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch / name)
    with contextlib.suppress(OSError):
        os.rmdir(scratch)


# -- writing, all or nothing -------------------------------------------------------------------------


def _write_all(workspace: Path, writes: Sequence[Write]) -> None:
    """Stage every new file beside its target, then swap them all in; undo everything on error."""
    tag = secrets.token_hex(4)
    made_dirs: list[Path] = []
    staged: list[tuple[Write, Path, Path | None]] = []  # (write, target, staged new file)
    swapped: list[tuple[Path, Path | None, Path | None]] = []  # (target, its old file kept, new one)
    try:
        for write in writes:
            target = workspace / write.path
            if write.seen is not None and _read(workspace, write.path) != write.seen:
                raise TaskError(
                    f"Accept refused: {write.path} changed while the patch was being applied. Nothing was "
                    "applied; accept again."
                )
            new = None
            if write.content is not None:
                _make_dirs(workspace, target.parent, made_dirs)
                new = target.with_name(f".{target.name}.codex-fusion-{tag}.new")
                _stage(new, write, target)
            staged.append((write, target, new))
        for _write, target, new in staged:
            old = None
            if os.path.lexists(target):
                old = target.with_name(f".{target.name}.codex-fusion-{tag}.old")
                os.rename(target, old)
            swapped.append((target, old, None))
            if new is not None:
                os.rename(new, target)
                swapped[-1] = (target, old, target)
    except BaseException:
        for target, old, placed in reversed(swapped):
            with contextlib.suppress(OSError):
                if placed is not None:
                    os.unlink(placed)
                if old is not None:
                    os.rename(old, target)
        for _write, _target, new in staged:
            if new is not None:
                with contextlib.suppress(OSError):
                    os.unlink(new)
        for directory in reversed(made_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        raise
    for target, old, placed in swapped:
        if old is not None:
            with contextlib.suppress(OSError):
                os.unlink(old)
        if placed is None:
            _prune_empty(workspace, target.parent)


def _make_dirs(workspace: Path, directory: Path, made: list[Path]) -> None:
    missing = []
    here = directory
    while here != workspace and not os.path.lexists(here):
        missing.append(here)
        here = here.parent
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        made.append(path)


def _stage(new: Path, write: Write, target: Path) -> None:
    assert write.content is not None
    if write.link:
        os.symlink(os.fsdecode(write.content), new)
        return
    try:
        mode = stat.S_IMODE(os.lstat(target).st_mode)
    except FileNotFoundError:
        mode = 0o644
    mode = mode | ((mode & 0o444) >> 2) if write.executable else mode & ~0o111
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(write.content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _prune_empty(workspace: Path, directory: Path) -> None:
    """After a deletion: the directories it left empty go, as git would remove them."""
    while directory != workspace and directory.is_relative_to(workspace):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = directory.parent
