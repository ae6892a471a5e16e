"""Reading and writing the workspace for accept through directory handles (issue 25 item 2).

Every path is reached from the workspace's handle, one directory at a time, never through a link
(:mod:`codex_fusion.tasks.handles`): what is read, staged, renamed into place and removed is always
relative to the handle of the directory that was checked, so a directory swapped for a symlink at any
moment is refused (``ELOOP``), never followed. All of one accept is written through one set of
handles: each file is staged beside its target, then all are renamed in within their own directory
handle, the old ones kept beside until the end; an error half-way puts everything back.

Blocking throughout: call it off the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from codex_fusion.errors import TaskError
from codex_fusion.tasks.handles import CREATE, READ, Handles, Refused, read_all

#: A workspace file larger than this is compared by its blob ids, not held in memory.
KEEP_BYTES: Final = 8 << 20


@dataclass(frozen=True)
class Current:
    """A path in the workspace as it is now."""

    kind: Literal["missing", "file", "link", "other"]
    data: bytes = b""  # a file's content (up to KEEP_BYTES) or a link's target
    mode: int = 0
    ids: tuple[str, str] = ("", "")  # a larger file's git blob ids (SHA-1, SHA-256), content not kept


@dataclass(frozen=True)
class Write:
    path: str
    content: bytes | None  # None: delete
    link: bool = False
    executable: bool = False
    merged: bool = False
    seen: Current | None = None  # the path as it was when checked: it must still be so


def read_all_paths(workspace: str, paths: Sequence[str]) -> dict[str, Current | str]:
    with Handles(workspace) as handles:
        return {path: read(handles, path) for path in paths}


def read(handles: Handles, path: str) -> Current | str:
    """The path as it is, or why it cannot be written (a directory on the way is a symlink, …)."""
    rel = os.fsencode(path)
    try:
        fd, name = handles.parent(rel)
    except Refused as exc:
        return str(exc)
    except FileNotFoundError:
        return Current("missing")
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return Current("missing")
    if stat.S_ISLNK(info.st_mode):
        return Current("link", os.fsencode(os.readlink(name, dir_fd=fd)), info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        return Current("other", b"", info.st_mode)
    try:
        file = os.open(name, READ, dir_fd=fd)
    except OSError:
        return f"{path} changed while it was read"
    try:
        if not stat.S_ISREG(os.fstat(file).st_mode):
            return Current("other", b"", info.st_mode)
        return _file(file, info.st_mode)
    finally:
        os.close(file)


def _file(fd: int, mode: int) -> Current:
    """A regular file's content, or for one over :data:`KEEP_BYTES` only its blob ids: a huge file in
    the workspace never sits in the server's memory."""
    head = read_all(fd, KEEP_BYTES + 1)
    if len(head) <= KEEP_BYTES:
        return Current("file", head, mode)
    size = os.fstat(fd).st_size
    ids = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    for digest in ids:
        digest.update(b"blob %d\0" % size)
        digest.update(head)
    read = len(head)
    while chunk := os.pread(fd, 1 << 20, read):
        for digest in ids:
            digest.update(chunk)
        read += len(chunk)
    if read != size:
        return Current("other", b"", mode)  # it changed while it was read: compared as changed
    return Current("file", b"", mode, (ids[0].hexdigest(), ids[1].hexdigest()))


@dataclass
class _Placed:
    write: Write
    directory: int  # the handle of the directory that holds the target
    name: bytes
    new: bytes | None = None  # the staged new file, beside the target
    old: bytes | None = None  # the target as it was, kept beside until the end
    placed: bool = False


def write_all(workspace: str, writes: Sequence[Write]) -> None:
    """Stage every new file beside its target, then swap them all in; undo everything on error."""
    tag = secrets.token_hex(4).encode()
    made: list[bytes] = []
    done: list[_Placed] = []
    with Handles(workspace) as handles:
        try:
            for write in writes:
                done.append(_stage(handles, write, tag, made))
            for item in done:
                _swap(item, tag)
        except BaseException:
            _undo(handles, done, made)
            raise
        for item in done:
            if item.old is not None:
                with contextlib.suppress(OSError):
                    os.unlink(item.old, dir_fd=item.directory)
            if item.write.content is None:
                _prune_empty(handles, os.fsencode(item.write.path))


def _stage(handles: Handles, write: Write, tag: bytes, made: list[bytes]) -> _Placed:
    rel = os.fsencode(write.path)
    if write.seen is not None and read(handles, write.path) != write.seen:
        raise TaskError(
            f"Accept refused: {write.path} changed while the patch was being applied. Nothing was "
            "applied; accept again."
        )
    try:
        directory, name = handles.parent(rel, create=write.content is not None, made=made)
    except Refused as exc:
        raise TaskError(f"Accept refused: {exc}. Nothing was applied.") from None
    item = _Placed(write, directory, name)
    if write.content is None:
        return item
    new = b".%s.codex-fusion-%s.new" % (name, tag)
    if write.link:
        os.symlink(write.content, new, dir_fd=directory)
        item.new = new
        return item
    try:
        mode = stat.S_IMODE(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        mode = 0o644
    mode = mode | ((mode & 0o444) >> 2) if write.executable else mode & ~0o111
    fd = os.open(new, CREATE, 0o600, dir_fd=directory)
    try:
        view = memoryview(write.content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.fchmod(fd, mode)
    except BaseException:
        os.unlink(new, dir_fd=directory)
        raise
    finally:
        os.close(fd)
    item.new = new
    return item


def _swap(item: _Placed, tag: bytes) -> None:
    """Within the directory's own handle: the old file aside, the new one in."""
    directory, name = item.directory, item.name
    try:
        os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        old = b".%s.codex-fusion-%s.old" % (name, tag)
        os.rename(name, old, src_dir_fd=directory, dst_dir_fd=directory)
        item.old = old
    if item.new is not None:
        os.rename(item.new, name, src_dir_fd=directory, dst_dir_fd=directory)
        item.new, item.placed = None, True


def _undo(handles: Handles, done: Sequence[_Placed], made: Sequence[bytes]) -> None:
    for item in reversed(done):
        with contextlib.suppress(OSError):
            if item.placed:
                os.unlink(item.name, dir_fd=item.directory)
            if item.old is not None:
                os.rename(item.old, item.name, src_dir_fd=item.directory, dst_dir_fd=item.directory)
            if item.new is not None:
                os.unlink(item.new, dir_fd=item.directory)
    for rel in reversed(made):
        parent, _, name = rel.rpartition(b"/")
        with contextlib.suppress(OSError, Refused):
            os.rmdir(name, dir_fd=handles.directory(parent))


def _prune_empty(handles: Handles, rel: bytes) -> None:
    """After a deletion: the directories it left empty go, as git would remove them."""
    directory = rel.rpartition(b"/")[0]
    while directory:
        parent, _, name = directory.rpartition(b"/")
        try:
            os.rmdir(name, dir_fd=handles.directory(parent))
        except (OSError, Refused):
            return
        directory = parent
