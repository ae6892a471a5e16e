"""What a reset dropped, and what a resumed conversation opens again: values with next to nothing
below them, so what renders or carries them need not import the member that makes them."""

from __future__ import annotations

from dataclasses import dataclass

from codex_fusion.member.verdict import Round, VerdictLine


@dataclass(frozen=True)
class ResetReport:
    """What a reset dropped."""

    session_id: str | None  # the Codex session closed, if one was open
    rounds: int  # answers in the debate it ended
    stopped_turn: str | None  # the tool whose turn was stopped, if one was running


@dataclass(frozen=True)
class Reopen:
    """An earlier session to open again (a conversation Claude resumed), and where its debate stood."""

    codex_session: str
    rounds: int = 0
    verdict: VerdictLine | None = None

    @property
    def round(self) -> Round | None:
        return Round(self.rounds, self.verdict) if self.verdict is not None else None
