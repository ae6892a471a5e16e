"""What members used, per member and per round and summed per debate and per session: input, cached
and output tokens, time, and cost — as the agent reported it, else from the user's price for the
model (the ``model_prices`` option), else "not reported". Never an estimate the user did not ask for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from codex_fusion.member.render import format_tokens
from codex_fusion.member.transcript import Usage
from codex_fusion.member.turn import Turn, TurnOutcome

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
class Ledger:
    """Usage per member for the session and for the council debate now open (fed by every finished
    turn: :meth:`add` is a ``Consultant.on_turn_finished`` listener)."""

    prices: dict[str, Price] = field(default_factory=dict)
    session: dict[str, Totals] = field(default_factory=dict)
    debate: dict[str, Totals] = field(default_factory=dict)

    def add(self, turn: Turn) -> None:
        outcome = turn.outcome
        if outcome is None:
            return
        spent, _ = cost(outcome.usage, outcome.model.model if outcome.model else None, self.prices)
        for book in (self.session, self.debate):
            book.setdefault(turn.member, Totals()).add(outcome.usage, outcome.elapsed, spent)

    def new_debate(self) -> None:
        self.debate = {}

    def lines(self) -> list[str]:
        """What ``status`` shows: per member, this session and the council debate now open."""
        if not self.session:
            return []
        lines = ["usage this session (as the agents reported it):"]
        lines += [
            f"  {name}: {totals.turns} turn(s), {totals.text()}" for name, totals in self.session.items()
        ]
        if self.debate:
            whole = Totals()
            for totals in self.debate.values():
                whole.turns += totals.turns
                whole.seconds += totals.seconds
                for attr in ("input", "cached", "output", "cost"):
                    value = getattr(totals, attr)
                    if value is not None:
                        setattr(whole, attr, (getattr(whole, attr) or 0) + value)
                whole.unreported += totals.unreported
            lines.append(f"usage of the council debate now open: {whole.text()}")
        return lines


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
