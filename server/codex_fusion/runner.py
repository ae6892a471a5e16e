"""Turns, one at a time: FIFO admission, the task that drives each turn, the idle clock, cancel.

A turn is driven by a task of the Consultant's task group, not by the tool call that started it:
when the turn pauses for Claude, the call returns at once while the turn waits; ``permit`` answers
the held request and :meth:`Runner.wait` picks up the same turn again. The admission slot belongs to
the turn and is released when the driver finishes.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from .debate import Round
from .errors import AgentError, ConsultError, RpcError
from .models import ModelChoice
from .notes import Audit, Note
from .session import Live, Session
from .turn import Event, Turn, TurnObserver, TurnResult, TurnState

log = logging.getLogger(__name__)

PAUSED_REFUSAL = (
    "Not sent to Codex: Codex is paused, waiting for your `permit` decision on another request. "
    "Call `permit` first, then ask again."
)


@dataclass
class _Ticket:
    go: anyio.Event = field(default_factory=anyio.Event)
    bounced: str | None = None


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
        self._stopping: set[Turn] = set()
        #: The turn admitted and not yet finished.
        self.current: Turn | None = None
        #: A turn that ended with nobody waiting (its pause was withdrawn): ``permit`` returns it.
        self.unclaimed: Turn | None = None

    @property
    def queue_length(self) -> int:
        """Turns waiting for admission (not counting the one running)."""
        return len(self._queue)

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
        effort; ``None`` keeps the session's), and send ``compose(live)``."""
        current = self.current
        if current is not None and current.state is TurnState.PAUSED:
            pause = current.pause()
            assert pause is not None
            raise ConsultError(
                f"Codex is paused, waiting for your decision on: {pause.summary}. "
                "Call `permit` (allow or deny) first, then ask again."
            )
        await self._admit()
        try:
            if on_start is not None:
                on_start()
            live = await self._session.ensure()
            selected = await self._session.select(choice)
            prompt = compose(live)
            turn = Turn(live.session_id, tool=tool, timeout=timeout, audit=self._audit, judge=judge)
            turn.selected = selected
            for notice in self._session.take_notices():
                turn.session_notice(notice)
            self.current, self.unclaimed = turn, None
            self._tg.start_soon(self._drive, live, turn, prompt)
        except BaseException:
            self._release()
            raise
        return turn

    async def _admit(self) -> None:
        if not self._busy and not self._queue:
            self._busy = True
            return
        ticket = _Ticket()
        self._queue.append(ticket)
        try:
            await ticket.go.wait()
        except anyio.get_cancelled_exc_class():
            if ticket in self._queue:
                self._queue.remove(ticket)  # cancelled while queued: nothing was sent to Codex
            elif ticket.bounced is None:
                self._release()  # handed the turn just as we were cancelled: pass it on
            raise
        if ticket.bounced is not None:
            raise ConsultError(ticket.bounced)

    def _release(self) -> None:
        if self._queue:
            self._queue.popleft().go.set()
        else:
            self._busy = False

    def _bounce_queue(self) -> None:
        """Turns queued behind a paused turn would wait on Claude, who may be waiting on them."""
        while self._queue:
            ticket = self._queue.popleft()
            ticket.bounced = PAUSED_REFUSAL
            ticket.go.set()

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
            turn.fail(
                ConsultError(
                    f"Codex failed this turn: {exc.describe()} (code {exc.code}). The session is kept; "
                    "try again, or call `status` for the agent's stderr."
                )
            )
        except BaseException as exc:  # cancelled (shutdown) or a bug: never leave a waiter hanging
            if not turn.done:
                turn.fail(ConsultError(f"The turn was interrupted: {exc!r}"))
            raise
        finally:
            if self._waiters == 0:
                self.unclaimed = turn
            if self.current is turn:
                self.current = None
            self._on_finished(turn)
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
                if not turn.live:  # stopped (by us, by a cap, by a reset): see it to the end
                    with anyio.CancelScope(shield=True):
                        await self._complete_stop(turn)
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
        """Stop a live turn: held requests are answered, Codex is told, and killed if it does not stop."""
        if turn.live:
            turn.stop(event, why)
        await self._complete_stop(turn)

    async def _complete_stop(self, turn: Turn) -> None:
        """Send ``session/cancel`` for a stopped turn and wait the grace; then kill the agent.

        Whoever waits on a stopped turn calls this; the first caller does the work, others wait for it."""
        if turn.done or turn.live:
            return
        if turn in self._stopping:
            await turn.finished.wait()
            return
        self._stopping.add(turn)
        try:
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
        finally:
            self._stopping.discard(turn)


async def _first(*events: anyio.Event) -> None:
    """Wait until any of the events is set."""
    async with anyio.create_task_group() as tg:
        for event in events:

            async def wait(event: anyio.Event = event) -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(wait)
