"""Keeping the turn log (``CODEX_FUSION_LOG``) bounded: size-capped, a few generations kept.

Before a line is appended, a log that would grow past :data:`MAX_BYTES` is renamed to ``<log>.1``
(``.1`` to ``.2``, and so on; the oldest, ``.<GENERATIONS>``, is dropped), so the log and its
generations never hold much more than ``(GENERATIONS + 1) × MAX_BYTES``. The next append creates a
fresh log, private (0600) as :func:`codex_fusion.hookside.private.append` makes every log.

The renames happen inside the log's directory, opened once (``dir_fd``), and only a regular file
of ours is ever moved: a symlink, a FIFO or another user's file named like a generation is left
alone, and the rotation gives up (the append then says what is wrong, as it does today). Written
by hand rather than with :class:`logging.handlers.RotatingFileHandler`, which follows links and
knows nothing of the checks ``private.append`` makes (ADR 0025).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

#: A log past this size is rotated before the next line (8 MiB: ~30,000 turns at ~260 B).
MAX_BYTES = 8 * 1024 * 1024
#: Rotated generations kept beside the log (``<log>.1`` is the newest).
GENERATIONS = 3

_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def rotate_if_full(
    path: Path, adding: int, max_bytes: int | None = None, generations: int | None = None
) -> bool:
    """Rotate ``path`` when appending ``adding`` more bytes would take it past ``max_bytes``.

    Returns True when it rotated. Never raises: a log that cannot be rotated is appended to as
    before, and the append reports what keeps it from being written."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    generations = GENERATIONS if generations is None else generations
    if not (_O_DIRECTORY and os.rename in os.supports_dir_fd and os.stat in os.supports_dir_fd):
        return _rotate(os.fspath(path), adding, max_bytes, generations, None)  # by path (Windows)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError:
        return False
    try:
        return _rotate(path.name, adding, max_bytes, generations, dir_fd)
    finally:
        os.close(dir_fd)


def _ours(info: os.stat_result) -> bool:
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    return stat.S_ISREG(info.st_mode) and euid in (None, info.st_uid)


def _rotate(name: str, adding: int, max_bytes: int, generations: int, dir_fd: int | None) -> bool:
    def lstat(entry: str) -> os.stat_result | None:
        try:
            return os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return None

    info = lstat(name)
    if info is None or not _ours(info) or info.st_size + adding <= max_bytes:
        return False
    names = [name] + [f"{name}.{number}" for number in range(1, generations + 1)]
    for older in names[1:]:
        found = lstat(older)
        if found is not None and not _ours(found):
            return False  # a link or a stranger's file where a generation goes: touch nothing
    with contextlib.suppress(OSError):
        os.unlink(names[-1], dir_fd=dir_fd)
    try:
        for newer, older in zip(reversed(names[:-1]), reversed(names[1:]), strict=True):
            if lstat(newer) is not None:
                os.rename(newer, older, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        return False
    return True
