"""Directory handles that never follow a link: how the task's copy reads the workspace and how accept
writes it (issue 25 item 2).

A path is never used by name from the root. Each directory on the way is opened from its parent's
handle (``openat`` with ``O_DIRECTORY | O_NOFOLLOW``), and the file itself is read, linked, renamed
or removed relative to the handle of the directory that holds it. A directory swapped for a symlink
at any moment makes that open fail (``ELOOP``/``ENOTDIR``): it is refused, never followed. A
directory renamed away after its handle was opened keeps its handle, so what is read or written stays
in the directory that was checked.

Blocking throughout: call it off the event loop.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
#: A directory, opened from its parent, that must not be a link.
DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC
#: A file to read: never a link, never blocking (a FIFO opens at once and is then refused by fstat).
READ: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | O_CLOEXEC
#: A new file: never through a link, never an existing name.
CREATE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_CLOEXEC
#: A new file of the task's copy, read back to hash a clone or write its blob.
CREATE_RW: Final = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_CLOEXEC


class Refused(Exception):
    """A directory on the way is a symlink or not a directory: nothing is read or written there."""

    def __init__(self, where: bytes, why: str) -> None:
        super().__init__(f"{os.fsdecode(where)} {why}")
        self.where = where


class Handles:
    """Open directory handles below one root, keyed by their path relative to it (``b""`` is the root).

    ``chain=True`` keeps only the directories of the path asked last (and its ancestors) open: walking
    paths in sorted order then holds at most the tree's depth in descriptors, however many
    directories there are.
    """

    def __init__(self, root: str | bytes | os.PathLike[str], *, chain: bool = False) -> None:
        self.root = os.open(root, os.O_RDONLY | os.O_DIRECTORY | O_CLOEXEC)
        self._open: dict[bytes, int] = {b"": self.root}
        self._chain = chain

    def __enter__(self) -> Handles:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open = {}

    def directory(self, rel: bytes, *, create: bool = False, made: list[bytes] | None = None) -> int:
        """The handle of directory ``rel``; with ``create``, missing directories are made (0700 when
        ``made`` is None — the task's own tree — else 0755, each recorded in ``made``).

        Raises :class:`Refused` when a component is a link or not a directory, FileNotFoundError
        when one is missing and ``create`` is false."""
        found = self._open.get(rel)
        if found is not None:
            return found
        if self._chain:
            self._keep_only(rel)
        parent, _, name = rel.rpartition(b"/")
        parent_fd = self.directory(parent, create=create, made=made)
        try:
            fd = os.open(name, DIRECTORY, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, 0o700 if made is None else 0o755, dir_fd=parent_fd)
            except FileExistsError:
                pass  # another copier made it just now
            else:
                if made is not None:
                    made.append(rel)
            fd = self._open_dir(name, parent_fd, rel)
        except OSError as exc:
            raise _refusal(exc, parent_fd, name, rel) from None
        self._open[rel] = fd
        return fd

    def _open_dir(self, name: bytes, parent_fd: int, rel: bytes) -> int:
        try:
            return os.open(name, DIRECTORY, dir_fd=parent_fd)
        except OSError as exc:
            raise _refusal(exc, parent_fd, name, rel) from None

    def _keep_only(self, rel: bytes) -> None:
        """Close every handle that is not ``rel`` or one of its ancestors."""
        keep = {b""}
        parts = rel.split(b"/")
        keep.update(b"/".join(parts[:n]) for n in range(1, len(parts) + 1))
        for key in [key for key in self._open if key not in keep]:
            os.close(self._open.pop(key))

    def parent(
        self, rel: bytes, *, create: bool = False, made: list[bytes] | None = None
    ) -> tuple[int, bytes]:
        """The handle of the directory that holds ``rel``, and ``rel``'s last component."""
        directory, _, name = rel.rpartition(b"/")
        return self.directory(directory, create=create, made=made), name

    def identity(self, rel: bytes) -> tuple[int, int]:
        """(device, inode) of an open directory handle."""
        info = os.fstat(self._open[rel])
        return info.st_dev, info.st_ino


def _refusal(exc: OSError, parent_fd: int, name: bytes, rel: bytes) -> OSError | Refused:
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return exc
    try:
        mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
    except OSError:
        return Refused(rel, "changed while it was opened")
    if stat.S_ISLNK(mode):
        return Refused(rel, "is a symlink: nothing is written through one")
    return Refused(rel, "is not a directory")


def lstat_at(handles: Handles, rel: bytes) -> os.stat_result | None:
    """``lstat`` of ``rel`` through its parent's handle; None when it does not exist."""
    fd, name = handles.parent(rel)
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def read_all(fd: int, limit: int | None = None) -> bytes:
    """Everything ``fd`` holds (at most ``limit`` bytes)."""
    chunks: list[bytes] = []
    left = limit
    while left is None or left > 0:
        chunk = os.read(fd, 1 << 20 if left is None else min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        if left is not None:
            left -= len(chunk)
    return b"".join(chunks)
