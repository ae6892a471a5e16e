"""Loose objects of a task's repository, written without git (issue 26 item 1): a blob the copy has
already hashed is stored as an uncompressed loose object (zlib level 0: the task's repository never
ships anything), beside its place and then renamed in, private, never through a link.

Standard library only: the copy's worker processes (:mod:`codex_fusion.tasks.copyproc`) import it,
and each import there is start-up time of a process.
"""

from __future__ import annotations

import os
import secrets
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from codex_fusion.tasks.handles import O_CLOEXEC


def write_loose(git_dir: Path, oid: str, data: bytes) -> None:
    """``data`` (a blob's header and content) as an uncompressed loose object, unless it exists."""
    _place(git_dir, oid, [data])


def write_file_blob(git_dir: Path, oid: str, fd: int, size: int) -> None:
    """The blob of the copy's open file ``fd`` (``size`` bytes, already hashed to ``oid``), streamed."""

    def chunks() -> Iterator[bytes]:
        yield b"blob %d\0" % size
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            yield chunk
            offset += len(chunk)

    _place(git_dir, oid, chunks())


def _place(git_dir: Path, oid: str, parts: Iterable[bytes]) -> None:
    """Write loose object ``oid`` from ``parts`` (stored, level 0) beside its place, then rename it
    in; nothing when it exists. Private, never through a link."""
    directory = git_dir / "objects" / oid[:2]
    final = directory / oid[2:]
    if os.path.lexists(final):
        return
    os.makedirs(directory, 0o700, exist_ok=True)
    temporary = directory / f"tmp-{secrets.token_hex(6)}"
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_CLOEXEC, 0o400)
    try:
        packer = zlib.compressobj(0)
        for part in parts:
            os.write(out, packer.compress(part))
        os.write(out, packer.flush())
    finally:
        os.close(out)
    os.replace(temporary, final)
