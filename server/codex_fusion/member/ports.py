"""What the rest of a member uses of its :class:`~codex_fusion.member.session.Session`, as a protocol.

The session sits above them: it starts agents (``acp/start.py``) and builds the permission client.
The member's parts (``parts.py``), its status (``snapshot.py``), the driver (``drive.py``) and the
reset (``switch.py``) name :class:`SessionPort` instead, and the member hands them the one session it
built — so reading a member's state never needs the code that starts an agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from codex_fusion.acp.agent import Agent
from codex_fusion.acp.schema import UsageUpdate
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.models import ModelChoice, Offer, Selected
from codex_fusion.member.notes import Note

if TYPE_CHECKING:
    from codex_fusion.launch.agents.plan import Boundary


@dataclass(frozen=True)
class Live:
    """An agent with an open session, ready for prompts."""

    agent: Agent
    session_id: str
    framed: bool = False  # the session carries the prompt frame as its system prompt


class SessionPort(Protocol):
    """One agent process and its ACP session for the member's workspace (``session.py``)."""

    mode_note: str | None
    origin: str | None
    checked_boundary: Boundary | None
    offer: Offer | None

    @property
    def member(self) -> MemberSpec: ...
    @property
    def agent(self) -> Agent | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def context_usage(self) -> UsageUpdate | None: ...
    @property
    def state(self) -> Literal["idle", "starting", "ready"]: ...

    async def ensure(self) -> Live: ...
    async def select(self, wanted: ModelChoice | None) -> Selected: ...
    def reopen(self, session_id: str | None) -> None: ...
    async def reopen_unless_open(self, session_id: str) -> bool: ...
    def notice(self, note: Note) -> None: ...
    def take_notices(self) -> list[Note]: ...
    async def fork(self) -> str | None: ...
    async def reset(self) -> str | None: ...
    async def stop(self, *, fast: bool = False) -> None: ...
    def kill(self) -> None: ...
    def lost(self, agent: Agent) -> None: ...
    def agent_for(self, session_id: str) -> Agent | None: ...
