"""The conversation with Codex as one object: consult, permit, cancel, status. Knows nothing about MCP.

A façade over the parts that own the state (docs/architecture.md has the picture):

- :class:`~codex_fusion.member.session.Session` — the agent process and its ACP session;
- :class:`~codex_fusion.member.runner.Runner` — admission, the turn in flight, the idle clock, cancel;
- :class:`~codex_fusion.member.client.AcpClient` — what the agent asks of us, one per agent instance;
- :class:`~codex_fusion.member.debate.Debate` — what Claude told Codex between turns;
- :class:`~codex_fusion.member.turn.Audit` — the guardian's decisions, counted.

Use as ``async with Consultant(config) as consultant:``; every agent it starts dies with it.
``spawn`` replaces how the agent is started (tests run an in-memory agent).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from codex_fusion.acp.agent import Spawn, spawn_process
from codex_fusion.errors import AgentError, ConfigError, ConsultError, FusionError
from codex_fusion.guardian.permissions import check_ref, choose_for, parse_ref
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import CODEX, MemberSpec
from codex_fusion.launch.models import ModelChoice
from codex_fusion.member import snapshot
from codex_fusion.member.client import AcpClient
from codex_fusion.member.debate import Debate, Round, VerdictLine
from codex_fusion.member.notes import Audit, Note, NoteKind
from codex_fusion.member.runner import Runner
from codex_fusion.member.session import Live, Session
from codex_fusion.member.snapshot import ResetReport, State, Status
from codex_fusion.member.turn import Event, Turn, TurnObserver, TurnOutcome, TurnResult, TurnState
from codex_fusion.member.turnlog import TurnLog
from codex_fusion.text.prompts import Brief, Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reopen:
    """An earlier Codex session to open again (a conversation Claude resumed), and where its debate
    stood."""

    codex_session: str
    rounds: int = 0
    verdict: VerdictLine | None = None


class Consultant:
    def __init__(
        self,
        config: Config,
        *,
        spawn: Spawn = spawn_process,
        member: MemberSpec | None = None,
        request_ids: itertools.count[int] | None = None,
        workspace: Path | None = None,
        frame: Frame | None = None,
    ) -> None:
        self.config = config
        #: Which council member this is (Codex unless told otherwise).
        self.member = member if member is not None else config.members[CODEX]
        self._spawn = spawn
        #: Where this member works: the configured workspace, or another root (a task's worktree).
        self.workspace = workspace if workspace is not None else config.workspace.path
        self._stack = AsyncExitStack()
        self._closing = anyio.Event()
        self._closed = False
        self._audit = Audit()
        # A delegated task's session gets its own frame (tasks/brief.py): it changes files.
        self._frame = frame if frame is not None else Frame.for_member(self.member.display, self.member.kind)
        self._debate = Debate(self._frame)
        # Shared by every member of a council, so a pause's id names one request across all of them.
        self._request_ids = request_ids if request_ids is not None else itertools.count(1)
        self._tg: TaskGroup | None = None
        self._session: Session | None = None
        self._runner: Runner | None = None
        self.turns_completed = 0
        self.last_error: str | None = None
        self._listeners: list[Callable[[Turn], None]] = []
        self._turnlog = TurnLog(config.log_path)

    async def __aenter__(self) -> Consultant:
        tg = self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        tg.start_soon(self._turnlog.run)
        workspace = self.workspace
        if workspace is not None and self.member.error is None:
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
                self.member,
                workspace,
                tg,
                spawn=self._spawn,
                make_client=make_client,
                system_prompt=self._frame.system_prompt,
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
            await self._turnlog.close()
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._stack.__aexit__(exc_type, exc, tb)
        self._closed = True

    # -- the requests ----------------------------------------------------------------------------

    def _ready(self) -> Runner:
        if self._runner is None:
            if self.member.error is not None:
                # an error that says what to do itself (the repository's git config, ADR 0023) stands alone
                fix = (
                    ""
                    if self.member.error.endswith("restart")
                    else (
                        " Fix its entry in CODEX_FUSION_MEMBERS (or the plugin's members option) and restart."
                    )
                )
                raise ConfigError(
                    f"The council member {self.member.name} cannot start: {self.member.error}.{fix}"
                )
            raise ConsultError(self.config.workspace.error or "No workspace.")
        return self._runner

    async def consult(
        self,
        prompt: Brief | str,
        *,
        observer: TurnObserver | None = None,
        on_start: Callable[[], None] | None = None,
        timeout: float | None = None,
        choice: ModelChoice | None = None,
    ) -> TurnResult:
        """Run one prompt as a turn, after every turn queued before it.

        A ``str`` is sent exactly as given (as a ``consult``). ``choice`` overrides the configured
        model and effort for this turn; a ``reply`` keeps the debate's. Returns the outcome, or a
        :class:`~codex_fusion.member.turn.Pause` when Codex waits for ``permit``.
        """
        brief = prompt if isinstance(prompt, Brief) else Brief.raw(prompt)
        runner = self._ready()
        if brief.tool == "reply" and not self._debate.open:
            raise ConsultError(
                "There is no debate to reply to: Codex has not answered a consult, review or brainstorm "
                "in its current session (a reset or a restart starts a fresh one). Start with `consult`."
            )
        bound = self.config.turn_timeout if timeout is None else timeout
        keep = brief.tool == "reply" and (choice is None or choice.empty)  # the debate's model goes on
        wanted = None if keep else (choice or ModelChoice()).over(self.default_model)

        def compose(live: Live) -> str:
            return self._debate.prompt(brief, live.session_id, system_prompt=live.framed)

        try:
            turn = await runner.start(
                compose,
                tool=brief.tool,
                timeout=bound,
                on_start=on_start,
                judge=self._debate.answered,
                choice=wanted,
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
        a late or repeated ``permit`` for another one is refused, saying what is pending now.
        ``timeout`` replaces the turn's idle bound for the rest of the turn."""
        runner = self._ready()
        wanted = parse_ref(request)
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
        check_ref(wanted, held, pause.summary)
        if timeout is not None:
            turn.timeout = timeout
        if decision == "cancel":
            log.info("guardian: Claude stopped the turn paused on %s", pause.summary)
            await runner.stop(turn, Event.CANCEL, Note(NoteKind.STOPPED))
            return await runner.wait(turn, observer)
        choice = choose_for(decision, held.options)
        note = (note or "").strip()
        self._debate.decided(turn, pause.summary, decision, choice, note)
        turn.answer(held, decision, choice)
        verb = "allowed" if decision == "allow" else "denied"
        log.info("guardian: Claude %s %s (option %s)", verb, pause.summary, choice.option_id)
        return await runner.wait(turn, observer)

    async def reset(self, *, then: Reopen | None = None, notice: Note | None = None) -> ResetReport:
        """Drop Codex's context: stop the turn in flight (held requests are answered ``cancelled``),
        close the session and forget the debate. The agent stays up; the next call opens a new
        session — or ``then``'s earlier one (Claude resumed another conversation). ``notice`` is
        said in the next result.

        Atomic with respect to admission: no turn is admitted until the session is replaced."""
        runner = self._ready()
        assert self._session is not None
        async with runner.exclusive(Note(NoteKind.RESET)) as stopped:
            session_id, rounds = self._session.session_id, self._debate.rounds
            closed = await self._session.reset()
            self._debate.reset()
            if then is not None:
                self._reopen(then)
            if notice is not None:
                self._session.notice(notice)
        log.info("reset: dropped session %s after %d round(s)", closed or session_id, rounds)
        return ResetReport(session_id=closed or session_id, rounds=rounds, stopped_turn=stopped)

    async def adopt(self, reopen: Reopen) -> bool:
        """Open ``reopen``'s session on the next call, unless a session is open already (a turn
        started meanwhile): the first record of the conversation we serve, or the server's start."""
        if self._session is None or not await self._session.reopen_unless_open(reopen.codex_session):
            return False
        self._debate.expect(reopen.codex_session, reopen.rounds, _round(reopen))
        return True

    def _reopen(self, reopen: Reopen) -> None:
        assert self._session is not None
        self._session.reopen(reopen.codex_session)
        self._debate.expect(reopen.codex_session, reopen.rounds, _round(reopen))

    async def warm(self) -> None:
        """Start the agent and open (or reopen) the session now, so the first consult does not wait.

        Failures are kept for ``status`` and surface on the first consult (which tries again)."""
        if self._session is None:
            return
        try:
            await self._session.ensure()
        except FusionError as exc:
            self.last_error = exc.summary
            log.info("warm-up failed (the first consult will try again): %s", exc.summary)
        except Exception as exc:  # a bug: the server goes on, the first consult tries again
            log.exception("warm-up failed unexpectedly")
            self.last_error = f"warm-up failed ({type(exc).__name__}: {exc}); the first consult tries again"

    async def fork(self) -> str | None:
        """Claude forked the conversation: go on in a fork of Codex's session (its context copied),
        leaving the original as it was. None when there is no session or the agent cannot fork;
        then the next call starts fresh and says so. Atomic with respect to admission, as reset."""
        runner = self._ready()
        assert self._session is not None
        async with runner.exclusive(Note(NoteKind.RESET)):
            forked = await self._session.fork()
            if forked is None:
                self._debate.reset()
            else:
                self._debate.expect(forked, self._debate.rounds, self._debate.last)
        return forked

    def on_turn_finished(self, listener: Callable[[Turn], None]) -> None:
        """Call ``listener`` after every turn that ends (it must be quick and not raise)."""
        self._listeners.append(listener)

    @property
    def codex_session(self) -> str | None:
        """The Codex session now open, if any."""
        return self._session.session_id if self._session is not None else None

    def adopt_review(self, outcome: TurnOutcome, tool: str) -> TurnOutcome:
        """A review done in parallel parts (``shards.py``) becomes this member's debate round 1."""
        round_ = self._debate.adopt(tool, outcome.text)
        return dataclasses.replace(outcome, round=round_, member=self.member.name)

    @property
    def request_ids(self) -> itertools.count[int]:
        """The request-id counter this member shares with the rest of the council."""
        return self._request_ids

    @property
    def spawn(self) -> Spawn:
        return self._spawn

    @property
    def default_model(self) -> ModelChoice:
        """The model and effort this member's turns ask for unless a call says otherwise: Codex's from
        its entry in CODEX_FUSION_MEMBERS, else the plugin's ``model``/``effort`` options; another
        member's are given to it at launch (``agents/``), so nothing is selected afterwards."""
        spec = self.member
        if spec.kind != "codex":
            return ModelChoice()
        mine = ModelChoice.of(spec.model, spec.effort, "the codex entry of CODEX_FUSION_MEMBERS")
        return mine.over(self.config.model)

    @property
    def debate_open(self) -> bool:
        """A debate this member answered, that ``reply`` can continue."""
        return self._debate.open

    @property
    def unclaimed(self) -> Turn | None:
        """A turn that ended while nobody waited on it (its pause was withdrawn)."""
        return self._runner.unclaimed if self._runner is not None else None

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
        self._turnlog.record(turn)
        for listener in self._listeners:
            try:
                listener(turn)
            except Exception:
                log.exception("a listener of finished turns failed")

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
        return snapshot.take(
            config=self.config,
            state=self.state,
            session=self._session,
            runner=self._runner,
            audit=self._audit,
            debate=self._debate,
            turns_completed=self.turns_completed,
            last_error=self.last_error,
            log_problem=self._turnlog.problem,
        )


def _round(reopen: Reopen) -> Round | None:
    return Round(reopen.rounds, reopen.verdict) if reopen.verdict is not None else None
