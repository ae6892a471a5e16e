"""Where the tasks' conversations live: each task's member in a *host* task of one task group, so it
outlives the tool call that started it, and each step of its turn in a *driver* task that waits on
it and, when it ends, settles the task (``settle.py``). Knows nothing about MCP.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from typing import Final

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codex_fusion.acp.agent import Spawn
from codex_fusion.errors import FusionError
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.member.conversation import Member
from codex_fusion.member.signal import Changes
from codex_fusion.member.turn import Pause, TurnResult
from codex_fusion.tasks import brief as prompts
from codex_fusion.tasks.settle import settle
from codex_fusion.tasks.store import TaskStore
from codex_fusion.tasks.task import Answer, Task, TaskMember
from codex_fusion.text.prompts import Brief

log = logging.getLogger(__name__)

#: A task's idle bound: builds and test suites can be silent for long.
TASK_IDLE_S: Final = 1_800.0


class Hosts:
    """The task group that hosts every task's conversation and drives its turns."""

    def __init__(
        self,
        config: Config,
        store: TaskStore | None,
        tg: TaskGroup,
        *,
        spawn: Spawn,
        request_ids: itertools.count[int],
        changes: Changes,
    ) -> None:
        self.config = config
        self._store = store
        self._tg = tg
        self._spawn = spawn
        self.request_ids = request_ids  # the council's counter, once shared
        self._changes = changes
        self.closing = False
        # The first agent this server starts for a task starts alone: several Codex processes
        # initialising a fresh CODEX_HOME at once race on its state database ("failed to initialize
        # state runtime"). Once one has started, the others start in parallel.
        self._first_start = anyio.Lock()
        self._started_one = False

    def cancel(self) -> None:
        """Stop every host and driver (the server is stopping)."""
        self._tg.cancel_scope.cancel()

    async def open(self, task: Task, spec: MemberSpec) -> None:
        """Open the task's conversation in a host task; returns once it is open."""
        await self._tg.start(self._host, task, spec)

    async def _host(self, task: Task, spec: MemberSpec, *, task_status: TaskStatus[None]) -> None:
        """Keep the task's conversation open until the task is closed (or the server stops)."""
        flags = dataclasses.replace(self.config.flags, allow_writes=True)  # edits inside the worktree
        config = dataclasses.replace(
            self.config, flags=flags, turn_timeout=max(self.config.turn_timeout, TASK_IDLE_S)
        )
        task._close, task._closed = anyio.Event(), anyio.Event()
        try:
            async with Member(
                config,
                spawn=self._spawn,
                member=spec,
                request_ids=self.request_ids,
                workspace=task.tree,
                frame=prompts.frame(spec.display),
                changes=self._changes,
            ) as consultant:
                task.consultant = consultant
                task_status.started()
                await task._close.wait()
        finally:
            task.consultant = None
            task._closed.set()

    async def shut(self, task: Task) -> None:
        """Close the task's conversation: its turn is stopped and its agent with it."""
        if task._close is not None and task._closed is not None:
            task._close.set()
            with anyio.CancelScope(shield=True):
                await task._closed.wait()
        task.pause = None

    def drive(self, task: Task, step: Brief | Answer) -> None:
        """The task's next step — a brief to send, or Claude's answer to its pause — in a driver task
        of the manager's group: the turn goes on after the tool call returns."""
        if isinstance(step, Brief):
            task.started = time.monotonic()
            task.stage = "starting"
        else:
            task.stage = "working"
        self._tg.start_soon(self._turn, task, step)

    async def _turn(self, task: Task, step: Brief | Answer) -> None:
        """Drive one step of the member's turn; at its end, the patch and the review."""
        consultant = task.consultant
        result: TurnResult | None = None
        failure: str | None = None
        if consultant is None:
            failure = "the member's session is closed"
        else:
            try:
                await self._start_first(consultant)
                if isinstance(step, Brief):
                    result = await consultant.consult(step)
                else:
                    result = await consultant.permit(step.decision, step.note, request=step.request)
            except FusionError as exc:
                failure = exc.summary
            except Exception as exc:  # a bug serving one task must not sink the server
                log.exception("task %s: the turn failed", task.id)
                failure = f"codex-fusion failed serving the task: {exc!r}"
        if self.closing:
            return
        if isinstance(result, Pause):
            task.pause = result
            task.stage = f"paused on {result.request.ref}"
            task.notify()
            return
        assert self._store is not None
        await settle(self._store, task, result, failure)

    async def _start_first(self, consultant: TaskMember) -> None:
        if self._started_one:
            return
        async with self._first_start:
            if not self._started_one:
                await consultant.warm()  # failures surface on the turn, which tries again
                self._started_one = consultant.last_error is None
