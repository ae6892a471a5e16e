"""Progress for the host: what a waiting tool call shows, a few messages a second, plus a heartbeat.

Progress is rendered here, in the MCP layer, from state read down: a turn's transcript, a council's
seats, a task. Nothing below calls the pump. It wakes on the member layer's event stream
(:class:`~codex_fusion.member.signal.Changes`) or its own :meth:`ProgressPump.set`, looks at what it
follows, and sends the line when it changed — at most once per ``interval``, so a 20,000-chunk
answer costs a few renders, not 20,000.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import anyio

from codex_fusion.council.result import CouncilDebate
from codex_fusion.member.render import PROGRESS_TAIL, stream_of, streamed_line, turn_line
from codex_fusion.member.signal import Changes
from codex_fusion.member.turn import Turn
from codex_fusion.tasks.task import Task
from codex_fusion.text.redact import redact_credentials

__all__ = [
    "PROGRESS_TAIL",
    "ProgressPump",
    "heartbeat",
    "member_line",
    "parts_line",
    "seats_line",
    "stream_of",
    "streamed_line",
    "tasks_line",
    "turn_line",
]

SendProgress = Callable[[float, str], Awaitable[None]]
#: How long a call runs before its first progress line is made.
FIRST_LOOK_S = 0.1
#: What to show now, computed when it is sent (``final``: the call is ending), or None: nothing yet.
Source = Callable[[bool], str | None]


class Turning(Protocol):
    """A member, as far as its progress goes: the turn it has in flight."""

    @property
    def current_turn(self) -> Turn | None: ...


def member_line(member: Turning, final: bool = False) -> str | None:
    """The line of the turn a member has in flight (a ``permit`` follows the member it answers)."""
    turn = member.current_turn
    return turn_line(turn, final) if turn is not None else None


def seats_line(debate: CouncilDebate | None, final: bool = False) -> str | None:
    """One line per member asked in the council round: its stream, or where it is."""
    if debate is None or not debate.asked:
        return None
    parts = []
    for name in debate.asked:
        seat = debate.seats[name]
        line = turn_line(seat.turn, final) if seat.turn is not None and not seat.turn.done else None
        parts.append(f"{name}: {line or seat.stage or 'queued'}")
    return " · ".join(parts)


def tasks_line(tasks: Sequence[Task]) -> str | None:
    """Where each task a call waits on is (its live turn's line, or its stage)."""
    shown = [f"{task.id}: {task.progress}" for task in tasks if task.progress]
    return " · ".join(shown) or None


def parts_line(states: Sequence[str]) -> str | None:
    """Where each part of a review in parts is."""
    return " · ".join(f"part {i + 1}: {state}" for i, state in enumerate(states)) or None


def heartbeat(started: float, doing: str, latest: str | None) -> str:
    elapsed = time.monotonic() - started
    return f"⏳ {elapsed:.0f}s · {doing}" + (f" · {latest}" if latest else "")


class ProgressPump:
    """Sends the latest message at most ``1/interval`` times a second; while nothing new arrives, a
    heartbeat (elapsed time and what the agent is doing) every ``heartbeat`` seconds, so a long
    silent command still shows life. What goes out is redacted as what Claude reads, computed only
    when it is sent."""

    def __init__(
        self,
        send: SendProgress,
        *,
        interval: float = 0.25,
        heartbeat: float = 5.0,
        changes: Changes | None = None,
    ) -> None:
        self._send = send
        self._interval = interval
        self._heartbeat = heartbeat
        self._changes = changes if changes is not None else Changes()
        self._source: Source | None = None
        self._seen = -1  # the version of the event stream last looked at
        self._started = time.monotonic()
        self._last_emit = self._started
        self._count = 0
        self._last_sent: str | None = None
        self.sent = 0
        self.status = "waiting for Codex"

    def follow(self, source: Source) -> None:
        """Show ``source``'s line from now on (computed when sent)."""
        self._source = source
        self._changes.notify()

    def set(self, message: str) -> None:
        self.follow(lambda _final: message)

    def set_status(self, status: str) -> None:
        """What the heartbeat says the agent is doing (queued, starting, working, paused…)."""
        self.status = status

    def _shown(self, *, final: bool = False) -> str | None:
        """The latest message as it may be shown."""
        line = self._source(final) if self._source is not None else None
        return None if line is None else redact_credentials(line)

    async def _emit(self, message: str) -> None:
        self._count += 1
        await self._send(float(self._count), message)
        self.sent += 1
        self._last_sent = message
        self._last_emit = time.monotonic()

    async def run(self, waited: float = 0.0) -> None:
        """Send until cancelled. Cancel it when the call ends, then call :meth:`flush`.

        The first look waits a moment (the interval, at most :data:`FIRST_LOOK_S`, less the ``waited``
        before this started): a call answered sooner shows no progress at all, and costs none."""
        await anyio.sleep(max(min(self._interval, FIRST_LOOK_S) - waited, 0.0))
        while True:
            if self._changes.version == self._seen:
                quiet = self._heartbeat - (time.monotonic() - self._last_emit)
                with anyio.move_on_after(max(quiet, 0) if math.isfinite(quiet) else math.inf):
                    await self._changes.wait()
            if self._changes.version != self._seen:
                self._seen = self._changes.version
                shown = self._shown()
                if shown is None or shown == self._last_sent:
                    continue
                await self._emit(shown)
            else:
                await self._emit(redact_credentials(heartbeat(self._started, self.status, self._shown())))
            await anyio.sleep(self._interval)

    async def flush(self) -> None:
        """Send the final state if it has not gone out yet (the pump may have been cancelled mid-send).

        Not when nothing was shown yet: a turn that ended before its first progress message was due
        would only send it a moment before the result itself."""
        if not self.sent:
            return
        final = self._shown(final=True)
        if final is not None and final != self._last_sent:
            await self._emit(final)
