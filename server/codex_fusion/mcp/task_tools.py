"""The delegation tools, ``delegate`` and ``task``, and the ``permit`` of a task's pause (issue 20).

Kept apart from :mod:`codex_fusion.mcp.tools` (which lists them in its table) so the task machinery
(``tasks/``) meets MCP in one small place. A call waits for its task(s) up to ``wait_s`` with
progress lines, then answers with where each task is; the task goes on in the server either way.
Claude Code moves a call of over 120 s to the background and notifies the model when it ends, so
the default waits stay under that and a longer ``wait_s`` is Claude's choice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from codex_fusion.host.handles import CallTable
from codex_fusion.mcp import answers, hosted
from codex_fusion.mcp.arguments import OneOrMany
from codex_fusion.mcp.delegating import delegate_all
from codex_fusion.mcp.state import tasks_of
from codex_fusion.member import render
from codex_fusion.tasks import render as task_render
from codex_fusion.tasks.record import TaskBrief
from codex_fusion.text.redact import redact_credentials

WaitArg = Annotated[float | None, Field(ge=0, le=86_400, description="Wait for the result, s.")]


async def delegate(
    task: Annotated[str, Field(description="Self-contained.")],
    ctx: Context,
    paths: Annotated[list[str] | None, Field(description="Where it may write.")] = None,
    criteria: Annotated[list[str] | None, Field(description="Checks that say it is done.")] = None,
    constraints: str | None = None,
    base: Annotated[str | None, Field(description="Commit to start from.")] = None,
    members: Annotated[list[str] | None, OneOrMany, Field(description="One task each.")] = None,
    wait_s: WaitArg = None,
) -> str:
    council, manager = tasks_of(ctx)
    names = council.select(members) if members else [hosted.default_name(ctx, council)]
    brief = TaskBrief(task, tuple(paths or ()), tuple(criteria or ()), constraints, base)
    started, failures = await delegate_all(ctx, manager, brief, names)
    if failures and len(names) == 1:
        raise failures[0][1]
    failed = [f"✗ {render.who(name)} could not take the task: {exc}" for name, exc in failures]
    text = await answers.wait_tasks(
        ctx, manager, started, answers.DELEGATE_WAIT_S if wait_s is None else wait_s
    )
    return "\n\n".join([text, *map(redact_credentials, failed)]) if failed else text


async def task(
    id: Annotated[str, Field(description="e.g. t1")],
    action: Literal["show", "accept", "rework", "discard", "retry"],
    ctx: Context,
    notes: Annotated[str | None, Field(description="rework/retry: what to change; force: why.")] = None,
    force: Annotated[bool, Field(description="accept past failed checks")] = False,
    wait_s: WaitArg = None,
) -> str:
    if CallTable.owns(id):  # a consult answered with a handle (hosted.py)
        return await hosted.collect(ctx, id, wait_s)
    _, manager = tasks_of(ctx)
    found = manager.get(id)
    if action == "accept":
        accepted = await manager.accept(found, force=force, reason=notes)
        return redact_credentials(task_render.accepted(accepted))
    if action == "discard":
        await manager.discard(found)
        return task_render.finished(found)
    if action in ("rework", "retry"):
        if action == "retry":
            await manager.retry(found, notes)
        else:
            await manager.rework(found, notes or "")
        return await answers.wait_tasks(
            ctx, manager, [found], answers.DELEGATE_WAIT_S if wait_s is None else wait_s
        )
    return await answers.wait_tasks(ctx, manager, [found], wait_s or 0.0)
