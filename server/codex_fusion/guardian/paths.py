"""Where a path really points, and whether that is inside the workspace.

Real-path containment: symlinks and ``..`` are resolved, relative paths are taken from a directory the
caller names (the workspace, or a request's own working directory; never the process cwd), ``~`` is
expanded, and whatever cannot be resolved counts as outside.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import Final

_MAX_PATH_CHARS: Final = 4096


def real_workspace(workspace: Path | str) -> str | None:
    try:
        text = os.fspath(workspace)
        if not isinstance(text, str) or not text or "\x00" in text:
            return None
        return os.path.realpath(os.path.abspath(os.path.expanduser(text)))
    except (OSError, ValueError, TypeError, RuntimeError):
        return None


def realpath(raw: object, base_real: str | None) -> str | None:
    """Absolute real path of ``raw`` (relative paths are taken from ``base_real``), or None.

    Existing prefixes are resolved with ``realpath(strict=True)``; components that do not exist
    yet are appended verbatim.  ``None`` (unresolvable) for non-strings, empty strings, NUL bytes,
    over-long paths, ``~`` that does not expand, dangling or looping symlinks, a ``..`` after a
    missing component, and any OS error.
    """
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_PATH_CHARS or "\x00" in raw:
        return None
    try:
        expanded = os.path.expanduser(raw)
        if expanded.startswith("~"):
            return None  # ~user that does not exist: refuse to guess
        if not os.path.isabs(expanded):
            if base_real is None:
                return None
            expanded = os.path.join(base_real, expanded)
        head = expanded
        tail: list[str] = []
        while True:
            try:
                os.lstat(head)
            except (FileNotFoundError, NotADirectoryError):
                parent, name = os.path.split(head)
                if parent == head:
                    return None
                tail.append(name)
                head = parent
                continue
            # ``head`` exists (possibly as a dangling/looping symlink, which raises here).
            real = os.path.realpath(head, strict=True)
            break
    except (OSError, ValueError, RuntimeError):
        return None
    rest: list[str] = []
    for part in reversed(tail):
        if part == "..":
            return None  # ".." after a component that does not exist: do not guess
        if part not in ("", "."):
            rest.append(part)
    return os.path.join(real, *rest) if rest else real


def within(real: str, workspace_real: str | None) -> bool:
    if workspace_real is None:
        return False
    return Path(real).is_relative_to(workspace_real)


class NotInside(Exception):
    """The path is outside the workspace, or not a regular file we may read."""


def open_inside(path: str, workspace: Path) -> int:
    """Open ``path`` for reading only if it is a regular file inside the workspace; return the fd.

    Not raceable: the last component is opened without following a symlink and without blocking (a
    FIFO cannot hang us), and the real path *of the opened descriptor* is checked, so swapping a
    directory or symlink between the check and the open is caught.
    """
    workspace_real = real_workspace(workspace)
    real = realpath(path, workspace_real)
    if real is None or not within(real, workspace_real):
        raise NotInside(f"{path} is outside the workspace")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotInside(f"{path} changed into a symlink while it was opened") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotInside(f"{path} is not a regular file")
        opened = _fd_path(fd)
        if opened is None or not within(opened, workspace_real):
            raise NotInside(f"{path} is outside the workspace")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fd_path(fd: int) -> str | None:
    """Where an open descriptor really points (Linux: /proc/self/fd; macOS: F_GETPATH)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    get_path = getattr(fcntl, "F_GETPATH", None)
    if get_path is None:
        return None
    try:
        raw = fcntl.fcntl(fd, get_path, b"\0" * 1024)
    except OSError:
        return None
    return os.path.realpath(raw.split(b"\0", 1)[0].decode())
