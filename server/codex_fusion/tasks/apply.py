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
relative, plain, outside ``.git``; every read and write goes through directory handles that never
follow a link (:mod:`codex_fusion.tasks.placing`), so a directory swapped for a symlink, even
mid-accept, is refused.
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
from pathlib import Path
from typing import Final

import anyio

from codex_fusion.errors import TaskError
from codex_fusion.tasks.checks import unsafe_path
from codex_fusion.tasks.patchset import TaskGit
from codex_fusion.tasks.placing import Current, Write, read_all_paths, write_all
from codex_fusion.tasks.record import Applied, FileChange

ZERO: Final = frozenset({"0" * 40, "0" * 64})
#: A file the three-way merge would read: larger ones changed underneath are conflicts.
MAX_MERGE_BYTES: Final = 4 << 20


async def apply(workspace: Path, tg: TaskGit, files: Sequence[FileChange]) -> Applied:
    """Write ``files`` (the reviewed changes) into ``workspace``; TaskError when that cannot be done
    whole (nothing is then changed)."""
    refused = [f"{c.path} ({why})" for c in files if (why := _refusal(c)) is not None]
    if refused:
        raise TaskError(f"Accept refused: {'; '.join(refused[:10])}. Nothing was applied.")
    current = await anyio.to_thread.run_sync(read_all_paths, str(workspace), [c.path for c in files])
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
    await anyio.to_thread.run_sync(write_all, str(workspace), writes)
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


def _oid(now: Current, width: int) -> str:
    """The blob id git would give what is there now (in the task repository's hash)."""
    if now.kind == "missing":
        return "0" * width
    if now.kind == "other":
        return "other"
    if now.ids[0]:
        return now.ids[1] if width == 64 else now.ids[0]
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
    if now.ids[0] or len(now.data) > MAX_MERGE_BYTES or change.size > MAX_MERGE_BYTES:
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
