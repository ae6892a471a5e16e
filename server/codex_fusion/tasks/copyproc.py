"""One worker process of the task's copy (issue 26 item 1, ADR 0029).

The copy is Python's system calls and hashing, file by file; in threads they queue on one
interpreter lock (four threads copied small files up to 3× slower than one), so each worker is a
process of its own, started by :mod:`codex_fusion.tasks.workcopy` with the server's interpreter
(``python -I``: no environment variable, no directory of the workspace on its path). A worker takes a
contiguous run of the sorted listing and talks over its stdin and stdout in
:func:`encode`\\ d messages:

1. in ``(workspace, paths, max_bytes)`` → it measures them (:func:`copying.measure`, ``lstat`` through
   handles) and answers ``("measured", files, bytes, skipped)``, or ``("over", why)``;
2. in ``(tree, git_dir, sha256, limit, known)`` — only once every worker's sizes were added up and
   found within the limits; the end of its stdin instead means "refused": it exits having written
   nothing — → it copies and hashes its run, with ``("progress", files, bytes)`` as it goes and
   ``("done", blobs, files, bytes, skipped)`` at the end; or ``("over", why)`` past ``limit`` (a file
   that grew), ``("failed", why)`` for an I/O error, ``("bug", traceback)``.

Standard library only (with :mod:`~codex_fusion.tasks.copying`, :mod:`~codex_fusion.tasks.handles`,
:mod:`~codex_fusion.tasks.loose`): each module imported here is start-up time of every worker.
"""

from __future__ import annotations

import marshal
import os
import struct
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final

from codex_fusion.tasks import copying

HEADER: Final = struct.Struct("<Q")
#: A progress message after at most this many files or bytes.
BATCH_FILES: Final = 2_000
BATCH_BYTES: Final = 32 << 20
#: ``python -I -c BOOT <sys.path as JSON>``: the server's own modules, nothing of the workspace's.
BOOT: Final = (
    "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "from codex_fusion.tasks.copyproc import main; main()"
)


def encode(message: Any) -> bytes:
    """One message: its length, then ``marshal`` (both ends are this module, same interpreter)."""
    data = marshal.dumps(message)
    return HEADER.pack(len(data)) + data


def receive(stream: BinaryIO) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = stream.read(size)
    return marshal.loads(data) if len(data) == size else None  # noqa: S302 - our parent's own


def main() -> None:
    out = sys.stdout.buffer

    def send(message: Any) -> None:
        out.write(encode(message))
        out.flush()

    try:
        work(sys.stdin.buffer, send)
    except copying.TooLarge as exc:
        send(("over", str(exc)))
    except (copying.Changed, OSError) as exc:
        send(("failed", str(exc)))
    except Exception:  # a bug: the parent raises it with this traceback
        send(("bug", traceback.format_exc()))


def work(inp: BinaryIO, send: Callable[[Any], None]) -> None:
    job = receive(inp)
    if job is None:
        return
    workspace, paths, max_bytes = job
    plan = copying.measure(workspace, paths, max_bytes)
    send(("measured", len(plan.entries), plan.size, plan.skipped))
    go = receive(inp)
    if go is None:
        return  # refused, or the call was cancelled: nothing was written
    tree, git_dir, sha256, limit, known = go
    target = copying.Target(tree, Path(os.fsdecode(git_dir)), known, sha256)
    progress = copying.Progress(limit=limit)
    blobs: list[tuple[bytes, str, str]] = []
    skipped: list[str] = []
    for run in batches(plan.entries):
        done = copying.copy(workspace, target, run, progress)
        blobs += done.blobs
        skipped += done.skipped
        send(("progress", progress.files, progress.size))
    send(("done", blobs, progress.files, progress.size, skipped))


def batches(entries: Sequence[copying.Entry]) -> Iterator[Sequence[copying.Entry]]:
    """``entries`` in runs of at most :data:`BATCH_FILES` files or :data:`BATCH_BYTES` bytes."""
    start = taken = 0
    for index, entry in enumerate(entries):
        taken += entry.size
        if index + 1 - start >= BATCH_FILES or taken >= BATCH_BYTES:
            yield entries[start : index + 1]
            start, taken = index + 1, 0
    if start < len(entries):
        yield entries[start:]
