"""What one member used, summed for its session and for the council debate now open: input, cached
and output tokens, time, and cost — as the agent reported it (prompt-result usage, ``usage_update``
cost), else from the user's price for the model (the ``model_prices`` option), else "not reported".
Never an estimate the user did not ask for. Pure but for :class:`MemberUsage`'s two running sums.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from codex_fusion.member.render import format_tokens
from codex_fusion.member.transcript import Usage
from codex_fusion.member.turn import TurnOutcome

#: USD per million tokens: (input, cached input, output).
Price = tuple[float, float, float]
_PRICE = re.compile(
    r"^\s*(?P<model>[\w.:/@-]+)\s*=\s*(?P<a>[\d.]+)\s*/\s*(?P<b>[\d.]+)\s*/\s*(?P<c>[\d.]+)\s*$"
)


def parse_prices(raw: str | None) -> dict[str, Price]:
    """``model=in/cached/out`` entries (USD per million tokens), separated by commas or semicolons.
    An entry that does not parse is left out (``status`` shows which prices are in use)."""
    prices: dict[str, Price] = {}
    for entry in re.split(r"[;,]", raw or ""):
        match = _PRICE.match(entry)
        if match is None:
            continue
        try:
            prices[match["model"].lower()] = (float(match["a"]), float(match["b"]), float(match["c"]))
        except ValueError:
            continue
    return prices


def cost(usage: Usage, model: str | None, prices: Mapping[str, Price]) -> tuple[float | None, str]:
    """(amount, how it was known): the agent's report, the user's price, or (None, "not reported")."""
    if usage.cost is not None:
        return usage.cost, "reported"
    price = prices.get((model or "").lower())
    if price is None or usage.input_tokens is None or usage.output_tokens is None:
        return None, "not reported"
    cached = usage.cached_tokens or 0
    fresh = max(usage.input_tokens - cached, 0)
    amount = (fresh * price[0] + cached * price[1] + usage.output_tokens * price[2]) / 1_000_000
    return amount, "priced"


@dataclass
class Totals:
    """Summed usage of some turns; a count stays None until some turn reported it."""

    turns: int = 0
    seconds: float = 0.0
    input: int | None = None
    cached: int | None = None
    output: int | None = None
    cost: float | None = None
    unreported: int = 0  # turns that reported no token count

    def add(self, usage: Usage, seconds: float, spent: float | None) -> None:
        self.turns += 1
        self.seconds += seconds
        for attr, value in (
            ("input", usage.input_tokens),
            ("cached", usage.cached_tokens),
            ("output", usage.output_tokens),
        ):
            if value is not None:
                setattr(self, attr, (getattr(self, attr) or 0) + value)
        if usage.input_tokens is None and usage.output_tokens is None:
            self.unreported += 1
        if spent is not None:
            self.cost = (self.cost or 0.0) + spent

    def text(self) -> str:
        counts = [
            f"{key} {format_tokens(value)}"
            for key, value in (("in", self.input), ("cached", self.cached), ("out", self.output))
            if value is not None
        ]
        parts = [", ".join(counts) if counts else "tokens not reported", f"{self.seconds:.1f}s"]
        parts.append(f"${self.cost:.4f}" if self.cost is not None else "cost not reported")
        if counts and self.unreported:
            parts.append(f"{self.unreported} turn(s) did not report tokens")
        return ", ".join(parts)


@dataclass
class MemberUsage:
    """One member's sums: this session, and the council debate now open (reset by the council)."""

    prices: dict[str, Price] = field(default_factory=dict)
    session: Totals = field(default_factory=Totals)
    debate: Totals = field(default_factory=Totals)

    def add(self, outcome: TurnOutcome | None) -> None:
        """Count a finished turn (the member calls this as it records the turn)."""
        if outcome is None:
            return
        spent, _ = cost(outcome.usage, outcome.model.model if outcome.model else None, self.prices)
        self.session.add(outcome.usage, outcome.elapsed, spent)
        self.debate.add(outcome.usage, outcome.elapsed, spent)

    def new_debate(self) -> None:
        self.debate = Totals()


def summed(totals: Iterable[Totals]) -> Totals:
    """Several members' totals as one (time: the sum of their turns)."""
    whole = Totals()
    for one in totals:
        whole.turns += one.turns
        whole.seconds += one.seconds
        whole.unreported += one.unreported
        for attr in ("input", "cached", "output", "cost"):
            value = getattr(one, attr)
            if value is not None:
                setattr(whole, attr, (getattr(whole, attr) or 0) + value)
    return whole
