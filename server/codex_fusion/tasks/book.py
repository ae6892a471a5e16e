"""The tasks of this server as a book to read: find one, the open ones, the one holding a paused
request, a task's texts from disk, waiting for one to settle, which other tasks overlap an accepted
patch. The operations that change tasks are :class:`~codex_fusion.tasks.manager.TaskManager`'s."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import anyio

from codex_fusion.errors import TaskError
from codex_fusion.guardian.permissions import parse_ref
from codex_fusion.launch.config import Config
from codex_fusion.tasks.store import MAX_SUMMARY_CHARS, PATCH, SUMMARY, TaskStore
from codex_fusion.tasks.table import TERMINAL, TaskState
from codex_fusion.tasks.task import Task


class TaskBook:
    def __init__(self, config: Config, store: TaskStore | None) -> None:
        self.config = config
        self._store = store
        self.tasks: dict[str, Task] = {}

    # -- reading ---------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        task = self.tasks.get(task_id.strip().lower())
        if task is None:
            known = ", ".join(self.tasks) or "none"
            raise TaskError(f"No task {task_id!r} in this workspace (tasks: {known}). `status` lists them.")
        return task

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.state not in TERMINAL]

    def holder(self, request: str | None) -> Task | None:
        """The task whose member holds the paused request ``request`` (or the only paused one)."""
        paused = [t for t in self.tasks.values() if t.pause is not None]
        wanted = parse_ref(request)
        if wanted is not None:
            return next(
                (t for t in paused if t.pause is not None and t.pause.request.request_id == wanted), None
            )
        return paused[0] if len(paused) == 1 else None

    def paused(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.pause is not None]

    async def texts(self, task: Task, limit: int) -> tuple[str, str]:
        """The member's summary and the first ``limit`` characters of the patch (from disk if needed)."""
        if self._store is not None and (task.summary is None or task.patch is None):
            store = self._store
            summary = await anyio.to_thread.run_sync(store.read_text, task.id, SUMMARY, 4 * MAX_SUMMARY_CHARS)
            patch = await anyio.to_thread.run_sync(store.read_text, task.id, PATCH, 4 * limit + 4)
            task.summary = task.summary if task.summary is not None else summary or ""
            task.patch = task.patch if task.patch is not None else patch or ""
        return task.summary or "", (task.patch or "")[: limit + 1]

    def patch_path(self, task: Task) -> Path:
        return task.directory / PATCH

    async def wait(self, task: Task, seconds: float) -> None:
        """Until the task settles (review, paused, …) or ``seconds`` pass; the task goes on either way."""
        with anyio.move_on_after(seconds):
            while True:
                event = task.changed
                if task.settled:
                    return
                await event.wait()

    def _overlaps(
        self, accepted: Task, paths: Iterable[str]
    ) -> tuple[tuple[tuple[str, str, tuple[str, ...]], ...], tuple[str, ...]]:
        mine = set(paths)
        overlaps = []
        running = []
        for other in self.open_tasks():
            if other is accepted:
                continue
            if other.state in (TaskState.RUNNING, TaskState.INTERRUPTED):
                running.append(other.id)
                continue
            common = tuple(sorted(mine & {c.path for c in other.record.files}))
            if common:
                overlaps.append((other.id, other.state.value, common))
        return tuple(overlaps), tuple(running)
