"""``delegate`` to several members at once (issue 26 item 1): each member's copy of the workspace is
made concurrently, not one after another, and the copies' progress lines (files and bytes so far) go
out as MCP progress while they run, read from the tasks being copied."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from mcp.server.mcpserver import Context

from codex_fusion.errors import FusionError
from codex_fusion.mcp import progress
from codex_fusion.mcp.boundary import with_progress
from codex_fusion.mcp.ports import TaskDesk
from codex_fusion.mcp.progress import ProgressPump
from codex_fusion.tasks.record import TaskBrief
from codex_fusion.tasks.task import Task

Started = tuple[list[Task], list[tuple[str, FusionError]]]


async def delegate_all(ctx: Context, manager: TaskDesk, brief: TaskBrief, names: Sequence[str]) -> Started:
    """One task per member in ``names``, started concurrently; the tasks in ``names``' order and the
    members that could not take it, with why."""
    results: dict[str, Task | FusionError] = {}

    async def one(name: str) -> None:
        try:
            results[name] = await manager.delegate(brief, name)
        except FusionError as exc:
            results[name] = exc

    async def step(pump: ProgressPump) -> None:
        pump.follow(lambda _final: progress.tasks_line(list(manager.copying.values())))
        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(one, name)

    await with_progress(ctx, step, status="copying the workspace", changes=manager.changes)
    started = [found for name in names if isinstance(found := results[name], Task)]
    failed = [(name, found) for name in names if isinstance(found := results[name], FusionError)]
    return started, failed
