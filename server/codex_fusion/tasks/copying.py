"""The task's copy of the workspace: measured before anything is written, then copied through
directory handles that never follow a link (:mod:`codex_fusion.tasks.handles`), each file hashed as
it is copied (issue 25 items 2 and 6, issue 26 item 1).

:func:`measure` ``lstat``\\ s every listed path first and refuses an over-limit workspace before a
byte is written (a sparse file counts by its size). :func:`copy` then copies one contiguous run of
the sorted paths: a copy-on-write clone (``FICLONE``) where the filesystem offers one, else one pass
that reads, hashes and writes; never a hard link (the member would write the user's file). Each
regular file's git blob id is computed from the very bytes the member gets, so a crafted index can
never make the task's base differ from the copy.

Both run in the copy's worker processes (:mod:`codex_fusion.tasks.copyproc`, ADR 0029), one run
each: standard library only here, and blocking throughout.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Final, NamedTuple

from codex_fusion.tasks.handles import CREATE_RW, READ, Handles, Refused
from codex_fusion.tasks.loose import write_file_blob, write_loose

#: ``ioctl(dst, FICLONE, src)``: a copy-on-write clone of the whole file (btrfs, XFS, bcachefs …).
FICLONE: Final = 0x40049409
CHUNK: Final = 1 << 20
#: Files up to this size are read whole at once.
SMALL: Final = 64 << 10

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class TooLarge(Exception):
    """The workspace is over a limit (the caller says what to do)."""


class Changed(Exception):
    """A file of the copy changed while it was hashed (the caller says to delegate again)."""


class Entry(NamedTuple):
    """A listed path as ``lstat`` saw it (a tuple: the measure makes one per file)."""

    rel: bytes
    link: bool
    size: int
    executable: bool


@dataclass
class Plan:
    entries: list[Entry]
    size: int
    skipped: list[str]


@dataclass
class Copied:
    """What was copied: ``(path, mode, blob id)`` per entry, and the totals."""

    blobs: list[tuple[bytes, str, str]] = field(default_factory=list)
    files: int = 0
    size: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class Progress:
    """Files and bytes copied so far by one worker; past ``limit`` (when set) the copy stops."""

    files: int = 0
    size: int = 0
    limit: int = 0
    stop: bool = False

    def add(self, size: int) -> None:
        self.files += 1
        self.size += size
        if self.limit and self.size > self.limit:
            raise TooLarge(f"over {self.limit >> 20:,} MiB (files grew while they were copied)")


# -- measuring ----------------------------------------------------------------------------------------


def measure(workspace: bytes, paths: Sequence[bytes], max_bytes: int) -> Plan:
    """Every listed path's kind and size from ``lstat`` (through directory handles), before anything
    is copied; :class:`TooLarge` as soon as the sizes pass ``max_bytes``."""
    plan = Plan([], 0, [])
    entries, skipped = plan.entries, plan.skipped
    here: bytes | None = None  # the directory of the last path, and its handle (or why none)
    at: int | str = -1
    with Handles(workspace, chain=True) as handles:
        for rel in paths:
            directory, _, name = rel.rpartition(b"/")
            if directory != here:
                here, at = directory, _directory(handles, directory)
            if at == "odd" or name in _ODD or rel[:1] == b"/":
                skipped.append(f"{os.fsdecode(rel)} (not a plain relative path)")
                continue
            if at == "link":
                skipped.append(f"{os.fsdecode(rel)} (below a symlink or not in a directory)")
                continue
            if isinstance(at, str):
                continue  # its directory is gone: deleted in the working tree
            try:
                info = os.stat(name, dir_fd=at, follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted in the working tree: the copy has it deleted too
            mode = info.st_mode
            if stat.S_ISREG(mode):
                entries.append(Entry(rel, False, info.st_size, bool(mode & stat.S_IXUSR)))
                plan.size += info.st_size
                if plan.size > max_bytes:
                    raise TooLarge(f"over {max_bytes >> 20:,} MiB before {os.fsdecode(rel)}")
            elif stat.S_ISLNK(mode):
                entries.append(Entry(rel, True, 0, False))
            else:
                kind = "a submodule or nested repository" if stat.S_ISDIR(mode) else "not a file"
                skipped.append(f"{os.fsdecode(rel)} ({kind})")
    return plan


#: Path components that make a listed path not a plain relative one.
_ODD: Final = frozenset((b"", b".", b"..", b".git"))


def _directory(handles: Handles, directory: bytes) -> int | str:
    """The handle of ``directory``, or why there is none: "odd", "link" or "gone"."""
    if directory and not _ODD.isdisjoint(directory.split(b"/")):
        return "odd"
    try:
        return handles.directory(directory)
    except (Refused, NotADirectoryError):
        return "link"
    except FileNotFoundError:
        return "gone"


# -- copying ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the copy goes: the worktree, and the task's repository for the blobs git lacks."""

    tree: bytes
    git_dir: Path
    known: Mapping[bytes, str]  # the workspace index's blob ids: those blobs are not written
    sha256: bool = False


