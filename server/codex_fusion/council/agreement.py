"""Where a council stands after a round, computed from each member's parsed VERDICT line. Pure.

The server never judges whether two conclusions say the same thing; it reports what each member
declared — settled (``CONSENSUS``), open and on what, no verdict, no answer — and whether agreement
has an *outside voice*: a member that is not the same model family as the host (Claude consulting a
``claude`` member is consulting itself, so that member's consensus alone is not agreement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from codex_fusion.member.debate import Standing, VerdictLine


@dataclass(frozen=True)
class Standings:
    """Each member's standing after one council round (members that gave no answer are ``absent``)."""

    round: int
    settled: tuple[tuple[str, str], ...]  # (member, its conclusion)
    open: tuple[tuple[str, str], ...]  # (member, the point it holds open)
    missing: tuple[str, ...]  # answered without a VERDICT line
    absent: tuple[tuple[str, str], ...]  # (member, why: paused, failed, timed out …)
    outside: frozenset[str]  # members that count as an outside voice
    #: (member, cause) for the absent members that are unavailable (quota, login, timeout, crash):
    #: a state of the seat, neither open nor agreeing (:mod:`codex_fusion.member.availability`).
    unavailable: tuple[tuple[str, str], ...] = ()

    @property
    def no_answer(self) -> tuple[tuple[str, str], ...]:
        """The absent members that are not unavailable (paused, failed some other way)."""
        down = {name for name, _ in self.unavailable}
        return tuple(item for item in self.absent if item[0] not in down)

    @property
    def complete(self) -> bool:
        """Every member has answered (none paused or failed)."""
        return not self.absent

    @property
    def outside_agrees(self) -> bool:
        return any(name in self.outside for name, _ in self.settled)

    @property
    def unanimous(self) -> bool:
        return (
            bool(self.settled) and not (self.open or self.missing or self.no_answer) and self.outside_agrees
        )


def standings(
    round_number: int,
    verdicts: Mapping[str, VerdictLine],
    absent: Mapping[str, str],
    outside: frozenset[str],
    unavailable: Mapping[str, str] | None = None,
) -> Standings:
    """The standings of one round, in member order (the order of ``verdicts`` then ``absent``);
    ``unavailable``: the cause, for absent members that were unavailable."""
    settled = tuple((n, v.summary) for n, v in verdicts.items() if v.standing is Standing.CONSENSUS)
    held = tuple((n, v.summary) for n, v in verdicts.items() if v.standing is Standing.OPEN)
    missing = tuple(n for n, v in verdicts.items() if v.standing is Standing.MISSING)
    down = tuple((n, why) for n, why in (unavailable or {}).items() if n in absent)
    return Standings(round_number, settled, held, missing, tuple(absent.items()), outside, down)


def _names(items: tuple[tuple[str, str], ...] | tuple[str, ...]) -> str:
    return ", ".join(item if isinstance(item, str) else item[0] for item in items)


def line(state: Standings, *, clip: int = 120) -> str:
    """One line for Claude: who is settled or agrees, who holds what open, who did not answer."""

    def short(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= clip else text[: clip - 1].rstrip() + "…"

    blind = state.round == 1
    parts: list[str] = []
    if state.settled:
        word = "settled (blind, compare their conclusions)" if blind else "agree"
        parts.append(f"{word}: {_names(state.settled)}")
    if state.open:
        parts.append(
            "open: " + "; ".join(f"{n} — {short(point) or 'no point given'}" for n, point in state.open)
        )
    if state.missing:
        parts.append(f"no verdict: {_names(state.missing)}")
    if state.no_answer:
        parts.append("no answer: " + "; ".join(f"{n} ({why})" for n, why in state.no_answer))
    if state.unavailable:
        parts.append("unavailable, not counted: " + "; ".join(f"{n} ({why})" for n, why in state.unavailable))
    head = f"Council round {state.round}"
    if state.unanimous and not blind:
        head += f": all {len(state.settled)} {'available ' if state.unavailable else ''}agree"
    text = f"{head} — " + " · ".join(parts) if parts else f"{head} — nobody answered"
    if state.settled and not state.outside_agrees:
        text += (
            f" · no outside voice: only {_names(state.settled)} (your own model family) settled, "
            "which is not agreement"
        )
    return text
