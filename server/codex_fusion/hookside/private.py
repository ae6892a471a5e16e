"""Files only this user can read: directories 0700, files 0600, written atomically, never through a
symlink or into a directory someone else owns.

Used by the hook (through :mod:`codex_fusion.hookside.nonce`) and by the server (the turn log,
answers too long for Claude's tool-output budget). Standard library only and importable on
Python 3.9: the hook runs it under whatever ``python3`` the user has.

Writes go through directory descriptors where the platform has them (``mkdir``/``open``/``rename``
relative to an open, verified directory), which closes the race between checking a directory and
writing into it; elsewhere (Windows) the same checks are made by path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, keeps `typing` off the hook's start-up path
    from collections.abc import Callable, Sequence

__all__ = [
    "MAX_FILE_BYTES",
    "PrivateFileError",
    "append",
    "dumps",
    "parse_json",
    "private_dir",
    "read_bytes",
    "read_json",
    "write_files",
]

#: Largest private JSON file we read back (records and states are a few hundred bytes).
MAX_FILE_BYTES = 64 * 1024

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
# The fd-relative code path (mkdir/open/rename relative to an open, verified directory) closes the
# race between checking a directory and writing into it. Platforms without it (Windows) use paths.
_DIR_FD_OK = (
    bool(_O_DIRECTORY and _O_NOFOLLOW)
    # os.replace shares os.rename's renameat() but is not listed in supports_dir_fd itself.
    and {os.open, os.mkdir, os.rename, os.unlink, os.stat} <= os.supports_dir_fd
    and os.stat in os.supports_follow_symlinks
)


class PrivateFileError(OSError):
    """A path we refuse to write through: a symlink, not a directory/file, or owned by another user."""


def _euid() -> int | None:
    geteuid = getattr(os, "geteuid", None)
    return geteuid() if geteuid is not None else None


def dumps(obj: dict[str, object]) -> bytes:
    """One line of JSON, ASCII only: any text round-trips, even a path that is not valid UTF-8 (its
    undecodable bytes are surrogate escapes, which only a ``\\u`` escape can carry)."""
    return (json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")) + "\n").encode("ascii")


def _check_dir_stat(st: os.stat_result, path: Path) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise PrivateFileError(f"refusing {path}: it is a symlink, not a directory")
    if not stat.S_ISDIR(st.st_mode):
        raise PrivateFileError(f"refusing {path}: not a directory")
    euid = _euid()
    if euid is not None and st.st_uid != euid:
        raise PrivateFileError(f"refusing {path}: owned by uid {st.st_uid}, not by us (uid {euid})")


def _narrow(st: os.stat_result, created: bool) -> int | None:
    """The mode to set on one of our directories, or ``None`` to leave it."""
    mode = stat.S_IMODE(st.st_mode)
    if created:
        return _DIR_MODE if mode != _DIR_MODE else None
    return mode & _DIR_MODE if mode & 0o077 else None


def _open_private_dir(name: str, parent_fd: int | None, path: Path) -> int:
    """Create (0700) or open one of our directories without following symlinks; verify and narrow it."""
    created = False
    try:
        os.mkdir(name, _DIR_MODE, dir_fd=parent_fd)
        created = True
    except FileExistsError:
        pass
    try:
        fd = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=parent_fd)
    except OSError as exc:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except OSError:
            raise exc from None
        _check_dir_stat(st, path)
        raise
    try:
        st = os.fstat(fd)
        _check_dir_stat(st, path)
        mode = _narrow(st, created)
        if mode is not None:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_at(dir_fd: int, name: str, data: bytes, path: Path) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(st.st_mode):
            kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise PrivateFileError(f"refusing {path}: it is {kind}")
    tmp = f".{name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, _FILE_MODE, dir_fd=dir_fd
    )
    try:
        try:
            os.fchmod(fd, _FILE_MODE)  # whatever the umask did
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_files(state: Path, directory: Path, files: Sequence[tuple[str, bytes]]) -> None:
    """Write ``files`` atomically into ``directory`` (which is ``state`` or below it)."""
    parts = directory.relative_to(state).parts
    try:
        os.makedirs(state.parent, _DIR_MODE, exist_ok=True)  # e.g. the plugin data dir itself
    except OSError as exc:
        reason = "not a directory" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        raise PrivateFileError(f"cannot use {state.parent}: {reason}") from exc
    if not _DIR_FD_OK:
        _write_files_by_path(state, parts, files)
        return
    fds: list[int] = []
    path = state
    try:
        fds.append(_open_private_dir(str(state), None, path))
        for part in parts:
            path = path / part
            fds.append(_open_private_dir(part, fds[-1], path))
        for name, data in files:
            _write_at(fds[-1], name, data, directory / name)
    except PrivateFileError:
        raise
    except OSError as exc:
        # the disk said no (full, read-only, …): an OSError, not a refusal — its errno is kept
        raise OSError(exc.errno, f"cannot write under {path}: {exc.strerror or exc}") from exc
    finally:
        for fd in reversed(fds):
            os.close(fd)


def private_dir(parent: Path, name: str) -> Path:
    """``parent/name`` as one of our private directories (0700, ours, not a symlink), created if
    missing; ``parent`` itself is only required to exist (e.g. ``/tmp``)."""
    path = Path(parent) / name
    if not _DIR_FD_OK:
        os.makedirs(path, _DIR_MODE, exist_ok=True)
        st = os.lstat(path)
        _check_dir_stat(st, path)
        return path
    parent_fd = os.open(parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.close(_open_private_dir(name, parent_fd, path))
    finally:
        os.close(parent_fd)
    return path


def _write_files_by_path(state: Path, parts: Sequence[str], files: Sequence[tuple[str, bytes]]) -> None:
    """The same checks by path, for platforms without ``dir_fd`` support."""
    path = state
    for part in ("", *parts):
        path = path / part if part else path
        created = False
        try:
            os.mkdir(path, _DIR_MODE)
            created = True
        except FileExistsError:
            pass
        st = os.lstat(path)
        _check_dir_stat(st, path)
        mode = _narrow(st, created)
        if mode is not None:
            os.chmod(path, mode)
    for name, data in files:
        target = path / name
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISREG(st.st_mode):
                raise PrivateFileError(f"refusing {target}: not a regular file")
        tmp = path / f".{name}.{os.urandom(6).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
        fd = os.open(tmp, flags, _FILE_MODE)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, _FILE_MODE)
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def read_bytes(path: Path, what: str) -> bytes | None:
    """The bytes of a small private regular file; ``None`` if missing; ``ValueError`` if unusable
    (a symlink, not a regular file, another user's, too large, empty). Never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
            raise ValueError("it is a symlink") from None
        raise ValueError(f"cannot open it: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        euid = _euid()
        if euid is not None and st.st_uid != euid:
            raise ValueError(f"owned by uid {st.st_uid}, not by us (uid {euid})")
        if st.st_size > MAX_FILE_BYTES:
            raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            try:
                chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            except OSError as exc:
                raise ValueError(f"cannot read it: {exc.strerror or exc}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    data = b"".join(chunks)
    if not data.strip():
        raise ValueError(f"empty {what}")
    return data


def parse_json(data: bytes, what: str) -> object:
    """Parsed JSON of what :func:`read_bytes` returned; ``ValueError`` if it is not JSON (or null)."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError):
        raise ValueError(f"corrupt or truncated {what} (not JSON)") from None
    if obj is None:  # None means "missing" to the callers
        raise ValueError("not a JSON object")
    return obj


def read_json(path: Path, what: str) -> object:
    """Parsed JSON of a small private regular file; ``None`` if missing; ``ValueError`` if unusable."""
    data = read_bytes(path, what)
    return None if data is None else parse_json(data, what)


def append(path: Path, text: str) -> None:
    """Append to a file only the user can read: 0600, its new parent directory 0700.

    Never blocks and never writes where another user could tamper: refuses a symlink (a planted link
    would send the log elsewhere), anything but a regular file (a FIFO would block the writer for
    ever), a file owned by someone else (it would not be private, and we must not chmod it), and a
    directory that is not ours or that others may write to (they could swap the file), unless it
    is sticky. Raises :class:`PrivateFileError` saying which, or the ``OSError``."""
    parent = path.parent
    parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
    if _DIR_FD_OK:
        dir_fd = os.open(parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        try:
            _check_shared_dir(os.fstat(dir_fd), parent)
            _check_target(lambda: os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False), path)
            fd = _open_log(path, lambda: os.open(path.name, flags, _FILE_MODE, dir_fd=dir_fd))
        finally:
            os.close(dir_fd)
    else:
        _check_shared_dir(os.stat(parent), parent)
        _check_target(lambda: os.lstat(path), path)
        fd = _open_log(path, lambda: os.open(path, flags, _FILE_MODE))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PrivateFileError(f"{path} is not a regular file")
        if _euid() not in (None, info.st_uid):
            raise PrivateFileError(f"{path} belongs to another user; refusing to write to it")
        if stat.S_IMODE(info.st_mode) != _FILE_MODE:
            os.fchmod(fd, _FILE_MODE)
        _write_all(fd, text.encode("utf-8", "backslashreplace"))
    finally:
        os.close(fd)


def _check_shared_dir(st: os.stat_result, path: Path) -> None:
    """A directory we write into but did not make private: ours, and nobody else may replace files."""
    euid = _euid()
    if euid is not None and st.st_uid != euid:
        raise PrivateFileError(f"its directory {path} is owned by uid {st.st_uid}, not by you (uid {euid})")
    if stat.S_IMODE(st.st_mode) & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise PrivateFileError(
            f"its directory {path} is writable by other users (mode {st.st_mode & 0o777:o})"
        )


def _check_target(lstat: Callable[[], os.stat_result], path: Path) -> None:
    """Refuse an existing target that is not a regular file (before opening it: a FIFO would block)."""
    try:
        st = lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise PrivateFileError(f"{path} is a symlink; refusing to follow it")
    if not stat.S_ISREG(st.st_mode):
        raise PrivateFileError(f"{path} is not a regular file (a FIFO, socket, device or directory)")


def _open_log(path: Path, opener: Callable[[], int]) -> int:
    try:
        return opener()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PrivateFileError(f"{path} is a symlink; refusing to follow it") from None
        if exc.errno == errno.ENXIO:  # a FIFO with no reader, opened without blocking
            raise PrivateFileError(f"{path} is not a regular file (a FIFO)") from None
        raise
