"""The end of a task's turn: the patch as ``base → tree``, its checks, and the move to review.

Runs in the task's driver task (``host.py``) once the member's turn has ended; every move is saved
to disk at once (``store.py``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anyio

from codex_fusion.errors import FusionError
from codex_fusion.member.turn import TurnOutcome, TurnResult
from codex_fusion.tasks import gitrun, patchset
from codex_fusion.tasks.checks import check_patch
from codex_fusion.tasks.record import Finding
from codex_fusion.tasks.store import MAX_SUMMARY_CHARS, PATCH, SUMMARY, TaskStore
from codex_fusion.tasks.table import TaskEvent, TaskState, next_state
from codex_fusion.tasks.task import Task
from codex_fusion.text.redact import credentials_in

log = logging.getLogger(__name__)

#: Bound on git's work for one copy or patch (a hang detector).
GIT_TIMEOUT_S = 300.0


async def settle(store: TaskStore, task: Task, result: TurnResult | None, failure: str | None) -> None:
    """A task's turn ended: compute its patch in the worktree, run the checks, save the report and
    move the task to review (unless it was discarded meanwhile)."""
    async with task.busy:
        record = task.record
        if record.state is not TaskState.RUNNING:
            return  # discarded meanwhile
        task.pause = None
        answer = result.text if isinstance(result, TurnOutcome) else ""
        if isinstance(result, TurnOutcome) and result.stop_reason not in ("end_turn", ""):
            failure = failure or f"it stopped: {result.stop_reason}"
        if task.consultant is not None:
            record.session_id = task.consultant.codex_session or record.session_id
        patch = b""
        try:
            changes = await patchset.changes(task.directory, record.base, GIT_TIMEOUT_S)
        except FusionError as exc:
            failure = (failure + "; " if failure else "") + f"the patch could not be computed: {exc}"
            record.files, record.result = (), ""
        else:
            record.files, record.result, patch = changes.files, changes.result, changes.patch
        text = patch.decode("utf-8", "replace")
        findings = check_patch(
            record.files,
            patch_bytes=len(patch),
            paths=record.brief.paths,
            criteria=record.brief.criteria,
            answer=answer,
            turn_error=failure,
            git_run=await anyio.to_thread.run_sync(gitrun.run_paths, Path(record.workspace)),
        )
        credentials = credentials_in(text)
        if credentials:
            findings.insert(
                0,
                Finding("credentials", True, f"the patch holds what looks like {', '.join(credentials[:5])}"),
            )
        record.findings, record.file_count, record.patch_chars = (
            tuple(findings),
            len(record.files),
            len(text),
        )
        record.turn_error, record.elapsed = failure, time.monotonic() - task.started
        record.state = next_state(record.id, record.state, TaskEvent.FINISHED)
        task.summary, task.patch = answer[:MAX_SUMMARY_CHARS], text
        await anyio.to_thread.run_sync(store.write_text, record.id, SUMMARY, task.summary)
        await anyio.to_thread.run_sync(store.write_text, record.id, PATCH, text)
        await anyio.to_thread.run_sync(store.save, record)
        task.stage = None
        log.info("task %s: review, %d files, %d failed checks", record.id, len(record.files),
                 len(record.failed_checks))  # fmt: skip
    task.notify()
