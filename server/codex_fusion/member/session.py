"""The agent process and its one ACP session for the workspace: ensure, stop, kill.

The agent lives in a task of the Member's task group (``run_agent`` must be entered and left in
one task). :meth:`Session.ensure` starts it and opens the session on first use, and again after the
agent died or was killed; every replaced agent's client is retired so its late messages are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codex_fusion.acp.agent import Agent, OpenedSession, Spawn, StartOptions
from codex_fusion.acp.schema import UsageUpdate
from codex_fusion.acp.start import run_agent
from codex_fusion.errors import AgentError, FusionError
from codex_fusion.launch import models
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.sessions import POLICY
from codex_fusion.member.client import AcpClient, Guard

if TYPE_CHECKING:
    from codex_fusion.launch.agents.plan import Boundary
from codex_fusion.member.notes import Note, NoteKind
from codex_fusion.member.ports import Live

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    """One started agent and the events that stop it and report it stopped."""

    agent: Agent
    client: AcpClient
    stop: anyio.Event = field(default_factory=anyio.Event)
    finished: anyio.Event = field(default_factory=anyio.Event)


class Session:
    def __init__(
        self,
        config: Config,
        member: MemberSpec,
        workspace: Path,
        tg: TaskGroup,
        *,
        spawn: Spawn,
        guard: Guard,
        system_prompt: str | None = None,
    ) -> None:
        self._system_prompt = system_prompt
        self._config = config
        self._member = member
        self._step = member.launch.mode if member.launch is not None else None
        self._workspace = workspace
        self._tg = tg
        self._spawn = spawn
        self._guard = guard
        self._slot: _Slot | None = None
        self._live: Live | None = None
        self._lock = anyio.Lock()
        self._reopen: str | None = None  # an earlier Codex session the next ensure() opens again
        self._notices: list[Note] = []  # what the next turn should tell Claude about the session
        self.mode_note: str | None = None
        #: How the current session came to be: "new", "restored", "forked" (for ``status``).
        self.origin: str | None = None
        #: A council member's boundary as checked against the agent that answered (None: not yet).
        self.checked_boundary: Boundary | None = None
        #: The models and efforts the session's agent offers, and which are selected (its own report).
        self.offer: models.Offer | None = None
        self._baseline = models.ModelChoice()  # what the session had when it opened: the agent's default

    # -- reading ---------------------------------------------------------------------------------

    @property
    def member(self) -> MemberSpec:
        return self._member

    @property
    def agent(self) -> Agent | None:
        """The current agent (alive or not), if one was started and not yet stopped."""
        return self._slot.agent if self._slot is not None else None

    @property
    def session_id(self) -> str | None:
        return self._live.session_id if self._live is not None else None

    @property
    def context_usage(self) -> UsageUpdate | None:
        return self._slot.client.context_usage if self._slot is not None else None

    @property
    def state(self) -> Literal["idle", "starting", "ready"]:
        if self._live is not None and self._live.agent.alive:
            return "ready"
        return "starting" if self._lock.locked() else "idle"

    # -- lifecycle -------------------------------------------------------------------------------

    async def ensure(self) -> Live:
        """The live session, starting the agent and opening the session first if needed.

        After :meth:`reset` the agent is kept and only a new session is opened."""
        async with self._lock:
            live = self._live
            if live is not None and live.agent.alive:
                return live
            slot = self._slot
            if slot is None or not slot.agent.alive:
                await self.stop()
                client = self._guard.client()
                slot = self._slot = await self._tg.start(_agent_main, self._options(), client, self._spawn)
            try:
                opened = await self._reopened(slot.agent)
                if opened is None:
                    opened = await self._open_new(slot.agent)
                    self.origin = "new"
            except FusionError:
                await self.stop()
                raise
            return self._go_live(slot, opened)

    async def _open_new(self, agent: Agent) -> OpenedSession:
        """``session/new`` on ``agent`` for this member: its workspace, mode, frame and metadata."""
        return await agent.open_session(
            self._workspace,
            mode=self._member.mode,
            timeout=self._config.startup_timeout,
            system_prompt=self._system_prompt,
            meta=self._member.session_meta,
            step=self._step,
        )

    async def _reopened(self, agent: Agent) -> OpenedSession | None:
        """The earlier session :meth:`reopen` asked for, opened again; None (with a notice for the
        next turn) when there is none or the agent cannot bring it back."""
        target, self._reopen = self._reopen, None
        if target is None:
            return None
        try:
            opened = await agent.reopen_session(
                target,
                self._workspace,
                mode=self._member.mode,
                timeout=self._config.startup_timeout,
                system_prompt=self._system_prompt,
                meta=self._member.session_meta,
                step=self._step,
            )
        except FusionError:  # the agent died reopening it: the next result says so, never silently
            self._notices.append(Note(NoteKind.NOT_RESTORED, target))
            raise
        if opened is None:
            self._notices.append(Note(NoteKind.NOT_RESTORED, target))
            return None
        self.origin = "restored"
        self._notices.append(Note(NoteKind.RESTORED, target))
        return opened

    def _go_live(self, slot: _Slot, opened: OpenedSession) -> Live:
        confinement = slot.agent.confinement  # what the started agent has (confine.py), else the plan
        note = confinement.note if confinement is not None else self._member.boundary_note
        if self._member.launch is not None:  # a council member: is it the agent its plan is for?
            from codex_fusion.launch.agents.handshake import checked, recognise

            info = slot.agent.info.agent_info
            seen = checked(self._member.launch, recognise(info.wire() if info is not None else None))
            self.checked_boundary = seen
            note = None if seen.confined else seen.note
        if note:  # said once per session, in its first result
            self._notices.append(Note(NoteKind.BOUNDARY, note))
        slot.client.bind(opened.session_id)
        return self._adopt(slot.agent, opened)

    def _adopt(self, agent: Agent, opened: OpenedSession) -> Live:
        """``opened`` becomes this session's live one: its mode note, its offer, its baseline."""
        self.mode_note = opened.mode_note
        extra = opened.result.model_extra or {}
        self.offer = models.Offer.parse(opened.result.config_options, extra.get("models"))
        now = self.offer.current
        self._baseline = models.ModelChoice(now.model, now.effort, "the agent's default")
        self._live = Live(agent, opened.session_id, opened.system_prompt)
        log.info("Codex session %s ready in %s (%s)", opened.session_id, self._workspace, self.origin)
        return self._live

    async def shared_agent(self) -> tuple[Agent, AcpClient]:
        """The running agent and its client, started (with this session) first if need be: a review
        part opens a session of its own on it (``extra.py``, ADR 0032)."""
        live = await self.ensure()
        slot = self._slot
        if slot is None or slot.agent is not live.agent or not live.agent.alive:
            raise AgentError(f"{self._member.display} stopped while a session was opened on it.")
        return slot.agent, slot.client

    async def select(self, wanted: models.ModelChoice | None) -> models.Selected:
        """Make the live session answer with ``wanted`` over the agent's own default (what it had when
        the session opened, so an earlier call's override does not stick); ``None`` keeps what is
        selected (a ``reply`` goes on with the model of the debate). Returns the selection as the
        agent reports it. Raises ModelError, before anything is sent, for what it does not offer."""
        live, offer = self._live, self.offer
        if live is None or offer is None:
            return models.Selected()
        if wanted is not None:
            target = wanted.over(self._baseline)
            if not target.empty:
                offer = self.offer = await models.select(
                    live.agent,
                    live.session_id,
                    offer,
                    target,
                    timeout=self._config.startup_timeout,
                    who=self._member.display,
                )
        if self._member.kind != "codex":  # its model was given at launch (agents/)
            return models.Selected.launched(offer.current, self._member.model)
        return offer.current

    def reopen(self, session_id: str | None) -> None:
        """Open ``session_id`` again (with its context) instead of a new session on the next
        :meth:`ensure` — after a restart, or for a conversation Claude resumed."""
        self._reopen = session_id

    async def reopen_unless_open(self, session_id: str) -> bool:
        """:meth:`reopen`, unless a session is open (or being opened) already. Whether it will."""
        async with self._lock:
            if self._live is not None:
                return False
            self._reopen = session_id
            return True

    def notice(self, note: Note) -> None:
        """Something the next turn's result should say about its session (once)."""
        self._notices.append(note)

    def take_notices(self) -> list[Note]:
        """What the next turn's result should say about how its session was opened (once)."""
        notices, self._notices = self._notices, []
        return notices

    async def fork(self) -> str | None:
        """Replace the session with a fork of it (``session/fork``): the new one starts with the old
        one's context, which stays as it was. Returns the new id, or None (with a notice for the next
        turn) when there is no session or the agent cannot fork; then the next call starts fresh."""
        async with self._lock:
            live, slot = self._live, self._slot
            if live is None or slot is None or not live.agent.alive:
                return None
            try:
                opened = await live.agent.fork_session(
                    live.session_id,
                    self._workspace,
                    mode=self._member.mode,
                    timeout=self._config.startup_timeout,
                    system_prompt=self._system_prompt,
                    meta=self._member.session_meta,
                    step=self._step,
                )
            except FusionError as exc:  # the agent died forking: the fork starts fresh, and says so
                log.warning("session/fork failed: %s", exc.summary)
                opened = None
            if opened is None:
                self._live = None
                self._notices.append(Note(NoteKind.NOT_FORKED, live.session_id))
                return None
            self.origin = "forked"
            self._go_live(slot, opened)
            return opened.session_id

    async def reset(self) -> str | None:
        """Forget the session (closing it where the agent can); keep the agent for the next one.

        Returns the id of the session dropped, if there was one."""
        async with self._lock:
            live, self._live = self._live, None
            self._reopen, self._notices, self.origin = None, [], None
            if live is None:
                return None
            if live.agent.alive:
                try:
                    await live.agent.close_session(live.session_id, timeout=5.0)
                except FusionError as exc:  # an agent that cannot close it: it is forgotten anyway
                    log.info("session/close failed: %s", exc.summary)
            return live.session_id

    async def stop(self, *, fast: bool = False) -> None:
        """Stop the agent (gracefully unless ``fast``) and forget the session."""
        slot = self._forget()
        if slot is None:
            return
        slot.agent.fast_stop = fast
        slot.stop.set()
        await slot.finished.wait()

    def kill(self) -> None:
        """Kill the agent's process group now and forget the session (the next call respawns)."""
        slot = self._forget()
        if slot is not None:
            slot.agent.process.kill()
            slot.agent.fast_stop = True
            slot.stop.set()

    def lost(self, agent: Agent) -> None:
        """``agent`` died under us: if it is still the current one, clear it away."""
        if self._slot is not None and self._slot.agent is agent:
            self.kill()

    def agent_for(self, session_id: str) -> Agent | None:
        """The agent serving ``session_id``, if it is the current one."""
        live = self._live
        return live.agent if live is not None and live.session_id == session_id else None

    def _forget(self) -> _Slot | None:
        slot, self._slot, self._live = self._slot, None, None
        if slot is not None:
            slot.client.retire()
        return slot

    def _options(self) -> StartOptions:
        launcher = self._member.launcher
        return StartOptions(
            argv=self._member.argv,
            cwd=self._workspace,
            env=self._member.env,
            startup_timeout=self._config.startup_timeout,
            capabilities=self._member.capabilities,
            name=self._member.display,
            check=launcher.check if launcher is not None else None,
            policy=POLICY,
        )


async def _agent_main(
    options: StartOptions, client: AcpClient, spawn: Spawn, *, task_status: TaskStatus[_Slot]
) -> None:
    """The agent's task: start it, hand its slot back, and keep it until told to stop or it exits."""
    slot: _Slot | None = None
    try:
        async with run_agent(
            options,
            on_request=client.on_request,
            on_notification=client.on_notification,
            spawn=spawn,
        ) as agent:
            slot = _Slot(agent, client)
            task_status.started(slot)
            async with anyio.create_task_group() as tg:

                async def on_exit() -> None:
                    await agent.process.exited.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(on_exit)
                await slot.stop.wait()
                tg.cancel_scope.cancel()
    except Exception:
        if slot is None:
            raise
        log.exception("stopping the agent failed")
    finally:
        if slot is not None:
            slot.finished.set()
            log.info("agent stopped: %s", slot.agent.process.describe_exit())