def copy(workspace: bytes, to: Target, entries: Sequence[Entry], progress: Progress) -> Copied:
    """Copy ``entries`` from ``workspace`` into ``to.tree`` (the task's own, fresh); one worker's run."""
    done = Copied()
    blobs, files, size = done.blobs, 0, 0
    cloner = _Cloner(to, to.sha256)
    with Handles(workspace, chain=True) as source, Handles(to.tree, chain=True) as target:
        here: bytes | None = None  # the directory of the last entry, whose handles are at hand
        src_dir = dst_dir = -1
        for entry in entries:
            if progress.stop:
                break
            directory, _, name = entry.rel.rpartition(b"/")
            try:
                if directory != here:
                    here = None
                    src_dir = source.directory(directory)
                    dst_dir = target.directory(directory, create=True)
                    here = directory
                blob = _one(src_dir, dst_dir, name, entry, cloner)
            except (Refused, NotADirectoryError):
                done.skipped.append(f"{os.fsdecode(entry.rel)} (below a symlink or not in a directory)")
                continue
            except FileNotFoundError:
                continue  # deleted since it was listed
            if blob is None:
                done.skipped.append(f"{os.fsdecode(entry.rel)} (changed type while it was copied)")
                continue
            blobs.append((entry.rel, blob[0], blob[1]))
            files += 1
            size += blob[2]
            progress.add(blob[2])
    done.files, done.size = files, size
    return done


def _one(
    src_dir: int, dst_dir: int, name: bytes, entry: Entry, cloner: _Cloner
) -> tuple[str, str, int] | None:
    """One entry from directory handle ``src_dir`` into ``dst_dir``: its mode, blob id and size."""
    if entry.link:
        try:
            link = os.readlink(name, dir_fd=src_dir)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return None  # no longer a link
            raise
        os.symlink(link, name, dir_fd=dst_dir)
        data = b"blob %d\0" % len(os.fsencode(link)) + os.fsencode(link)
        digest = cloner.digest()
        digest.update(data)
        oid = digest.hexdigest()
        if cloner.to.known.get(entry.rel) != oid:
            write_loose(cloner.to.git_dir, oid, data)
        return "120000", oid, 0
    src = os.open(name, READ, dir_fd=src_dir)
    try:
        info = os.fstat(src)
        if not S_ISREG(info.st_mode):
            return None
        executable = info.st_mode & 0o100
        dst = os.open(name, CREATE_RW, 0o755 if executable else 0o644, dir_fd=dst_dir)
        try:
            if executable:
                os.fchmod(dst, 0o755)  # whatever the umask says: the bit is part of the file
            size, oid = cloner.copy(src, dst, info.st_size)
            if cloner.to.known.get(entry.rel) != oid:  # modified or untracked: its blob is new
                write_file_blob(cloner.to.git_dir, oid, dst, size)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return ("100755" if executable else "100644"), oid, size


class _Cloner:
    """A copy-on-write clone while the filesystem takes one, then one read-hash-write pass."""

    def __init__(self, to: Target, sha256: bool) -> None:
        self.to = to
        self.buffer = memoryview(bytearray(CHUNK))
        self.clones = fcntl is not None and hasattr(fcntl, "ioctl")
        self.sha256 = sha256

    def digest(self, data: bytes = b"") -> hashlib._Hash:
        if self.sha256:
            return hashlib.sha256(data)
        return hashlib.sha1(data, usedforsecurity=False)

    def copy(self, src: int, dst: int, expected: int) -> tuple[int, str]:
        """The bytes copied and their git blob id."""
        if self.clones and expected > 0:
            try:
                fcntl.ioctl(dst, FICLONE, src)
            except OSError:
                self.clones = False  # not offered here (ext4, tmpfs, across filesystems)
            else:
                return self._hash(dst)
        if expected <= SMALL:  # most files of a source tree: one read, one write
            data = os.read(src, expected) if expected else b""
            written = os.write(dst, data) if data else 0
            while written < len(data):  # a short write: the rest
                written += os.write(dst, data[written:])
            if len(data) != expected:
                return self._hash(dst)
            return expected, self.digest(b"blob %d\0%s" % (expected, data)).hexdigest()
        digest = self.digest()
        digest.update(b"blob %d\0" % expected)
        size = 0
        buffer = self.buffer  # reused: a fresh 1 MiB object per chunk costs its page faults
        while size < expected:
            got = os.readv(src, [buffer[: min(CHUNK, expected - size)]])
            if not got:
                break
            chunk = buffer[:got]
            digest.update(chunk)
            while chunk:
                chunk = chunk[os.write(dst, chunk) :]
            size += got
        if size != expected:  # it shrank while it was read: the id of what was written
            return self._hash(dst)
        return size, digest.hexdigest()  # the bytes its lstat counted (a file growing meanwhile: those)

    def _hash(self, fd: int) -> tuple[int, str]:
        """The blob id of what ``fd`` (the task's own copy) holds."""
        size = os.fstat(fd).st_size
        digest = self.digest()
        digest.update(b"blob %d\0" % size)
        offset = 0
        while chunk := os.pread(fd, CHUNK, offset):
            digest.update(chunk)
            offset += len(chunk)
        if offset != size:
            raise Changed("A file of the copy changed size while it was hashed; delegate again.")
        return size, digest.hexdigest()
