"""A debate answer's standing: the VERDICT line, parsed (never guessed), and the round it closes.

Codex ends every deliberative answer with ``VERDICT: CONSENSUS — …`` or ``VERDICT: OPEN — …``;
:func:`parse_verdict` reads the last one (``missing`` when there is none). After round
:data:`MAX_ROUNDS` without consensus, Claude is told to stop arguing and decide. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from codex_fusion.text import prompts

MAX_ROUNDS: Final = prompts.MAX_EXCHANGES

_VERDICT_LINE = re.compile(
    r"^[\s>*_`#-]*VERDICT[\s*_`]*[:：][\s*_`]*(CONSENSUS|OPEN)\b[\s*_`]*(?:[—–\-:=|]+)?\s*(.*?)[\s*_`]*$",
    re.IGNORECASE | re.MULTILINE,
)


class Standing(StrEnum):
    CONSENSUS = "consensus"
    OPEN = "open"
    MISSING = "missing"


@dataclass(frozen=True)
class VerdictLine:
    standing: Standing
    summary: str = ""


def parse_verdict(answer: str) -> VerdictLine:
    """The last ``VERDICT:`` line of an answer, however it is dashed, spaced or emphasised."""
    matches = list(_VERDICT_LINE.finditer(answer))
    if not matches:
        return VerdictLine(Standing.MISSING)
    last = matches[-1]
    summary = last.group(2).strip().rstrip("*_` ").strip()
    return VerdictLine(Standing(last.group(1).lower()), summary)


@dataclass(frozen=True)
class Round:
    """Where the debate stands after one answer."""

    number: int  # 1, 2, …; 0 for a stand-alone turn (explore)
    verdict: VerdictLine

    @property
    def limit_reached(self) -> bool:
        return self.number >= MAX_ROUNDS and self.verdict.standing is not Standing.CONSENSUS


def judge(number: int, answer: str) -> Round:
    """The round an answer closes: its number (0: a turn outside any debate) and its verdict."""
    return Round(number, parse_verdict(answer) if number else VerdictLine(Standing.MISSING))
