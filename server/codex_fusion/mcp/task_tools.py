"""The delegation tools, ``delegate`` and ``task``, and the ``permit`` of a task's pause (issue 20).

Kept apart from :mod:`codex_fusion.mcp.tools` (which lists them in its table) so the task machinery
(``tasks/``) meets MCP in one small place. A call waits for its task(s) up to ``wait_s`` with
progress lines, then answers with where each task is; the task goes on in the server either way.
Claude Code moves a call of over 120 s to the background and notifies the model when it ends, so
the default waits stay under that and a longer ``wait_s`` is Claude's choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from codex_fusion.errors import FusionError
from codex_fusion.mcp.delegating import delegate_all
from codex_fusion.mcp.progress import ProgressPump
from codex_fusion.member import render
from codex_fusion.tasks import render as task_render
from codex_fusion.tasks.manager import Task, TaskManager
from codex_fusion.tasks.record import TaskBrief
from codex_fusion.tasks.table import TaskState
from codex_fusion.text.redact import redact_credentials

if TYPE_CHECKING:
    from codex_fusion.mcp.tools import ServerState
#: How long a call waits for its task by default: under Claude Code's 120 s move to the background.
DELEGATE_WAIT_S = 100.0

WaitArg = Annotated[float | None, Field(ge=0, le=86_400, description="Wait for the result, s.")]


def _tasks(ctx: Context) -> tuple[ServerState, TaskManager]:
    from codex_fusion.mcp.tools import ServerState  # the tools' table imports this module

    state = ctx.request_context.lifespan_context
    assert isinstance(state, ServerState)
    if state.config is None:
        raise ToolError(f"codex-fusion is misconfigured: {state.config_error}. Fix the variable and restart.")
    if state.tasks is None or state.council is None:
        raise ToolError("codex-fusion is shutting down.")
    return state, state.tasks


def _error(exc: FusionError) -> ToolError:
    return ToolError(redact_credentials(str(exc)))


async def delegate(
    task: Annotated[str, Field(description="Self-contained.")],
    ctx: Context,
    paths: Annotated[list[str] | None, Field(description="Where it may write.")] = None,
    criteria: Annotated[list[str] | None, Field(description="Checks that say it is done.")] = None,
    constraints: str | None = None,
    base: Annotated[str | None, Field(description="Commit to start from.")] = None,
    members: Annotated[list[str] | None, Field(description="One task each.")] = None,
    wait_s: WaitArg = None,
) -> str:
    state, manager = _tasks(ctx)
    assert state.council is not None
    try:
        names = state.council.select(members) if members else ["codex"]
    except FusionError as exc:
        raise _error(exc) from None
    brief = TaskBrief(task, tuple(paths or ()), tuple(criteria or ()), constraints, base)
    started, failures = await delegate_all(ctx, manager, brief, names)
    if failures and len(names) == 1:
        raise _error(failures[0][1]) from None
    failed = [f"✗ {render.who(name)} could not take the task: {exc}" for name, exc in failures]
    text = await _answer(ctx, manager, started, DELEGATE_WAIT_S if wait_s is None else wait_s)
    return "\n\n".join([text, *map(redact_credentials, failed)]) if failed else text


async def task(
    id: Annotated[str, Field(description="e.g. t1")],
    action: Literal["show", "accept", "rework", "discard"],
    ctx: Context,
    notes: Annotated[str | None, Field(description="rework: what to change; force: why.")] = None,
    force: Annotated[bool, Field(description="accept past failed checks")] = False,
    wait_s: WaitArg = None,
) -> str:
    _, manager = _tasks(ctx)
    try:
        found = manager.get(id)
        if action == "accept":
            accepted = await manager.accept(found, force=force, reason=notes)
            return redact_credentials(task_render.accepted(accepted))
        if action == "discard":
            await manager.discard(found)
            return task_render.finished(found)
        if action == "rework":
            await manager.rework(found, notes or "")
            return await _answer(ctx, manager, [found], DELEGATE_WAIT_S if wait_s is None else wait_s)
    except FusionError as exc:
        raise _error(exc) from None
    return await _answer(ctx, manager, [found], wait_s or 0.0)


async def permit_task(
    ctx: Context,
    manager: TaskManager,
    found: Task,
    decision: Literal["allow", "deny", "cancel"],
    note: str | None,
    request: str | None,
) -> str:
    """``permit`` for a request a task's member holds: answered, then the task is waited for."""
    try:
        await manager.permit(found, decision, note, request)
    except FusionError as exc:
        raise _error(exc) from None
    return await _answer(ctx, manager, [found], DELEGATE_WAIT_S)


async def _answer(ctx: Context, manager: TaskManager, tasks: Sequence[Task], wait_s: float) -> str:
    """Wait up to ``wait_s`` for ``tasks`` to settle, with progress; then where each one is."""
    if wait_s > 0 and any(not t.settled for t in tasks):

        async def send(progress: float, message: str) -> None:
            await ctx.report_progress(progress, None, message)

        pump = ProgressPump(send)
        pump.set_status(f"{', '.join(t.id for t in tasks)} running")
        lines: dict[str, str] = {}

        def listener(task_id: str) -> Callable[[str], None]:
            def hear(line: str) -> None:
                lines[task_id] = line
                pump.set(" · ".join(f"{k}: {v}" for k, v in lines.items()))

            return hear

        for t in tasks:
            t.listener = listener(t.id)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                async with anyio.create_task_group() as waits:
                    for t in tasks:
                        waits.start_soon(manager.wait, t, wait_s)
                tg.cancel_scope.cancel()
        finally:
            for t in tasks:
                t.listener = None
    limit = max(4_000, manager.config.max_answer_chars // 2 // max(1, len(tasks)))
    return "\n\n".join([await _text(manager, t, limit) for t in tasks])


async def _text(manager: TaskManager, found: Task, limit: int) -> str:
    state = found.state
    if state is TaskState.RUNNING and found.pause is not None:
        pause = found.pause
        shown = render.pause(dataclasses.replace(pause, text_so_far=redact_credentials(pause.text_so_far)))
        return task_render.paused(found, pause, shown)
    if state is TaskState.RUNNING:
        return redact_credentials(task_render.running(found))
    if state in (TaskState.REVIEW, TaskState.BLOCKED):
        summary, patch = await manager.texts(found, limit)
        # The patch is shown byte for byte (it is what accept writes; a credential in it is a failed
        # check); the member's report is redacted as every answer is.
        return task_render.review(found, redact_credentials(summary), patch, limit, manager.patch_path(found))
    if state is TaskState.INTERRUPTED:
        return task_render.interrupted(found)
    return task_render.finished(found)
