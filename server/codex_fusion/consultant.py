"""The conversation with Codex as one object: consult, permit, cancel, status. Knows nothing about MCP.

A façade over the parts that own the state (docs/architecture.md has the picture):

- :class:`~codex_fusion.session.Session` — the agent process and its ACP session;
- :class:`~codex_fusion.runner.Runner` — admission, the turn in flight, the idle clock, cancel;
- :class:`~codex_fusion.client.AcpClient` — what the agent asks of us, one per agent instance;
- :class:`~codex_fusion.debate.Debate` — what Claude told Codex between turns;
- :class:`~codex_fusion.turn.Audit` — the guardian's decisions, counted.

Use as ``async with Consultant(config) as consultant:``; every agent it starts dies with it.
``spawn`` replaces how the agent is started (tests run an in-memory agent).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from . import __version__
from .acp.agent import Spawn, spawn_process
from .client import AcpClient
from .config import Config
from .debate import Debate, VerdictLine
from .errors import AgentError, ConsultError
from .guardian import Rule
from .permissions import choose_allow, choose_deny, parse_ref
from .prompts import FRAME, Brief
from .runner import Runner
from .session import Live, Session
from .turn import Audit, Event, Note, NoteKind, Turn, TurnObserver, TurnResult, TurnState
from .turnlog import record_turn

log = logging.getLogger(__name__)

State = Literal["idle", "starting", "ready", "running", "paused", "stopping", "stopped"]


@dataclass(frozen=True)
class Status:
    """A snapshot of everything ``status`` shows; computed on demand, never stored."""

    version: str
    config: Config
    state: State
    agent_name: str | None = None
    agent_pid: int | None = None
    agent_alive: bool = False
    agent_exit: str | None = None
    session_id: str | None = None
    mode_note: str | None = None
    turn_elapsed: float | None = None
    turn_updates: int = 0
    pending: str | None = None
    pending_waited: float = 0.0
    audit: Mapping[tuple[NoteKind, Rule | None], int] = field(default_factory=dict)
    queue_length: int = 0
    turns_completed: int = 0
    debate_round: int = 0
    last_verdict: VerdictLine | None = None
    context_used: int | None = None
    context_size: int | None = None
    last_error: str | None = None
    stderr_tail: str | None = None


@dataclass(frozen=True)
class ResetReport:
    """What a reset dropped."""

    session_id: str | None  # the Codex session closed, if one was open
    rounds: int  # answers in the debate it ended
    stopped_turn: str | None  # the tool whose turn was stopped, if one was running


class Consultant:
    def __init__(self, config: Config, *, spawn: Spawn = spawn_process) -> None:
        self.config = config
        self._spawn = spawn
        self._stack = AsyncExitStack()
        self._closing = anyio.Event()
        self._closed = False
        self._audit = Audit()
        self._debate = Debate()
        self._request_ids = itertools.count(1)
        self._tg: TaskGroup | None = None
        self._session: Session | None = None
        self._runner: Runner | None = None
        self.turns_completed = 0
        self.last_error: str | None = None

    async def __aenter__(self) -> Consultant:
        tg = self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        workspace = self.config.workspace.path
        if workspace is not None:
            flags = self.config.flags

            def make_client() -> AcpClient:
                return AcpClient(
                    workspace=workspace,
                    flags=flags,
                    audit=self._audit,
                    current_turn=lambda: runner.current,
                    request_ids=self._request_ids,
                )

            session = Session(
                self.config,
                workspace,
                tg,
                spawn=self._spawn,
                make_client=make_client,
                system_prompt=FRAME,
            )
            runner = Runner(
                session,
                tg,
                audit=self._audit,
                cancel_grace=self.config.cancel_grace,
                closing=self._closing,
                on_finished=self._turn_finished,
            )
            self._session, self._runner = session, runner
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        with anyio.CancelScope(shield=True):
            turn = self._runner.current if self._runner is not None else None
            if turn is not None and turn.live:
                turn.stop(Event.CANCEL)  # held requests are answered `cancelled`
            if self._session is not None:
                await self._session.stop(fast=True)
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._stack.__aexit__(exc_type, exc, tb)
        self._closed = True

    # -- the requests ----------------------------------------------------------------------------

    def _ready(self) -> Runner:
        if self._runner is None:
            raise ConsultError(self.config.workspace.error or "No workspace.")
        return self._runner

    async def consult(
        self,
        prompt: Brief | str,
        *,
        observer: TurnObserver | None = None,
        on_start: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> TurnResult:
        """Run one prompt as a turn, after every turn queued before it.

        A ``str`` is sent exactly as given (as a ``consult``). Returns the outcome, or a
        :class:`~codex_fusion.turn.Pause` when Codex waits for ``permit``.
        """
        brief = prompt if isinstance(prompt, Brief) else Brief.raw(prompt)
        runner = self._ready()
        if brief.tool == "reply" and not self._debate.open:
            raise ConsultError(
                "There is no debate to reply to: Codex has not answered a consult, review or brainstorm "
                "in its current session (a reset or a restart starts a fresh one). Start with `consult`."
            )
        bound = self.config.turn_timeout if timeout is None else timeout

        def compose(live: Live) -> str:
            return self._debate.prompt(brief, live.session_id, system_prompt=live.framed)

        try:
            turn = await runner.start(
                compose, tool=brief.tool, timeout=bound, on_start=on_start, judge=self._debate.answered
            )
        except AgentError as exc:
            self.last_error = exc.summary
            raise
        return await runner.wait(turn, observer)

    async def permit(
        self,
        decision: Literal["allow", "deny", "cancel"],
        note: str | None = None,
        *,
        request: str | None = None,
        observer: TurnObserver | None = None,
        timeout: float | None = None,
    ) -> TurnResult:
        """Answer the held permission request and wait for the same turn's next pause or end.

        ``request`` (the pause's id, ``r3``) makes sure the answer goes to the request Claude judged:
        a late or repeated ``permit`` for another one is refused, saying what is pending now."""
        runner = self._ready()
        wanted = parse_ref(request) if request is not None else None
        if request is not None and wanted is None:
            raise ConsultError(
                f"`request` {request!r} is not a request id: pass the id the pause showed (r3)."
            )
        turn = runner.current
        pause = turn.pause() if turn is not None else None
        if turn is None or pause is None:
            if runner.unclaimed is not None:
                return await runner.wait(runner.unclaimed, observer)
            raise ConsultError(
                "No pending permission — it may have completed or been cancelled. Nothing to answer; "
                "`status` shows what Codex is doing."
            )
        held = pause.request
        if wanted is not None and wanted != held.request_id:
            raise ConsultError(
                f"Request r{wanted} is not pending any more. Pending now: {held.ref} — {pause.summary}. "
                f"Judge that one, then call `permit` with request {held.ref}."
            )
        if decision == "cancel":
            log.info("guardian: Claude stopped the turn paused on %s", pause.summary)
            await runner.stop(turn, Event.CANCEL, Note(NoteKind.STOPPED))
            return await runner.wait(turn, observer)
        if decision == "allow":
            choice = choose_allow(held.options, claude_decided=True)
            if choice is None:
                offered = ", ".join(option.option_id for option in held.options) or "no options"
                raise ConsultError(
                    f"Codex offered no way to approve this request ({offered}); "
                    "call `permit` with decision `deny`."
                )
        else:
            choice = choose_deny(held.options)
        note = (note or "").strip()
        self._debate.decided(turn, pause.summary, decision, choice, note)
        turn.answer(held, decision, choice)
        log.info(
            "guardian: Claude %s %s (option %s)%s",
            "allowed" if decision == "allow" else "denied",
            pause.summary,
            choice.option_id,
            f"; note: {note}" if note else "",
        )
        if timeout is not None:
            turn.timeout = timeout
        return await runner.wait(turn, observer)

    async def reset(self) -> ResetReport:
        """Drop Codex's context: stop the turn in flight (held requests are answered ``cancelled``),
        close the session and forget the debate. The agent stays up; the next call opens a new session."""
        runner = self._ready()
        assert self._session is not None
        session_id, rounds = self._session.session_id, self._debate.rounds
        turn, stopped = runner.current, None
        if turn is not None and not turn.done:
            stopped = turn.tool
            await runner.stop(turn, Event.CANCEL, Note(NoteKind.RESET))
        closed = await self._session.reset()
        self._debate.reset()
        log.info("reset: dropped session %s after %d round(s)", closed or session_id, rounds)
        return ResetReport(session_id=closed or session_id, rounds=rounds, stopped_turn=stopped)

    @property
    def debate_round(self) -> int:
        """Codex's answers in the debate now open (0: none)."""
        return self._debate.rounds

    async def cancel(self) -> None:
        """Cancel the turn in flight (held requests are answered `cancelled`)."""
        runner = self._ready()
        if runner.current is not None:
            await runner.stop(runner.current, Event.CANCEL)

    def _turn_finished(self, turn: Turn) -> None:
        if turn.error is not None:
            self.last_error = getattr(turn.error, "summary", str(turn.error))
        elif any(note.kind is NoteKind.RESTARTED for note in turn.notes):
            self.last_error = (
                f"A {turn.state} turn did not stop in time; the agent was killed and will restart."
            )
        else:
            self.last_error = None
        if turn.error is None:
            self.turns_completed += 1
        record_turn(turn, self.config.log_path)

    # -- status ----------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        if self._closed:
            return "stopped"
        turn = self._runner.current if self._runner is not None else None
        if turn is not None:
            if turn.state is TurnState.PAUSED:
                return "paused"
            return "running" if turn.live else "stopping"
        return self._session.state if self._session is not None else "idle"

    @property
    def queue_length(self) -> int:
        return self._runner.queue_length if self._runner is not None else 0

    @property
    def current_turn(self) -> Turn | None:
        return self._runner.current if self._runner is not None else None

    @property
    def session(self) -> Session | None:
        return self._session

    def status(self) -> Status:
        session, runner = self._session, self._runner
        agent = session.agent if session is not None else None
        turn = runner.current if runner is not None else None
        pause = turn.pause() if turn is not None else None
        usage = session.context_usage if session is not None else None
        return Status(
            version=__version__,
            config=self.config,
            state=self.state,
            agent_name=agent.name if agent is not None else None,
            agent_pid=agent.process.pid if agent is not None else None,
            agent_alive=agent is not None and agent.alive,
            agent_exit=agent.process.describe_exit() if agent is not None and not agent.alive else None,
            session_id=session.session_id if session is not None else None,
            mode_note=session.mode_note if session is not None else None,
            turn_elapsed=turn.elapsed if turn is not None else None,
            turn_updates=turn.transcript.updates if turn is not None else 0,
            pending=pause.summary if pause is not None else None,
            pending_waited=pause.request.waited if pause is not None else 0.0,
            audit=dict(self._audit.counts),
            queue_length=runner.queue_length if runner is not None else 0,
            turns_completed=self.turns_completed,
            debate_round=self._debate.rounds,
            last_verdict=self._debate.last.verdict if self._debate.last is not None else None,
            context_used=usage.used if usage is not None else None,
            context_size=usage.size if usage is not None else None,
            last_error=self.last_error,
            stderr_tail=agent.stderr_tail(1200) if agent is not None else None,
        )
