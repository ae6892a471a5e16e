"""Replacing a member's session — reset, reopen, fork — while admission is held.

A reset or a fork goes ahead of every queued consult and stops the turn in flight (its held
requests answered ``cancelled``); no turn is admitted until the session is replaced, so a consult
queued meanwhile runs in the new session, never in the one being closed under it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from codex_fusion.member.debate import Debate
from codex_fusion.member.notes import Note, NoteKind
from codex_fusion.member.ports import SessionPort
from codex_fusion.member.reports import Reopen, ResetReport
from codex_fusion.member.runner import Runner
from codex_fusion.member.turn import Event, TurnSlot

log = logging.getLogger(__name__)


class Switch:
    """One member's session switches; the member owns the runner, the slot and the debate."""

    def __init__(self, runner: Runner, slot: TurnSlot, debate: Debate) -> None:
        self._runner = runner
        self._slot = slot
        self._debate = debate

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[str | None]:
        """Hold admission, ahead of every queued consult, with the turn in flight stopped. Yields
        the tool of the turn it stopped, if any."""
        stopped: str | None = None
        ticket = self._runner.reserve()
        if ticket is not None:
            turn = self._slot.current
            try:
                if turn is not None and not turn.done:
                    stopped = turn.tool
                    await turn.stop_and_wait(Event.CANCEL, Note(NoteKind.RESET))
            except BaseException:
                self._runner.abandon(ticket)
                raise
            await self._runner.claim(ticket)
        try:
            yield stopped
        finally:
            self._runner.release()

    async def reset(
        self, session: SessionPort, *, then: Reopen | None = None, notice: Note | None = None
    ) -> ResetReport:
        """Drop the agent's context: stop the turn in flight (held requests are answered
        ``cancelled``), close the session and forget the debate. The agent stays up; the next call
        opens a new session — or ``then``'s earlier one (Claude resumed another conversation).
        ``notice`` is said in the next result. No turn is admitted until the session is replaced."""
        async with self._exclusive() as stopped:
            session_id, rounds = session.session_id, self._debate.rounds
            closed = await session.reset()
            self._debate.reset()
            if then is not None:
                session.reopen(then.codex_session)
                self._debate.expect(then.codex_session, then.rounds, then.round)
            if notice is not None:
                session.notice(notice)
        log.info("reset: dropped session %s after %d round(s)", closed or session_id, rounds)
        return ResetReport(session_id=closed or session_id, rounds=rounds, stopped_turn=stopped)

    async def adopt(self, session: SessionPort, reopen: Reopen) -> bool:
        """Open ``reopen``'s session on the next call, unless a session is open already (a turn
        started meanwhile): the first record of the conversation we serve, or the server's start."""
        if not await session.reopen_unless_open(reopen.codex_session):
            return False
        self._debate.expect(reopen.codex_session, reopen.rounds, reopen.round)
        return True

    async def fork(self, session: SessionPort) -> str | None:
        """Claude forked the conversation: go on in a fork of the agent's session (its context
        copied), leaving the original as it was. None when there is no session or the agent cannot
        fork; then the next call starts fresh and says so. Holds admission, as reset."""
        async with self._exclusive():
            forked = await session.fork()
            if forked is None:
                self._debate.reset()
            else:
                self._debate.expect(forked, self._debate.rounds, self._debate.last)
        return forked
