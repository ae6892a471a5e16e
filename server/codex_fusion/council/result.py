"""A council round as values: each member's seat, the debate now open, and the result the caller
presents — what progress, the renderers and the tools read without the council that runs rounds
(``council.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from codex_fusion.council import agreement, table
from codex_fusion.errors import FusionError
from codex_fusion.member.debate import MAX_ROUNDS, Standing, VerdictLine
from codex_fusion.member.turn import Pause, Turn, TurnOutcome, TurnResult
from codex_fusion.member.usage import Price
from codex_fusion.text.prompts import Brief

__all__ = ["Answer", "CouncilDebate", "CouncilResult", "Seat"]

#: What one member gave in one round: an answer, a pause, or the error that kept it from answering.
Answer = TurnResult | FusionError


@dataclass
class Seat:
    """One member's place in the council debate."""

    name: str
    answer: Answer | None = None  # the latest round's
    last_text: str = ""  # its latest finished answer, quoted to the others
    saw_take: bool = False  # it has been shown Claude's take
    #: Where it is in the round being asked ("queued", "working", "answered", "failed", …) and
    #: the turn it is answering in, while it does (progress reads both).
    stage: str | None = None
    turn: Turn | None = None

    @property
    def verdict(self) -> VerdictLine | None:
        answer = self.answer
        if isinstance(answer, TurnOutcome) and answer.round is not None:
            return answer.round.verdict
        return VerdictLine(Standing.MISSING) if isinstance(answer, TurnOutcome) else None

    @property
    def absent(self) -> str | None:
        """Why this seat has no answer this round, or None when it answered."""
        answer = self.answer
        if isinstance(answer, Pause):
            return f"paused on request {answer.request.ref}"
        if isinstance(answer, FusionError):
            return "failed"
        if isinstance(answer, TurnOutcome) and answer.stop_reason not in ("end_turn", ""):
            return answer.stop_reason
        return None if answer is not None else "no answer"


@dataclass
class CouncilDebate:
    """The council debate now open: the question, Claude's take, each member's seat, the round."""

    brief: Brief
    my_take: str
    seats: dict[str, Seat]
    outside: frozenset[str]
    round: int = 1
    asked: tuple[str, ...] = ()  # the seats asked in the round under way (or the last one)
    findings: table.FindingsTable | None = None  # merged findings, updated each round (table.py)

    def standings(self) -> agreement.Standings:
        verdicts = {}
        absent = {}
        for name, seat in self.seats.items():
            why = seat.absent
            if why is not None:
                absent[name] = why
            elif (verdict := seat.verdict) is not None:
                verdicts[name] = verdict
        return agreement.standings(self.round, verdicts, absent, self.outside, table.unavailable(self.seats))

    @property
    def limit_reached(self) -> bool:
        return self.round >= MAX_ROUNDS and not self.standings().unanimous


@dataclass(frozen=True)
class CouncilResult:
    """One council round (or a seat that changed after ``permit``), for the caller to present."""

    tool: str
    round: int
    my_take: str
    seats: tuple[Seat, ...]  # in member order; only the seats this result is about
    standings: agreement.Standings
    limit_reached: bool
    whole: bool = True  # every seat of the round (False: one seat after a permit)
    findings: table.FindingsTable | None = None
    prices: Mapping[str, Price] = field(default_factory=dict)  # the user's, for the footer
