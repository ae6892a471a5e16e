"""What a council round used, per member and summed: input, cached and output tokens, time, cost.

Only what the agents sent (the prompt result's usage, ``usage_update``): a member whose agent did not
report a number shows "not reported", never an estimate. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from codex_fusion.member.render import format_tokens
from codex_fusion.member.turn import TurnOutcome


def _member(name: str, outcome: TurnOutcome) -> tuple[str, dict[str, int], float | None]:
    usage = outcome.usage
    counts = {
        key: value
        for key, value in (
            ("in", usage.input_tokens),
            ("cached", usage.cached_tokens),
            ("out", usage.output_tokens),
        )
        if value is not None
    }
    if not counts and usage.total_tokens is not None:
        counts["total"] = usage.total_tokens
    shown = (
        ", ".join(f"{key} {format_tokens(value)}" for key, value in counts.items()) or "tokens not reported"
    )
    cost = f", {usage.cost:.4f} {usage.currency or ''}".rstrip() if usage.cost is not None else ""
    return f"{name} {shown}{cost}, {outcome.elapsed:.1f}s", counts, usage.cost


def round_footer(seats: Iterable[object]) -> str | None:
    """One line: each answering member's usage this round, then the sum of what was reported."""
    parts: list[str] = []
    total: dict[str, int] = {}
    cost = 0.0
    costed = False
    reported: list[str] = []
    for seat in seats:
        answer = getattr(seat, "answer", None)
        if not isinstance(answer, TurnOutcome):
            continue
        name = str(getattr(seat, "name", answer.member))
        text, counts, spent = _member(name, answer)
        parts.append(text)
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        if counts:
            reported.append(name)
        if spent is not None:
            cost, costed = cost + spent, True
    if not parts:
        return None
    line = "Usage this round · " + " · ".join(parts)
    if len(parts) > 1 and total:
        summed = ", ".join(f"{key} {format_tokens(value)}" for key, value in total.items())
        line += f" · sum ({', '.join(reported)}): {summed}" + (f", cost {cost:.4f}" if costed else "")
    return line
