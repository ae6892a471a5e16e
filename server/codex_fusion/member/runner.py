"""Turns, one at a time: FIFO admission, the task that drives each turn, the idle clock, cancel.

A turn is driven by a task of the Consultant's task group, not by the tool call that started it:
when the turn pauses for Claude, the call returns at once while the turn waits; ``permit`` answers
the held request and :meth:`Runner.wait` picks up the same turn again. The admission slot belongs to
the turn and is released when the driver finishes.

Admission is bounded: at most :data:`MAX_QUEUED` consults wait, each at most its idle bound. A reset
or a fork takes the slot with :meth:`Runner.exclusive`, ahead of every queued consult, so no turn is
admitted into a session being replaced. A bug inside one turn fails that turn, never the task group.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, Literal

import anyio
from anyio.abc import TaskGroup

from codex_fusion.errors import AgentError, AuthRequired, ConsultError, RpcError
from codex_fusion.launch.models import ModelChoice
from codex_fusion.launch.sessions import login_refused, not_logged_in
from codex_fusion.member.debate import Round
from codex_fusion.member.notes import Audit, Note
from codex_fusion.member.session import Live, Session
from codex_fusion.member.turn import Event, Turn, TurnObserver, TurnResult, TurnState

log = logging.getLogger(__name__)


def paused_refusal(name: str) -> str:
    return (
        f"Not sent to {name}: {name} is paused, waiting for your `permit` decision on another request. "
        "Call `permit` first, then ask again."
    )


#: Consults that may wait behind the one a member is answering; one more is refused at once.
MAX_QUEUED: Final = 8


def queue_full(name: str = "Codex") -> str:
    return (
        f"Not sent to {name}: {MAX_QUEUED} consults are already waiting behind the one {name} is "
        "answering (it answers one at a time). Wait for their results, then ask again."
    )


def queue_timeout(waited: float, name: str = "Codex") -> str:
    return (
        f"Not sent to {name}: this consult waited {waited:g} s (its idle limit) behind another that "
        f"{name} is still answering (one at a time). Ask again when that one has answered; `status` "
        f"shows what {name} is doing, and `reset` stops it."
    )


@dataclass
class _Ticket:
    go: anyio.Event = field(default_factory=anyio.Event)
    bounced: str | None = None
    exclusive: bool = False  # a reset or a fork: ahead of every consult, never bounced


class Runner:
    def __init__(
        self,
        session: Session,
        tg: TaskGroup,
        *,
        audit: Audit,
        cancel_grace: float,
        closing: anyio.Event,
        on_finished: Callable[[Turn], None],
    ) -> None:
        self._session = session
        self._tg = tg
        self._audit = audit
        self._grace = cancel_grace
        self._closing = closing
        self._on_finished = on_finished
        self._busy = False
        self._queue: deque[_Ticket] = deque()
        self._waiters = 0
        #: The turn admitted and not yet finished.
        self.current: Turn | None = None
        #: A turn that ended with nobody waiting (its pause was withdrawn): ``permit`` returns it.
        self.unclaimed: Turn | None = None

    @property
    def queue_length(self) -> int:
        """Turns waiting for admission (not counting the one running)."""
        return sum(not ticket.exclusive for ticket in self._queue)

    # -- admission -------------------------------------------------------------------------------

    async def start(
        self,
        compose: Callable[[Live], str],
        *,
        tool: str,
        timeout: float,
        on_start: Callable[[], None] | None = None,
        judge: Callable[[str, str], Round] | None = None,
        choice: ModelChoice | None = None,
    ) -> Turn:
        """Admit a turn after every turn before it, open the session, select ``choice`` (the model and
        effort; ``None`` keeps the session's), and send ``compose(live)``.

        Waits at most ``timeout`` seconds for admission, behind at most :data:`MAX_QUEUED` others."""
        current = self.current
        if current is not None and current.state is TurnState.PAUSED:
            pause = current.pause()
            assert pause is not None
            raise ConsultError(
                f"{self._session.member.display} is paused, waiting for your decision on: {pause.summary}. "
                "Call `permit` (allow or deny) first, then ask again."
            )
        await self._admit(timeout)
        holding = True
        try:
            if on_start is not None:
                on_start()
            live = await self._session.ensure()
            while self._exclusive_waiting():  # a reset or fork came meanwhile: it goes first
                holding = False
                await self._step_aside(timeout)
                holding = True
                live = await self._session.ensure()
            selected = await self._session.select(choice)
            prompt = compose(live)
            turn = Turn(
                live.session_id,
                tool=tool,
                member=self._session.member.name,
                timeout=timeout,
                audit=self._audit,
                judge=judge,
            )
            turn.selected = selected
            for notice in self._session.take_notices():
                turn.session_notice(notice)
            self.current, self.unclaimed = turn, None
            self._tg.start_soon(self._drive, live, turn, prompt)
            self._tg.start_soon(self._see_stops, turn)
        except BaseException:
            if holding:
                self._release()
            raise
        return turn

    async def _admit(self, timeout: float) -> None:
        if not self._busy and not self._queue:
            self._busy = True
            return
        if self.queue_length >= MAX_QUEUED:
            raise ConsultError(queue_full(self._session.member.display))
        ticket = _Ticket()
        self._queue.append(ticket)
        await self._wait_turn(ticket, timeout)

    async def _wait_turn(self, ticket: _Ticket, timeout: float) -> None:
        """Wait until ``ticket`` is handed the slot; refuse after ``timeout`` seconds."""
        try:
            with anyio.move_on_after(timeout):
                await ticket.go.wait()
        except anyio.get_cancelled_exc_class():
            self._abandon(ticket)
            raise
        if not ticket.go.is_set():
            self._abandon(ticket)
            raise ConsultError(queue_timeout(timeout, self._session.member.display))
        if ticket.bounced is not None:
            raise ConsultError(ticket.bounced)

    def _abandon(self, ticket: _Ticket) -> None:
        if ticket in self._queue:
            self._queue.remove(ticket)  # gave up while queued: nothing was sent to Codex
        elif ticket.bounced is None:
            self._release()  # handed the slot just as we gave up: pass it on

    def _exclusive_waiting(self) -> bool:
        return bool(self._queue) and self._queue[0].exclusive

    async def _step_aside(self, timeout: float) -> None:
        """Hand the slot to the reset or fork waiting for it; be first among consults after it."""
        ticket = _Ticket()
        at = sum(1 for queued in self._queue if queued.exclusive)
        self._queue.insert(at, ticket)
        self._release()
        await self._wait_turn(ticket, timeout)

    def _release(self) -> None:
        if self._queue:
            self._queue.popleft().go.set()
        else:
            self._busy = False

    def _bounce_queue(self) -> None:
        """Turns queued behind a paused turn would wait on Claude, who may be waiting on them."""
        for ticket in [queued for queued in self._queue if not queued.exclusive]:
            self._queue.remove(ticket)
            ticket.bounced = paused_refusal(self._session.member.display)
            ticket.go.set()

    @asynccontextmanager
    async def exclusive(self, why: Note) -> AsyncIterator[str | None]:
        """Hold admission while the session is reset or forked: the turn in flight is stopped (its
        held requests answered ``cancelled``) and no turn is admitted until the block ends, ahead
        of every queued consult. Yields the tool of the turn it stopped, if any."""
        stopped: str | None = None
        if not self._busy and not self._queue:
            self._busy = True
        else:
            ticket = _Ticket(exclusive=True)
            self._queue.insert(sum(1 for queued in self._queue if queued.exclusive), ticket)
            try:
                turn = self.current
                if turn is not None and not turn.done:
                    stopped = turn.tool
                    await self.stop(turn, Event.CANCEL, why)
                await ticket.go.wait()
            except BaseException:
                self._abandon(ticket)
                raise
        try:
            yield stopped
        finally:
            self._release()

    # -- driving ---------------------------------------------------------------------------------

    async def _drive(self, live: Live, turn: Turn, prompt: str) -> None:
        """Own the turn until Codex answers its prompt (and any continuation after a deny)."""
        try:
            next_prompt: str | None = prompt
            while next_prompt is not None:
                result = await live.agent.prompt(live.session_id, next_prompt)
                next_prompt = turn.prompt_ended(result)
        except AgentError as exc:  # the agent died under the turn
            self._session.lost(live.agent)
            if turn.state in (TurnState.CANCELLING, TurnState.TIMING_OUT):
                turn.hard_stop()
            elif not turn.done:
                summary = exc.summary + " It will be restarted on the next call."
                turn.fail(AgentError(summary, stderr_tail=exc.stderr_tail))
        except RpcError as exc:
            name = self._session.member.display
            refused = login_refused(exc)
            if refused is not None:
                turn.fail(AuthRequired(not_logged_in(name, refused) + ".", code=exc.code))
            else:
                turn.fail(
                    ConsultError(
                        f"{name} failed this turn: {exc.describe()} (code {exc.code}). The session is "
                        "kept; try again, or call `status` for the agent's stderr."
                    )
                )
        except Exception as exc:  # a bug in codex-fusion: this turn fails, the server goes on
            log.exception("a %s turn failed unexpectedly", turn.tool)
            if not turn.done:
                turn.fail(
                    ConsultError(
                        f"codex-fusion failed during this turn ({type(exc).__name__}: {exc}): a bug, "
                        "logged with its traceback. The session is kept: ask again, or call `status`."
                    )
                )
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._grace):
                try:  # Codex may still be working on the prompt: the next turn must not overlap it
                    await live.agent.cancel(live.session_id)
                except Exception:
                    log.debug("session/cancel could not be sent", exc_info=True)
        except BaseException:  # cancelled (shutdown): never leave a waiter hanging
            if not turn.done:
                turn.fail(ConsultError("The turn was interrupted: codex-fusion is shutting down."))
            raise
        finally:
            if self._waiters == 0:
                self.unclaimed = turn
            if self.current is turn:
                self.current = None
            try:
                self._on_finished(turn)
            except Exception:
                log.exception("recording a finished turn failed")
            finally:
                self._release()

    async def wait(self, turn: Turn, observer: TurnObserver | None = None) -> TurnResult:
        """Wait for the turn's next pause or its end; a cancelled wait cancels the turn.

        The idle timeout runs only here, while someone waits and Codex works: it counts from
        Codex's last progress and is not running while the turn is paused for Claude.
        """
        turn.observer = observer
        self._waiters += 1
        try:
            while True:
                if turn.done:
                    if self.unclaimed is turn:
                        self.unclaimed = None
                    if turn.error is not None:
                        raise turn.error
                    assert turn.outcome is not None
                    return turn.outcome
                pause = turn.pause()
                if pause is not None:
                    self._bounce_queue()
                    return pause
                if not turn.live:  # stopped (by us, by a cap, by a reset): its stopper ends it
                    await turn.finished.wait()
                    continue
                idle_left = turn.last_progress + turn.timeout - time.monotonic()
                if idle_left <= 0:
                    log.warning("turn idle for %.0fs: timing out", turn.timeout)
                    with anyio.CancelScope(shield=True):
                        await self.stop(turn, Event.TIME_OUT)
                    continue
                with anyio.move_on_after(idle_left):
                    await turn.wait_changed()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.stop(turn, Event.CANCEL)
            raise
        finally:
            self._waiters -= 1
            turn.observer = None

    async def stop(
        self, turn: Turn, event: Literal[Event.CANCEL, Event.TIME_OUT], why: Note | None = None
    ) -> None:
        """Stop a live turn and wait for its end: held requests are answered at once; the turn's
        stopper (:meth:`_see_stops`) tells Codex, and kills it if it does not stop within the grace.
        A caller cancelled meanwhile leaves that to the stopper."""
        if turn.live:
            turn.stop(event, why)
        await turn.finished.wait()

    async def _see_stops(self, turn: Turn) -> None:
        """However a turn is stopped (a cap, a reset, a cancel, the idle clock), Codex is told and,
        if it does not stop, killed — also when nobody waits on the turn (it was paused). One task
        per turn, in the runner's task group: no caller's cancel can leave a turn stopping for ever."""
        while turn.live:
            await turn.wait_changed()
        if turn.done:
            return
        started = time.monotonic()
        agent = self._session.agent_for(turn.session_id)
        if agent is not None:
            try:
                await agent.cancel(turn.session_id)
            except Exception:  # a dead connection: the driver notices on its own
                log.debug("session/cancel could not be sent", exc_info=True)
            if not self._closing.is_set():
                with anyio.move_on_after(self._grace):
                    await _first(turn.finished, self._closing)
        if turn.done:
            log.info("turn %s; Codex stopped in %.2fs", turn.state, time.monotonic() - started)
            return
        log.warning("Codex did not stop within %.1fs; killing the agent", self._grace)
        self._session.kill()
        with anyio.move_on_after(2.0):
            await turn.finished.wait()  # the driver sees the connection close and ends the turn
        if not turn.done:
            turn.hard_stop()


async def _first(*events: anyio.Event) -> None:
    """Wait until any of the events is set."""
    async with anyio.create_task_group() as tg:
        for event in events:

            async def wait(event: anyio.Event = event) -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(wait)
