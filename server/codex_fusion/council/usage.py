"""What a council round used, per member and summed (the footer under the agreement line), and what
``status`` shows per member for the session and for the debate now open. From
:mod:`codex_fusion.member.usage`: only what the agents reported, or the user's price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from codex_fusion.member.turn import TurnOutcome
from codex_fusion.member.usage import MemberUsage, Price, Totals, cost, summed

__all__ = ["Price", "lines", "round_footer"]


def lines(members: Mapping[str, MemberUsage]) -> list[str]:
    """What ``status`` shows: per member, this session; then the council debate now open."""
    used = {name: usage for name, usage in members.items() if usage.session.turns}
    if not used:
        return []
    out = ["usage this session (as the agents reported it):"]
    out += [f"  {name}: {u.session.turns} turn(s), {u.session.text()}" for name, u in used.items()]
    debate = [u.debate for u in used.values() if u.debate.turns]
    if debate:
        out.append(f"usage of the council debate now open: {summed(debate).text()}")
    return out


def _member(name: str, outcome: TurnOutcome, prices: Mapping[str, Price]) -> tuple[str, Totals]:
    spent, how = cost(outcome.usage, outcome.model.model if outcome.model else None, prices)
    totals = Totals()
    totals.add(outcome.usage, outcome.elapsed, spent)
    text = totals.text()
    if how == "priced":
        text = text.replace(f"${spent:.4f}", f"${spent:.4f} at your price")
    return f"{name}: {text}", totals


def round_footer(seats: Iterable[object], prices: Mapping[str, Price] | None = None) -> str | None:
    """One line: each answering member's usage this round, then the round's sum."""
    parts: list[str] = []
    whole = Totals()
    for seat in seats:
        answer = getattr(seat, "answer", None)
        if not isinstance(answer, TurnOutcome):
            continue
        text, totals = _member(str(getattr(seat, "name", answer.member)), answer, prices or {})
        parts.append(text)
        spent = totals.cost
        whole.add(answer.usage, 0.0, spent)
        whole.seconds = max(whole.seconds, answer.elapsed)  # members run at once: wall time
    if not parts:
        return None
    line = "Usage this round · " + " · ".join(parts)
    if len(parts) > 1:
        line += f" · round: {whole.text()} (time: the slowest member)"
    return line
