"""A session of its own on another member's running agent: how a review part runs (ADR 0032).

codex-acp serves several sessions in one process. A review in parts opens one extra session per part
on the member's agent instead of starting an agent per part. :class:`ExtraSession` is the part's
:class:`~codex_fusion.member.session.Session`: the part's ``Member`` drives its turns exactly as it
drives its own (the same turn, driver, stopper and guardian), but

- :meth:`ensure` opens ``session/new`` on the host's agent (started first if need be) with the same
  workspace, mode, frame and metadata, and routes that session id to the part's own turn slot in the
  agent's client; it never starts or respawns an agent;
- stopping it closes the session (``session/close``) and unroutes it; the agent stays with its
  owner, and what the agent still sends for that session is refused from then on;
- a turn that does not stop within the grace is abandoned (unrouted, closed when the part ends),
  never by killing the agent: the member and the other parts share it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from codex_fusion.acp.agent import Agent, StartOptions
from codex_fusion.acp.process import AgentHost
from codex_fusion.errors import AgentError, ConsultError, FusionError
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.member.client import AcpClient, Guard
from codex_fusion.member.ports import Live
from codex_fusion.member.session import Session

log = logging.getLogger(__name__)

#: How long closing a part's session may take before the part ends without waiting for it.
CLOSE_TIMEOUT = 5.0


class ExtraSession(Session):
    def __init__(
        self,
        host: Session,
        config: Config,
        member: MemberSpec,
        workspace: Path,
        tg: TaskGroup,
        *,
        guard: Guard,
        system_prompt: str | None = None,
    ) -> None:
        super().__init__(
            config, member, workspace, tg, spawn=_never, guard=guard, system_prompt=system_prompt
        )
        self._host = host
        self._client: AcpClient | None = None
        self._abandoned: list[Live] = []  # sessions given up on after a wedged turn: closed at the end

    @staticmethod
    def opener(
        host: Session, config: Config, member: MemberSpec
    ) -> Callable[[Path, Guard, TaskGroup, str | None], ExtraSession]:
        """What ``Member.share`` takes: the part's session, opened on ``host``'s agent."""

        def open_on_host(workspace: Path, guard: Guard, tg: TaskGroup, frame: str | None) -> ExtraSession:
            return ExtraSession(host, config, member, workspace, tg, guard=guard, system_prompt=frame)

        return open_on_host

    async def ensure(self) -> Live:
        """The part's session on the host's agent, opened on first use. An agent that stopped is not
        replaced here: the part fails, as a part whose own agent died would."""
        async with self._lock:
            live = self._live
            if live is not None:
                if live.agent.alive:
                    return live
                raise AgentError(f"{self._member.display} stopped under this part's session.")
            agent, client = await self._host.shared_agent()
            opened = await self._open_new(agent)
            try:
                client.route(opened.session_id, self._guard)
            except ValueError as exc:  # another workspace or guardian: never shared (fail closed)
                await _close(agent, opened.session_id)
                raise ConsultError(f"A review part cannot share this agent: {exc}.") from None
            self._client = client
            self.origin = "new"
            return self._adopt(agent, opened)

    async def fork(self) -> str | None:
        return None  # a part's session is never forked

    async def reset(self) -> str | None:
        live = self._live
        await self.stop()
        return live.session_id if live is not None else None

    def kill(self) -> None:
        """A turn that would not stop: give its session up (unrouted now, closed when the part ends),
        leaving the shared agent running."""
        live = self._unroute()
        if live is not None:
            self._abandoned.append(live)

    def lost(self, agent: Agent) -> None:
        live = self._live
        if live is not None and live.agent is agent:
            self.kill()

    async def stop(self, *, fast: bool = False) -> None:
        """Cancel and close the part's session (and any it gave up on); the agent is its owner's.

        A part cancelled with its caller loses its driver and stopper with it, so nothing else tells
        the agent: ``session/cancel`` first (the turn may still run; a no-op when it ended), then
        ``session/close``."""
        closing = [*self._abandoned, *filter(None, [self._unroute()])]
        self._abandoned = []
        with anyio.CancelScope(shield=True):
            for live in closing:
                if live.agent.alive:
                    await _close(live.agent, live.session_id)

    def _unroute(self) -> Live | None:
        live, self._live = self._live, None
        if live is not None and self._client is not None:
            self._client.unroute(live.session_id)
        return live


async def _close(agent: Agent, session_id: str) -> None:
    with anyio.move_on_after(CLOSE_TIMEOUT):
        try:
            await agent.cancel(session_id)
            await agent.close_session(session_id, timeout=CLOSE_TIMEOUT)
        except FusionError as exc:  # gone with the agent, or refused: it is unrouted either way
            log.info("closing part session %s failed: %s", session_id, exc.summary)


async def _never(options: StartOptions) -> AgentHost:
    raise AssertionError("an extra session never starts an agent")
