"""What a tool answers: a member's result, a council round, a task — as the text the host reads.

Claude's transcript is kept on disk, so what it reads carries no credentials (ADR 0014) — except a
paused request, shown byte for byte (what Claude approves is what runs; a credential in it is named
next to it instead). An answer over the output budget is cut, and saved whole to a private file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import anyio
from mcp.server.mcpserver import Context

from codex_fusion.council import render as council_render
from codex_fusion.council.result import CouncilResult
from codex_fusion.launch.config import Config
from codex_fusion.mcp import progress
from codex_fusion.mcp.boundary import with_progress
from codex_fusion.mcp.ports import TaskDesk
from codex_fusion.mcp.progress import ProgressPump
from codex_fusion.member import render
from codex_fusion.member.turn import Pause, TurnOutcome, TurnResult
from codex_fusion.tasks import render as task_render
from codex_fusion.tasks.table import TaskState
from codex_fusion.tasks.task import Task
from codex_fusion.text import overflow
from codex_fusion.text.redact import redact_credentials

log = logging.getLogger(__name__)

#: How long a call waits for its task by default: under Claude Code's 120 s move to the background.
DELEGATE_WAIT_S = 100.0


async def result(value: TurnResult | CouncilResult, config: Config) -> str:
    """A member's pause or outcome, or a council round (a permit can complete a council seat)."""
    if isinstance(value, CouncilResult):
        return await council(value, config)
    if isinstance(value, Pause):  # finished turns are logged once, by the member
        log.info("paused for permit after %.1fs: %s", value.elapsed, value.summary)
        return pause(value)
    saved = None
    if len(value.text) > config.max_answer_chars:
        value, saved = await fit(value, config)
    return redact_credentials(render.outcome(value, saved))


def pause(value: Pause) -> str:
    """The request byte for byte; only what the member said so far is redacted."""
    return render.pause(dataclasses.replace(value, text_so_far=redact_credentials(value.text_so_far)))


async def fit(
    outcome: TurnOutcome, config: Config, limit: int | None = None
) -> tuple[TurnOutcome, render.Saved]:
    """Cut an answer to Claude's budget (or ``limit``); the whole of it goes to a private file, redacted
    as what Claude reads is (Claude reads that file when it needs the rest)."""
    whole = redact_credentials(outcome.text)
    shown = overflow.cut(whole, config.max_answer_chars if limit is None else limit)
    where = "(not saved: codex-fusion has no data directory; set CLAUDE_PLUGIN_DATA or HOME)"
    if config.state_dir is not None:
        try:
            where = str(await anyio.to_thread.run_sync(overflow.save, whole, config.state_dir))
        except OSError as exc:
            log.warning("cannot save a long answer: %s", exc)
            where = f"(not saved: {exc})"
    return dataclasses.replace(outcome, text=shown), render.Saved(where, len(shown), len(whole))


async def council(value: CouncilResult, config: Config) -> str:
    """The round's text, each member's answer cut to its share of the output budget (saved whole)."""
    share = max(config.max_answer_chars // max(len(value.seats), 1), 4_000)
    seats, saved = [], {}
    for seat in value.seats:
        answer = seat.answer
        if isinstance(answer, TurnOutcome) and len(answer.text) > share:
            answer, saved[seat.name] = await fit(answer, config, share)
        elif isinstance(answer, Pause):  # the request byte for byte; only what was said so far is redacted
            answer = dataclasses.replace(answer, text_so_far=redact_credentials(answer.text_so_far))
        seats.append(dataclasses.replace(seat, answer=answer))
    shown = dataclasses.replace(value, seats=tuple(seats))
    return council_render.council(shown, saved, clean=redact_credentials)


async def task(manager: TaskDesk, found: Task, limit: int) -> str:
    """Where a delegated task is: its pause, its progress, its review (patch and report), or its end."""
    state = found.state
    if state is TaskState.RUNNING and found.pause is not None:
        return task_render.paused(found, found.pause, pause(found.pause))
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


async def wait_tasks(ctx: Context, manager: TaskDesk, tasks: Sequence[Task], wait_s: float) -> str:
    """Wait up to ``wait_s`` for ``tasks`` to settle, with progress; then where each one is."""
    if wait_s > 0 and any(not t.settled for t in tasks):

        async def step(pump: ProgressPump) -> None:
            pump.follow(lambda _final: progress.tasks_line(tasks))
            async with anyio.create_task_group() as waits:
                for t in tasks:
                    waits.start_soon(manager.wait, t, wait_s)

        status = f"{', '.join(t.id for t in tasks)} running"
        await with_progress(ctx, step, status=status, changes=manager.changes)
    limit = max(4_000, manager.config.max_answer_chars // 2 // max(1, len(tasks)))
    return "\n\n".join([await task(manager, t, limit) for t in tasks])
