"""What the tools share, set up by the server's lifespan, and the preconditions every tool checks.

A precondition that does not hold is a :class:`~codex_fusion.errors.UsageError`; the tool boundary
(``boundary.py``) turns it into what the host's model reads, as every other error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp.server.mcpserver import Context

from codex_fusion.council.council import Council
from codex_fusion.errors import UsageError
from codex_fusion.host.handles import CallTable
from codex_fusion.host.sessions import HostSession
from codex_fusion.launch.config import Config
from codex_fusion.mcp.ports import Following, TaskDesk
from codex_fusion.member.conversation import Member


@dataclass
class ServerState:
    """What the tools share, set up by the server's lifespan."""

    config: Config | None = None
    config_error: str | None = None
    council: Council | None = None
    follower: Following | None = None
    tasks: TaskDesk | None = None  # delegated tasks (task_tools.py)
    calls: CallTable | None = None  # calls answered with a handle (hosted.py)
    host_session: HostSession = field(default_factory=HostSession)  # hosted.follow_session

    @property
    def consultant(self) -> Member | None:
        """Codex's conversation: the default member, the one a call without ``members`` goes to."""
        return self.council.codex if self.council is not None else None


def state_of(ctx: Context) -> ServerState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, ServerState)
    return state


def _configured(state: ServerState) -> Config:
    if state.config is None:
        raise UsageError(
            f"codex-fusion is misconfigured: {state.config_error}. Fix the variable and restart."
        )
    return state.config


def council_of(ctx: Context) -> Council:
    """The council, once the server is configured, has a workspace and is not shutting down."""
    state = state_of(ctx)
    config = _configured(state)
    if config.workspace.path is None:
        raise UsageError(config.workspace.error or "No workspace.")
    if state.council is None:
        raise UsageError("codex-fusion is shutting down.")
    return state.council


def tasks_of(ctx: Context) -> tuple[Council, TaskDesk]:
    """The council and the task manager, under the same preconditions."""
    state = state_of(ctx)
    _configured(state)
    if state.tasks is None or state.council is None:
        raise UsageError("codex-fusion is shutting down.")
    return state.council, state.tasks


def required(value: str, name: str, what: str) -> str:
    if not value.strip():
        raise UsageError(f"`{name}` is empty: {what}.")
    return value
