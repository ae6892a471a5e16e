"""Admission: one turn at a time per member, FIFO, bounded, with resets and forks first.

The runner only admits. It holds no turn and calls nobody: the member asks it for the slot
(:meth:`Runner.admit`), drives the turn it was admitted for (``drive.py``) and gives the slot back
(:meth:`Runner.release`) when the turn's driver ends.

Admission is bounded: at most :data:`MAX_QUEUED` consults wait, each at most its idle bound. A reset
or a fork asks for the slot with :meth:`Runner.reserve`, ahead of every queued consult, so no turn is
admitted into a session being replaced; a consult admitted meanwhile but not yet sent steps aside
(:meth:`Runner.step_aside`). A consult queued behind a paused turn is bounced (:meth:`Runner.bounce`):
it would wait on Claude, who may be waiting on it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

import anyio

from codex_fusion.errors import ConsultError


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
class Ticket:
    """A place in the queue; ``go`` is set when the slot is handed to it."""

    go: anyio.Event = field(default_factory=anyio.Event)
    bounced: str | None = None
    exclusive: bool = False  # a reset or a fork: ahead of every consult, never bounced


class Runner:
    def __init__(self, name: str) -> None:
        self._name = name  # the member's display name, for refusals
        self._busy = False
        self._queue: deque[Ticket] = deque()

    @property
    def queue_length(self) -> int:
        """Turns waiting for admission (not counting the one running)."""
        return sum(not ticket.exclusive for ticket in self._queue)

    @property
    def exclusive_waiting(self) -> bool:
        """A reset or a fork waits for the slot: a consult admitted but not yet sent steps aside."""
        return bool(self._queue) and self._queue[0].exclusive

    async def admit(self, timeout: float) -> None:
        """Take the slot after every turn queued before; refuse when the queue is full or after
        ``timeout`` seconds of waiting."""
        if not self._busy and not self._queue:
            self._busy = True
            return
        if self.queue_length >= MAX_QUEUED:
            raise ConsultError(queue_full(self._name))
        ticket = Ticket()
        self._queue.append(ticket)
        await self._wait_turn(ticket, timeout)

    async def step_aside(self, timeout: float) -> None:
        """Hand the slot to the reset or fork waiting for it; be first among consults after it."""
        ticket = Ticket()
        self._queue.insert(self._exclusive_count(), ticket)
        self.release()
        await self._wait_turn(ticket, timeout)

    def reserve(self) -> Ticket | None:
        """A reset's or a fork's claim on the slot, ahead of every consult: None when the slot was
        free and is now taken; else a ticket to :meth:`claim` once the turn in flight has stopped."""
        if not self._busy and not self._queue:
            self._busy = True
            return None
        ticket = Ticket(exclusive=True)
        self._queue.insert(self._exclusive_count(), ticket)
        return ticket

    async def claim(self, ticket: Ticket) -> None:
        try:
            await ticket.go.wait()
        except BaseException:
            self.abandon(ticket)
            raise

    def release(self) -> None:
        """Give the slot to the next in line (or free it)."""
        if self._queue:
            self._queue.popleft().go.set()
        else:
            self._busy = False

    def abandon(self, ticket: Ticket) -> None:
        if ticket in self._queue:
            self._queue.remove(ticket)  # gave up while queued: nothing was sent
        elif ticket.bounced is None:
            self.release()  # handed the slot just as we gave up: pass it on

    def bounce(self) -> None:
        """Refuse every consult queued behind a paused turn (it would wait on Claude)."""
        for ticket in [queued for queued in self._queue if not queued.exclusive]:
            self._queue.remove(ticket)
            ticket.bounced = paused_refusal(self._name)
            ticket.go.set()

    async def _wait_turn(self, ticket: Ticket, timeout: float) -> None:
        """Wait until ``ticket`` is handed the slot; refuse after ``timeout`` seconds."""
        try:
            with anyio.move_on_after(timeout):
                await ticket.go.wait()
        except anyio.get_cancelled_exc_class():
            self.abandon(ticket)
            raise
        if not ticket.go.is_set():
            self.abandon(ticket)
            raise ConsultError(queue_timeout(timeout, self._name))
        if ticket.bounced is not None:
            raise ConsultError(ticket.bounced)

    def _exclusive_count(self) -> int:
        return sum(1 for queued in self._queue if queued.exclusive)
