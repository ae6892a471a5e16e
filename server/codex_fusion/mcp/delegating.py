"""``delegate`` to several members at once (issue 26 item 1): each member's copy of the workspace is
made concurrently, not one after another, and the copies' progress lines (files and bytes so far) go
out as MCP progress while they run."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from mcp.server.mcpserver import Context

from codex_fusion.errors import FusionError
from codex_fusion.mcp.progress import ProgressPump
from codex_fusion.tasks.manager import Task, TaskManager
from codex_fusion.tasks.record import TaskBrief


async def delegate_all(
    ctx: Context, manager: TaskManager, brief: TaskBrief, names: Sequence[str]
) -> tuple[list[Task], list[tuple[str, FusionError]]]:
    """One task per member in ``names``, started concurrently; the tasks in ``names``' order and the
    members that could not take it, with why."""

    async def send(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    pump = ProgressPump(send)
    pump.set_status("copying the workspace")
    lines: dict[str, str] = {}

    def hear(line: str) -> None:
        task_id, _, text = line.partition(": ")
        lines[task_id] = text
        pump.set(" · ".join(f"{k}: {v}" for k, v in lines.items()))

    results: dict[str, Task | FusionError] = {}

    async def one(name: str) -> None:
        try:
            results[name] = await manager.delegate(brief, name, progress=hear)
        except FusionError as exc:
            results[name] = exc

    async with anyio.create_task_group() as outer:
        outer.start_soon(pump.run)
        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(one, name)
        outer.cancel_scope.cancel()
    started = [found for name in names if isinstance(found := results[name], Task)]
    failed = [(name, found) for name in names if isinstance(found := results[name], FusionError)]
    return started, failed
