"""One member's conversation as one object: consult, permit, reset, fork, status. Knows nothing about MCP.

A consult is a straight line, each step calling down and returning:

1. :meth:`Member.start` — admission (:class:`~codex_fusion.member.runner.Runner`), the session
   (:class:`~codex_fusion.member.session.Session`), the prompt composed here from the debate
   (:class:`~codex_fusion.member.debate.Debate`), the :class:`~codex_fusion.member.turn.Turn`
   created and its driver started in this member's task group (``drive.py``);
2. :meth:`Member.wait` — until the turn pauses for Claude or ends;
3. when the driver ends, this member records the turn (its debate round, the turn log, the last
   error) and tells its :class:`~codex_fusion.member.signal.Changes` that a turn ended.

The permission client (:class:`~codex_fusion.member.client.AcpClient`) reads the turn in flight from
the :class:`~codex_fusion.member.turn.TurnSlot` this member holds. Use as
``async with Member(config) as consultant:``; every agent it starts dies with it. ``spawn``
replaces how the agent is started (tests run an in-memory agent).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from codex_fusion.errors import AgentError, ConsultError, FusionError
from codex_fusion.guardian.permissions import check_ref, choose_for, parse_ref
from codex_fusion.launch.models import ModelChoice
from codex_fusion.member import drive
from codex_fusion.member.client import Guard
from codex_fusion.member.notes import Note, NoteKind
from codex_fusion.member.parts import MemberParts
from codex_fusion.member.ports import Live, SessionPort
from codex_fusion.member.reports import Reopen, ResetReport
from codex_fusion.member.session import Session
from codex_fusion.member.turn import Event, Turn, TurnOutcome, TurnResult
from codex_fusion.text.prompts import Brief

__all__ = ["Member", "Reopen"]

log = logging.getLogger(__name__)


#: Opens a member's session other than on an agent of its own, given where it works, its guard, its
#: task group and its frame: a review part's, on the member's running agent (``extra.py``, ADR 0032).
Opener = Callable[[Path, Guard, TaskGroup, "str | None"], SessionPort]


class Member(MemberParts):
    _opener: Opener | None = None

    def share(self, opener: Opener) -> Member:
        """Before entering: open this member's session with ``opener`` instead of starting an agent."""
        self._opener = opener
        return self

    async def __aenter__(self) -> Member:
        tg = self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        tg.start_soon(self._turnlog.run)
        if self.workspace is not None and self.member.error is None:
            guard = Guard(self.workspace, self.config.flags, self._audit, self._slot, self._request_ids)
            if self._opener is not None:  # a review part: a session of its own on another's agent
                self._session = self._opener(self.workspace, guard, tg, self._frame.system_prompt)
                return self
            self._session = Session(
                self.config,
                self.member,
                self.workspace,
                tg,
                spawn=self._spawn,
                guard=guard,
                system_prompt=self._frame.system_prompt,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        with anyio.CancelScope(shield=True):
            turn = self._slot.current
            if turn is not None and turn.live:
                turn.stop(Event.CANCEL)  # held requests are answered `cancelled`
            if self._session is not None:
                await self._session.stop(fast=True)
            await self._turnlog.close()
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._stack.__aexit__(exc_type, exc, tb)
        self._closed = True

    # -- a turn ----------------------------------------------------------------------------------

    async def consult(
        self, prompt: Brief | str, *, timeout: float | None = None, choice: ModelChoice | None = None
    ) -> TurnResult:
        """Run one prompt as a turn, after every turn queued before it: :meth:`start`, then
        :meth:`wait`. Returns the outcome, or a :class:`~codex_fusion.member.turn.Pause` when the
        agent waits for ``permit``."""
        return await self.wait(await self.start(prompt, timeout=timeout, choice=choice))

    async def start(
        self, prompt: Brief | str, *, timeout: float | None = None, choice: ModelChoice | None = None
    ) -> Turn:
        """Admit, compose and send one prompt; returns the turn, running in this member's task group.

        A ``str`` is sent exactly as given (as a ``consult``). ``choice`` overrides the configured
        model and effort for this turn; a ``reply`` keeps the debate's."""
        brief = prompt if isinstance(prompt, Brief) else Brief.raw(prompt)
        session = self._ready()
        self._check_startable(brief)
        bound = self.config.turn_timeout if timeout is None else timeout
        keep = brief.tool == "reply" and (choice is None or choice.empty)  # the debate's model goes on
        wanted = None if keep else (choice or ModelChoice()).over(self.default_model)
        await self._runner.admit(bound)
        holding = True  # the admission slot, until it is handed on
        try:
            live = await session.ensure()
            while self._runner.exclusive_waiting:  # a reset or fork came meanwhile: it goes first
                holding = False
                await self._runner.step_aside(bound)
                holding = True
                live = await session.ensure()
            selected = await session.select(wanted)
            prompt_text = self._debate.prompt(brief, live.session_id, system_prompt=live.framed)
            turn = Turn(
                live.session_id,
                tool=brief.tool,
                member=self.member.name,
                timeout=bound,
                audit=self._audit,
                round_number=self._debate.next_round(brief.tool),  # after prompt(): it follows the session
                selected=selected,
                changes=self.changes,
            )
        except BaseException as exc:
            if holding:
                self._runner.release()
            if isinstance(exc, AgentError):
                self.last_error = exc.summary
            raise
        for notice in session.take_notices():
            turn.session_notice(notice)
        self._slot.current, self._slot.unclaimed = turn, None
        assert self._tg is not None
        self._tg.start_soon(self._run, session, live, turn, prompt_text)
        self._tg.start_soon(self._see_stops, session, turn)
        return turn

    def _check_startable(self, brief: Brief) -> None:
        """Refuse a ``reply`` with no debate open, and any turn while this member is paused."""
        if brief.tool == "reply" and not self._debate.open:
            raise ConsultError(
                "There is no debate to reply to: Codex has not answered a consult, review or brainstorm "
                "in its current session (a reset or a restart starts a fresh one). Start with `consult`."
            )
        current = self._slot.current
        pause = current.pause() if current is not None else None
        if pause is not None:
            raise ConsultError(
                f"{self.member.display} is paused, waiting for your decision on: {pause.summary}. "
                "Call `permit` (allow or deny) first, then ask again."
            )

    async def _run(self, session: SessionPort, live: Live, turn: Turn, prompt: str) -> None:
        """The turn's driver task: drive it to its end, then record it and give the slot back."""
        try:
            await drive.drive(session, live, turn, prompt, grace=self.config.cancel_grace)
        finally:
            if self._waiters == 0:
                self._slot.unclaimed = turn
            if self._slot.current is turn:
                self._slot.current = None
            try:
                self._finished(turn)
            except Exception:
                log.exception("recording a finished turn failed")
            finally:
                self._runner.release()

    async def _see_stops(self, session: SessionPort, turn: Turn) -> None:
        await drive.see_stops(session, turn, grace=self.config.cancel_grace, closing=self._closing)

    async def wait(self, turn: Turn) -> TurnResult:
        """Wait for ``turn``'s next pause or its end; a cancelled wait cancels the turn."""
        self._waiters += 1
        try:
            result = await drive.wait_for(turn)
        finally:
            self._waiters -= 1
            if turn.done and self._slot.unclaimed is turn:
                self._slot.unclaimed = None
        if not turn.done:
            self._runner.bounce()  # consults queued behind a pause would wait on Claude
        return result

    def _finished(self, turn: Turn) -> None:
        outcome = turn.outcome
        if outcome is not None and outcome.round is not None:
            self._debate.record(outcome.round)
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
        self.usage.add(turn.outcome)
        self.ended.notify()

    # -- Claude's answers ------------------------------------------------------------------------

    async def permit(
        self,
        decision: Literal["allow", "deny", "cancel"],
        note: str | None = None,
        *,
        request: str | None = None,
        timeout: float | None = None,
    ) -> TurnResult:
        """Answer the held permission request and wait for the same turn's next pause or end.

        ``request`` (the pause's id, ``r3``) makes sure the answer goes to the request Claude judged:
        a late or repeated ``permit`` for another one is refused, saying what is pending now.
        ``timeout`` replaces the turn's idle bound for the rest of the turn."""
        self._ready()
        wanted = parse_ref(request)
        turn = self._slot.current
        pause = turn.pause() if turn is not None else None
        if turn is None or pause is None:
            if self._slot.unclaimed is not None:
                return await self.wait(self._slot.unclaimed)
            raise ConsultError(
                "No pending permission — it may have completed or been cancelled. Nothing to answer; "
                "`status` shows what Codex is doing."
            )
        held = pause.request
        check_ref(wanted, held, pause.summary)
        if timeout is not None:
            turn.set_idle_limit(timeout)
        if decision == "cancel":
            log.info("guardian: Claude stopped the turn paused on %s", pause.summary)
            await turn.stop_and_wait(Event.CANCEL, Note(NoteKind.STOPPED))
            return await self.wait(turn)
        choice = choose_for(decision, held.options)
        continuation = self._debate.decided(pause.summary, decision, choice, (note or "").strip())
        if continuation is not None:
            turn.continue_after(continuation)
        turn.answer(held, decision, choice)
        verb = "allowed" if decision == "allow" else "denied"
        log.info("guardian: Claude %s %s (option %s)", verb, pause.summary, choice.option_id)
        return await self.wait(turn)

    async def cancel(self) -> None:
        """Cancel the turn in flight (held requests are answered `cancelled`)."""
        self._ready()
        if self._slot.current is not None:
            await self._slot.current.stop_and_wait(Event.CANCEL)

    # -- the session: reset, reopen, fork (switch.py holds admission while it is replaced) --------

    async def reset(self, *, then: Reopen | None = None, notice: Note | None = None) -> ResetReport:
        """Drop the agent's context: the turn in flight stops, the session closes, the debate is
        forgotten; the next call opens a new session — or ``then``'s earlier one. ``notice`` is said
        in the next result."""
        return await self._switch.reset(self._ready(), then=then, notice=notice)

    async def adopt(self, reopen: Reopen) -> bool:
        """Open ``reopen``'s session on the next call, unless a session is open already."""
        return self._session is not None and await self._switch.adopt(self._session, reopen)

    async def fork(self) -> str | None:
        """Claude forked the conversation: go on in a fork of the agent's session (None: cannot fork;
        the next call starts fresh and says so)."""
        return await self._switch.fork(self._ready())

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

    def adopt_review(self, outcome: TurnOutcome, tool: str) -> TurnOutcome:
        """A review done in parallel parts (``review/parts.py``) becomes this member's debate round 1."""
        round_ = self._debate.adopt(tool, outcome.text)
        return dataclasses.replace(outcome, round=round_, member=self.member.name)
