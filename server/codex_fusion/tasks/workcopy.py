"""Listing, measuring and copying the working tree for a task, off the event loop and within bounds
(issue 25 items 2 and 6, issue 26 item 1): the async side of :mod:`codex_fusion.tasks.copying`.

The listing is git's (``ls-files --cached --others --exclude-standard``, run locked down); a listing
that stalls — git blocked opening a FIFO the tree names ``.gitignore`` — fails within seconds, naming
the file. Everything listed is measured by ``lstat`` before a byte is written, and an over-limit
workspace is refused then, saying how to narrow it. Measuring and copying run in worker processes
(:mod:`codex_fusion.tasks.copyproc`, ADR 0029): each measures a contiguous run of the listing, waits
while the sizes are added up here, then copies that run; a progress line every half second.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from codex_fusion.errors import DiffError, TaskError
from codex_fusion.review.diffs.git import Git
from codex_fusion.tasks import copying
from codex_fusion.tasks.copyproc import BOOT, HEADER, encode

#: Bounds on the copy; a larger workspace is refused before anything is copied.
MAX_FILES: Final = 250_000
MAX_BYTES: Final = 4 << 30
#: git's listing of the working tree: longer means it is blocked (a FIFO), not slow.
LIST_TIMEOUT_S: Final = 60.0
#: A listing still running after this is checked for such a FIFO.
STALL_S: Final = 2.0
#: How long the search for that FIFO may take, and how often the copy reports progress.
SCAN_S: Final = 3.0
PROGRESS_S: Final = 0.5
#: Worker processes of the copy: at most two per core (as many runnable as the four threads before:
#: on a loaded machine each gets its share), and one per so many files.
MAX_WORKERS: Final = 4
FILES_PER_WORKER: Final = 250
#: A message this large is decoded in a worker thread, off the event loop.
BIG_MESSAGE: Final = 1 << 20


async def plan(ws: Git, workspace: Path, paths: Sequence[str]) -> tuple[Measured, bool]:
    """What to copy, measured by the workers that will copy it (close it: :meth:`Measured.close`);
    over a limit, only what lies under ``paths`` (when given)."""
    listed = await listing(ws, workspace)
    try:
        return await measure(workspace, listed), False
    except copying.TooLarge as exc:
        if not paths:
            raise too_large(str(exc)) from None
    narrowed = await listing(ws, workspace, paths)
    try:
        return await measure(workspace, narrowed), True
    except copying.TooLarge as exc:
        raise too_large(f"{exc}, even only under `paths`") from None


@dataclass
class Worker:
    """One copy worker process (:mod:`codex_fusion.tasks.copyproc`) and its run of the listing."""

    process: Process
    reader: BufferedByteReceiveStream
    paths: Sequence[bytes]
    files: int = 0
    size: int = 0
    skipped: list[str] = field(default_factory=list)
    copied: tuple[int, int] = (0, 0)  # files and bytes so far

    async def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        data = await anyio.to_thread.run_sync(encode, message)
        try:
            await self.process.stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise await self._ended() from None

    async def receive(self) -> Any:
        try:
            (size,) = HEADER.unpack(await self.reader.receive_exactly(HEADER.size))
            data = await self.reader.receive_exactly(size)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            raise await self._ended() from None
        # our own worker's messages (the workspace's bytes only ever as values)
        if size > BIG_MESSAGE:
            return await anyio.to_thread.run_sync(marshal.loads, data)
        return marshal.loads(data)  # noqa: S302

    async def _ended(self) -> TaskError:
        return TaskError(f"A copy worker ended unexpectedly ({await self._why()}); delegate again.")

    async def _why(self) -> str:
        with anyio.move_on_after(2):
            code = await self.process.wait()
            assert self.process.stderr is not None
            tail = b""
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                while len(tail) < 1 << 16:
                    tail += await self.process.stderr.receive()
            return f"exit status {code}: {tail.decode(errors='replace').strip()[-300:]}"
        return "no exit status"


@dataclass
class Measured:
    """The listing, measured by the worker processes that will copy it; they wait for
    :meth:`copy`, and :meth:`close` (always call it) ends them, having written nothing unless copied."""

    workers: list[Worker]
    files: int = 0
    size: int = 0
    skipped: list[str] = field(default_factory=list)

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            for worker in self.workers:
                if worker.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
            for worker in self.workers:
                await worker.process.aclose()

    async def copy(self, target: copying.Target, progress: Callable[[str], None] | None) -> copying.Copied:
        """Every worker copies its run into ``target``, with a progress line every half second."""
        slack = max(MAX_BYTES - self.size, 0) // max(len(self.workers), 1)  # a file that grows
        parts: list[copying.Copied] = [copying.Copied() for _ in self.workers]
        failed: list[BaseException] = []

        async def one(index: int, worker: Worker) -> None:
            def go() -> tuple[bytes, bytes, bool, int, dict[bytes, str]]:
                known = {p: target.known[p] for p in worker.paths if p in target.known}
                return target.tree, os.fsencode(target.git_dir), target.sha256, worker.size + slack, known

            try:
                await worker.send(await anyio.to_thread.run_sync(go))
                parts[index] = await _copied(worker)
            except Exception as exc:  # the first one is raised alone below, not as a group
                failed.append(exc)
                group.cancel_scope.cancel()

        async def report() -> None:
            while progress is not None:
                await anyio.sleep(PROGRESS_S)
                files, size = (sum(w.copied[i] for w in self.workers) for i in (0, 1))
                progress(f"copying the workspace: {files:,} of {self.files:,} files, "
                         f"{size / 1e6:,.0f} of {self.size / 1e6:,.0f} MB")  # fmt: skip

        async with anyio.create_task_group() as group:
            group.start_soon(report)
            async with anyio.create_task_group() as workers:
                for index, worker in enumerate(self.workers):
                    workers.start_soon(one, index, worker)
            group.cancel_scope.cancel()
        if failed:
            raise failed[0]
        merged = copying.Copied()
        for part in parts:  # contiguous runs of the sorted listing, in order: sorted
            merged.blobs += part.blobs
            merged.files += part.files
            merged.size += part.size
            merged.skipped += part.skipped
        return merged


async def _copied(worker: Worker) -> copying.Copied:
    while True:
        message = await worker.receive()
        if message[0] == "progress":
            worker.copied = (message[1], message[2])
        elif message[0] == "done":
            return copying.Copied(message[1], message[2], message[3], message[4])
        else:
            raise _failure(message)


def _failure(message: Any) -> TaskError:
    kind, why = message[0], message[1] if len(message) > 1 else ""
    if kind == "over":
        return TaskError(
            f"The workspace grew past the copy's limit while it was copied ({why}); delegate again, "
            "narrowed with `paths`, a subdirectory or `base`."
        )
    if kind == "failed":
        return TaskError(f"The workspace could not be copied ({why}); delegate again.")
    return TaskError(f"The copy failed unexpectedly (a bug in codex-fusion):\n{why}")


async def measure(workspace: Path, listed: Sequence[bytes]) -> Measured:
    """Every listed path measured (``lstat`` through handles) by the worker processes that will copy
    it; :class:`copying.TooLarge` past a limit, with every worker ended, nothing written."""
    if len(listed) > MAX_FILES:
        raise copying.TooLarge(f"{len(listed):,} files")
    count = max(1, min(MAX_WORKERS, 2 * (os.cpu_count() or 1), -(-len(listed) // FILES_PER_WORKER)))
    share = -(-len(listed) // count)
    runs = [listed[i * share : (i + 1) * share] for i in range(count)]
    measured = Measured([])
    try:
        for run in runs:
            measured.workers.append(await _spawn(run))
        over: list[str] = []
        failed: list[Exception] = []

        async def one(worker: Worker) -> None:
            try:
                await worker.send((os.fsencode(workspace), worker.paths, MAX_BYTES))
                message = await worker.receive()
            except Exception as exc:  # raised alone below, not as a group
                failed.append(exc)
                return
            if message[0] == "over":
                over.append(message[1])
            elif message[0] != "measured":
                failed.append(_failure(message))
            else:
                worker.files, worker.size, worker.skipped = message[1], message[2], message[3]

        async with anyio.create_task_group() as group:
            for worker in measured.workers:
                group.start_soon(one, worker)
        if over:
            raise copying.TooLarge(over[0])
        if failed:
            raise failed[0]
        for worker in measured.workers:
            measured.files += worker.files
            measured.size += worker.size
            measured.skipped += worker.skipped
        if measured.size > MAX_BYTES:
            raise copying.TooLarge(f"{measured.size / (1 << 30):,.1f} GiB")
    except BaseException:
        await measured.close()
        raise
    return measured


async def _spawn(paths: Sequence[bytes]) -> Worker:
    """A worker process: this interpreter, isolated (``-I``), the server's own modules on its path."""
    path = json.dumps([p for p in sys.path if os.path.isabs(p)])
    process = await anyio.open_process(
        [sys.executable, "-I", "-c", BOOT, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
    )
    assert process.stdout is not None
    return Worker(process, BufferedByteReceiveStream(process.stdout), paths)


async def listing(ws: Git, workspace: Path, paths: Sequence[str] = ()) -> list[bytes]:
    """What git lists in the working tree (tracked and untracked, not ignored), sorted. A listing
    that stalls — git blocked opening a FIFO the tree names ``.gitignore`` — fails within seconds:
    after :data:`STALL_S` the tree is searched for such a file, and one found ends the wait."""
    quick = replace(ws, deadline=min(ws.deadline, anyio.current_time() + LIST_TIMEOUT_S))
    found: list[str] = []
    listed = None
    try:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                await anyio.sleep(STALL_S)
                found.extend(await anyio.to_thread.run_sync(_special_files, workspace))
                if found:
                    group.cancel_scope.cancel()

            group.start_soon(watch)
            listed = await quick.run(
                "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths
            )
            group.cancel_scope.cancel()
    except DiffError as exc:
        found.extend(await anyio.to_thread.run_sync(_special_files, workspace))
        if not found:
            raise TaskError(f"Cannot copy the workspace for a task: {exc}") from None
    if listed is None or found:
        raise TaskError(
            f"git cannot list the workspace: {', '.join(found[:5])} is a FIFO or other special file where "
            "git reads its ignore rules, and git waits on it. Remove it or make it a regular file, or "
            "delegate with `base` (a commit's tree: git then reads no ignore files)."
        )
    return await anyio.to_thread.run_sync(_sorted, listed.stdout)  # 200k paths: off the event loop


def _sorted(listed: bytes) -> list[bytes]:
    return sorted({p for p in listed.split(b"\0") if p})


def _special_files(workspace: Path) -> list[str]:
    """Ignore files that are not regular files (a FIFO git would block on), found within a bound."""
    found: list[str] = []
    deadline = time.monotonic() + SCAN_S
    stack = [os.fsencode(workspace)]
    while stack and time.monotonic() < deadline and len(found) < 5:
        top = stack.pop()
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != b".git":
                            stack.append(entry.path)
                    elif entry.name in (b".gitignore", b".gitattributes") and not (
                        entry.is_file(follow_symlinks=False) or entry.is_symlink()
                    ):
                        found.append(os.fsdecode(os.path.relpath(entry.path, os.fsencode(workspace))))
        except OSError:
            continue
    for name in ("info/exclude", "info/attributes"):
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(os.lstat(workspace / ".git" / name).st_mode):
                found.append(f".git/{name}")
    return found


def too_large(what: str) -> TaskError:
    return TaskError(
        f"The workspace is too large to copy for a task ({what}; the limit is {MAX_FILES:,} files and "
        f"{MAX_BYTES >> 30:,} GiB, files git ignores not counted); nothing was copied. Narrow it: start "
        "Claude in the subdirectory the change needs (only it is copied), or name the directories the "
        "change needs in `paths` (over the limit, only the files under them are copied), or pass `base` "
        "to copy a commit's tree instead of your working tree, or add build output to .gitignore."
    )
