"""A delegated task as the server holds it: its record, its worktree's directory and lock, and — while
it can still change — its member's conversation; what an accept did; Claude's answer to a pause."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import anyio

from codex_fusion.launch.members import MemberSpec
from codex_fusion.member.render import turn_line
from codex_fusion.member.reports import Reopen
from codex_fusion.member.turn import Pause, Turn, TurnResult
from codex_fusion.tasks.record import Applied, TaskRecord
from codex_fusion.tasks.store import TREE, TaskLock
from codex_fusion.tasks.table import TaskState
from codex_fusion.text.prompts import Brief


class TaskMember(Protocol):
    """What the tasks use of a task's member (a :class:`~codex_fusion.member.conversation.Member`,
    opened by ``host.py``): its turn, its session, and the calls that drive it."""

    member: MemberSpec
    last_error: str | None

    @property
    def current_turn(self) -> Turn | None: ...
    @property
    def codex_session(self) -> str | None: ...

    async def consult(self, prompt: Brief | str) -> TurnResult: ...
    async def permit(
        self,
        decision: Literal["allow", "deny", "cancel"],
        note: str | None = None,
        *,
        request: str | None = None,
    ) -> TurnResult: ...
    async def adopt(self, reopen: Reopen) -> bool: ...
    async def warm(self) -> None: ...


@dataclass(frozen=True)
class Answer:
    """Claude's answer to a task's paused request, for the task's next step."""

    decision: Literal["allow", "deny", "cancel"]
    note: str | None
    request: str


@dataclass
class Task:
    """One task of this server: its record and, while it can change, its member's conversation."""

    record: TaskRecord
    directory: Path
    lock: TaskLock
    consultant: TaskMember | None = None
    pause: Pause | None = None
    stage: str | None = None  # "starting", "working", "paused on r3" (progress shows the live turn)
    started: float = field(default_factory=time.monotonic)  # the current attempt
    summary: str | None = None  # the member's last answer (read from disk after a restart)
    patch: str | None = None  # the patch as shown (likewise)
    changed: anyio.Event = field(default_factory=anyio.Event)
    busy: anyio.Lock = field(default_factory=anyio.Lock)
    _close: anyio.Event | None = None
    _closed: anyio.Event | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> TaskState:
        return self.record.state

    @property
    def tree(self) -> Path:
        return self.directory / TREE

    @property
    def turn(self) -> Turn | None:
        """The member's turn in flight, if any."""
        return self.consultant.current_turn if self.consultant is not None else None

    @property
    def progress(self) -> str | None:
        """Where the task is now: the live turn's line (what it streams, the tool it runs), else its
        stage."""
        turn = self.turn
        if turn is not None and turn.live:
            return turn_line(turn) or "working"
        return self.stage

    @property
    def settled(self) -> bool:
        """Nothing to wait for: not running, or paused for Claude."""
        return self.record.state is not TaskState.RUNNING or self.pause is not None

    def notify(self) -> None:
        event, self.changed = self.changed, anyio.Event()
        event.set()


@dataclass(frozen=True)
class Accepted:
    task: Task
    applied: Applied
    overlaps: tuple[tuple[str, str, tuple[str, ...]], ...]  # (task id, its state, files in common)
    running: tuple[str, ...]  # tasks still running: their patches are not known yet
