"""Listing, measuring and copying the working tree for a task, off the event loop and within bounds
(issue 25 items 2 and 6, issue 26 item 1): the async side of :mod:`codex_fusion.tasks.copying`.

The listing is git's (``ls-files --cached --others --exclude-standard``, run locked down); a listing
that stalls — git blocked opening a FIFO the tree names ``.gitignore`` — fails within seconds, naming
the file. Everything listed is measured by ``lstat`` before a byte is written, and an over-limit
workspace is refused then, saying how to narrow it. The copy runs in a few threads, with a progress
line every half second.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

import anyio

from codex_fusion.errors import DiffError, TaskError
from codex_fusion.review.diffs.git import Git
from codex_fusion.tasks import copying

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


async def plan(ws: Git, workspace: Path, paths: Sequence[str]) -> tuple[copying.Plan, bool]:
    """What to copy, measured; over a limit, only what lies under ``paths`` (when given)."""
    listed = await listing(ws, workspace)
    try:
        return await _measured(workspace, listed), False
    except copying.TooLarge as exc:
        if not paths:
            raise too_large(str(exc)) from None
    narrowed = await listing(ws, workspace, paths)
    try:
        return await _measured(workspace, narrowed), True
    except copying.TooLarge as exc:
        raise too_large(f"{exc}, even only under `paths`") from None


async def _measured(workspace: Path, listed: Sequence[bytes]) -> copying.Plan:
    """Every listed path measured, by a few threads over contiguous runs (``lstat`` waits on the
    filesystem, not on Python); :class:`copying.TooLarge` past a limit."""
    if len(listed) > MAX_FILES:
        raise copying.TooLarge(f"{len(listed):,} files")
    source = os.fsencode(workspace)
    size = -(-len(listed) // copying.WORKERS)
    parts: dict[int, copying.Plan] = {}
    over: list[copying.TooLarge] = []

    async def one(index: int) -> None:
        run = listed[index * size : (index + 1) * size]
        try:
            parts[index] = await anyio.to_thread.run_sync(copying.measure, source, run, MAX_BYTES)
        except copying.TooLarge as exc:
            over.append(exc)

    async with anyio.create_task_group() as group:
        for index in range(copying.WORKERS):
            group.start_soon(one, index)
    if over:
        raise over[0]
    plan = copying.Plan([], 0, [])
    for index in sorted(parts):
        plan.entries += parts[index].entries
        plan.size += parts[index].size
        plan.skipped += parts[index].skipped
    if plan.size > MAX_BYTES:
        raise copying.TooLarge(f"{plan.size / (1 << 30):,.1f} GiB")
    return plan


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
    return sorted({p for p in listed.stdout.split(b"\0") if p})


async def copy_concurrently(
    workspace: Path, target: copying.Target, plan: copying.Plan, progress: Callable[[str], None] | None
) -> copying.Copied:
    """The plan copied by a few threads at once, with a progress line every half second."""
    shared = copying.Progress(limit=MAX_BYTES)
    done: list[copying.Copied] = []
    source = os.fsencode(workspace)

    failed: list[Exception] = []

    async def worker(run: Sequence[copying.Entry]) -> None:
        try:
            done.append(await anyio.to_thread.run_sync(copying.copy, source, target, run, shared))
        except Exception as exc:  # the first one is raised alone below, not as a group
            failed.append(exc)
            shared.stop = True  # the other threads stop at their next file

    async def report() -> None:
        while progress is not None:
            await anyio.sleep(PROGRESS_S)
            progress(f"copying the workspace: {shared.files:,} of {len(plan.entries):,} files, "
                     f"{shared.size / 1e6:,.0f} of {plan.size / 1e6:,.0f} MB")  # fmt: skip

    try:
        async with anyio.create_task_group() as outer:
            outer.start_soon(report)
            async with anyio.create_task_group() as workers:
                for run in copying.runs(plan.entries, copying.WORKERS):
                    workers.start_soon(worker, run)
            outer.cancel_scope.cancel()
    except BaseException:
        shared.stop = True
        raise
    if failed:
        if isinstance(failed[0], OSError):
            raise TaskError(f"The workspace could not be copied ({failed[0]}); delegate again.") from None
        raise failed[0]
    merged = copying.Copied()
    for part in done:
        merged.blobs += part.blobs
        merged.files += part.files
        merged.size += part.size
        merged.skipped += part.skipped
    merged.blobs.sort()
    return merged


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
