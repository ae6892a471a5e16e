"""What the tools use of the two services the server's lifespan starts above them — the task manager
(``tasks/manager.py``) and the follower of Claude's conversation (``host/follow.py``) — as protocols,
so the tools and their helpers name these instead of the modules that run them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from codex_fusion.launch.config import Config
from codex_fusion.member.signal import Changes
from codex_fusion.tasks.record import TaskBrief
from codex_fusion.tasks.task import Accepted, Task


class TaskDesk(Protocol):
    """The task manager: the tasks, their changes, and each action on one."""

    config: Config
    changes: Changes
    tasks: dict[str, Task]
    copying: dict[str, Task]

    def get(self, task_id: str) -> Task: ...
    def holder(self, request: str | None) -> Task | None: ...
    def patch_path(self, task: Task) -> Path: ...
    async def texts(self, task: Task, limit: int) -> tuple[str, str]: ...
    async def wait(self, task: Task, seconds: float) -> None: ...
    async def delegate(self, brief: TaskBrief, member: str) -> Task: ...
    async def permit(
        self,
        task: Task,
        decision: Literal["allow", "deny", "cancel"],
        note: str | None,
        request: str | None,
    ) -> None: ...
    async def rework(self, task: Task, notes: str) -> Task: ...
    async def retry(self, task: Task, notes: str | None = None, *, by: str = "Claude") -> Task: ...
    async def discard(self, task: Task) -> Task: ...
    async def accept(self, task: Task, *, force: bool, reason: str | None) -> Accepted: ...


class Following(Protocol):
    """The follower: which window and conversation it follows, and its check before a call."""

    window: int | None
    followed: str | None
    problem: str | None

    async def check(self) -> bool: ...
