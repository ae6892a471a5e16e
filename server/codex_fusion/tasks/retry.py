"""``retry``: a way back from a dead end, for a task whose worktree still holds the work.

A task is *blocked* once its reworks are used up, *interrupted* when the server stopped while it
ran, and in *review* with a failed turn when the member's turn ended in an error (a timeout, a lost
agent, a refused login). ``retry`` sends it back to *running* in the same worktree (and the same
session where the agent can reopen it) with a **fresh rework budget**, and writes one line in the
task's history saying from where and why — the budget exists so a loop ends, and a person or Claude
starting it again on purpose is recorded, not hidden. A task in review whose turn did not fail is
reworked, not retried. Pure: the manager carries it out.
"""

from __future__ import annotations

import time

from codex_fusion.errors import TaskError
from codex_fusion.tasks import brief as prompts
from codex_fusion.tasks.record import TaskRecord
from codex_fusion.tasks.table import MAX_REWORKS, TaskEvent, TaskState, next_state
from codex_fusion.text.prompts import Brief, block


def retried_state(record: TaskRecord) -> TaskState:
    """The state a retry moves ``record`` to, or a TaskError saying what the task can do instead."""
    if record.state is TaskState.REVIEW and not record.turn_error:
        raise TaskError(
            f"Task {record.id} is in review and its turn did not fail: `rework` it with notes "
            f"({MAX_REWORKS - record.reworks} of {MAX_REWORKS} left), accept or discard it."
        )
    return next_state(record.id, record.state, TaskEvent.RETRY)


def why(record: TaskRecord) -> str:
    """Why the task stopped, as its history line says it."""
    if record.state is TaskState.BLOCKED:
        return f"blocked after {record.reworks} reworks"
    if record.state is TaskState.INTERRUPTED:
        return "interrupted by a restart"
    return f"the turn failed: {(record.turn_error or '').strip()[:160]}"


def history_line(record: TaskRecord, who: str, now: float | None = None) -> str:
    """``2026-12-07 21:40 UTC · retry by the CLI · blocked after 3 reworks; the rework budget is fresh``."""
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() if now is None else now))
    return f"{at} · retry by {who} · {why(record)}; the rework budget is fresh"


def prompt(record: TaskRecord, name: str, notes: str | None) -> Brief:
    """The task again, with what happened and what to do now (the worktree keeps the work so far)."""
    said = f"\n\nNotes:\n{notes.strip()}" if notes and notes.strip() else ""
    first = prompts.task(record.brief, name, record.base_label)
    again = block(
        "retry",
        f"This task was stopped ({why(record)}) and is now tried again. The worktree holds what was done "
        f"so far; look at it, finish the task and report.{said}",
    )
    return Brief("rework", (*first.blocks[:-1], again, prompts.REPORT), debate=False, framed=False)
