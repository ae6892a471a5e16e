"""The findings table that heads a council's result: every member's findings merged (who raised each,
at what severity), which members' findings were not parsed, who was unavailable — and, after a reply
round, who confirmed or disputed each finding by its id. Pure; no model is involved.

Rows and attributions come only from :mod:`codex_fusion.review.findings` applied to each member's own
answer: no text a member writes can add a row under another member's name, or change a cell's
columns (a ``|`` in a claim is escaped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from codex_fusion.errors import FusionError
from codex_fusion.member import availability
from codex_fusion.member.turn import TurnOutcome, TurnResult
from codex_fusion.review import findings as fnd

#: Tools whose answers always end in a findings block; a consult gets a table when it reports some.
REVIEW_TOOLS = frozenset({"review_diff", "review_plan"})
MAX_ROWS = 40
MAX_CELL = 140

Answer = TurnResult | FusionError | None

_STANCE = re.compile(
    r"^[\s>*•+\-\d.)]*\**\[?(?P<id>F\d{1,4})\]?\**\s*[:—–\-]?\s*\**\s*"
    r"(?P<word>confirm\w*|agree\w*|dispute\w*|disagree\w*|reject\w*|withdraw\w*)\b\**"
    r"[\s:—–\-]*(?P<note>.*)$",
    re.IGNORECASE,
)


@dataclass
class FindingsTable:
    """The merged findings of a council debate, updated each round."""

    tool: str
    rows: list[fnd.Merged] = field(default_factory=list)
    parsed: dict[str, str] = field(default_factory=dict)  # member -> findings | none | unparsed
    unavailable: dict[str, str] = field(default_factory=dict)  # member -> cause
    confirmed: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> member -> note
    disputed: dict[str, dict[str, str]] = field(default_factory=dict)
    replied: bool = False  # a reply round has been folded in
    files: tuple[tuple[str, str | None], ...] = ()  # the changed files, (path, renamed from)

    @property
    def shown(self) -> bool:
        """Whether the table heads the result: a review tool, or a consult that reported findings."""
        return self.tool in REVIEW_TOOLS or bool(self.rows)

    def row(self, ident: str) -> fnd.Merged | None:
        return next((row for row in self.rows if row.id == ident), None)


def unavailable(seats: Mapping[str, object]) -> dict[str, str]:
    """The cause, for every seat whose member was unavailable this round (seats have ``answer``)."""
    causes = {}
    for name, seat in seats.items():
        cause = availability.cause(getattr(seat, "answer", None))
        if cause is not None:
            causes[name] = cause
    return causes


def first(
    tool: str, answers: Mapping[str, Answer], files: tuple[tuple[str, str | None], ...] = ()
) -> FindingsTable:
    """The table after round 1, from each member's answer (in member order); ``files``: the changed
    files, (path, renamed from), so findings naming an old path or a suffix merge under the new one."""
    table = FindingsTable(tool, files=files)
    _fold(table, answers, replies=False)
    return table


def update(table: FindingsTable, answers: Mapping[str, Answer]) -> FindingsTable:
    """Fold a reply round in: each member's stance per finding id, and findings it raised anew."""
    table.replied = True
    _fold(table, answers, replies=True)
    return table


def _fold(table: FindingsTable, answers: Mapping[str, Answer], *, replies: bool) -> None:
    fresh: dict[str, list[fnd.Finding]] = {}
    for name, answer in answers.items():
        cause = availability.cause(answer)
        if cause is not None:
            table.unavailable[name] = cause
            continue
        table.unavailable.pop(name, None)
        if not isinstance(answer, TurnOutcome) or answer.stop_reason != "end_turn":
            continue
        parsed = fnd.parse(answer.text)
        if replies:
            _stances(table, name, answer.text)
            known = [f for f in parsed.findings if not _repeats(table, name, f)]
            if parsed.status != "unparsed" or name not in table.parsed:
                table.parsed[name] = parsed.status
        else:
            known = list(parsed.findings)
            table.parsed[name] = parsed.status
        fresh[name] = known
    renames = {old: new for new, old in table.files if old}
    table.rows = fnd.merge(fresh, renames=renames, known=[path for path, _ in table.files], into=table.rows)


def _repeats(table: FindingsTable, member: str, finding: fnd.Finding) -> bool:
    """A member restating a finding it raised already (a reply round often repeats the first)."""
    return any(member in row.members and row.matches(finding) > 0 for row in table.rows)


def _stances(table: FindingsTable, member: str, text: str) -> None:
    for raw in text.splitlines():
        match = _STANCE.match(raw)
        if match is None:
            continue
        ident = match["id"].upper()
        if table.row(ident) is None:
            continue
        note = _cell(match["note"], 100)
        agrees = match["word"].lower().startswith(("confirm", "agree"))
        table.confirmed.setdefault(ident, {}).pop(member, None)
        table.disputed.setdefault(ident, {}).pop(member, None)
        (table.confirmed if agrees else table.disputed)[ident][member] = note


# -- what Claude reads ------------------------------------------------------------------------------


def _cell(text: str, limit: int = MAX_CELL) -> str:
    return fnd.cell(text, limit)


def header(table: FindingsTable) -> str:
    """One line: how many findings from whom; whose were not parsed; who was unavailable."""
    counts = {name: 0 for name, status in table.parsed.items() if status != "unparsed"}
    for row in table.rows:
        for name in row.members:
            counts[name] = counts.get(name, 0) + 1
    lone = sum(1 for row in table.rows if row.lone)
    parts = [
        f"Findings · {len(table.rows)} merged"
        + (f", {lone} raised by one member only" if len(counts) > 1 and table.rows else "")
    ]
    if counts:
        parts.append("from " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    unparsed = [name for name, status in table.parsed.items() if status == "unparsed"]
    if unparsed:
        parts.append(f"not parsed (read their text): {', '.join(unparsed)}")
    if table.unavailable:
        parts.append(
            "unavailable, not counted: "
            + ", ".join(f"{name} ({cause})" for name, cause in table.unavailable.items())
        )
    return " · ".join(parts)


def render(table: FindingsTable, *, attribute: bool = True) -> str:
    """The header line and the table (markdown). ``attribute``: name who raised each (off for a
    split review, whose parts are one member)."""
    head = header(table)
    if not table.rows:
        return head
    columns = ["id", "severity", "location", "claim"]
    if attribute:
        columns.append("raised by")
    if table.replied:
        columns += ["confirmed by", "disputed by"]
    lines = [head, "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    several = len({name for row in table.rows for name in row.members}) > 1
    for row in table.rows[:MAX_ROWS]:
        cells = [row.id, row.severity, _cell(row.location, 80), _cell(row.claim)]
        if attribute:
            raised = ", ".join(f"{r.member} ({r.finding.severity})" for r in row.raised)
            cells.append(raised + (" · lone" if several and row.lone else ""))
        if table.replied:
            cells.append(_cell(", ".join(table.confirmed.get(row.id, {}))) or "—")
            cells.append(_stance_cell(table.disputed.get(row.id, {})) or "—")
        lines.append("| " + " | ".join(cells) + " |")
    if len(table.rows) > MAX_ROWS:
        lines.append(f"(and {len(table.rows) - MAX_ROWS} more, in the members' answers below)")
    return "\n".join(lines)


def _stance_cell(stances: Mapping[str, str]) -> str:
    return _cell("; ".join(f"{name}: {note}" if note else name for name, note in stances.items()))


def for_prompt(table: FindingsTable | None) -> str | None:
    """The table as round-2 members read it, or None when there is none to show."""
    if table is None or not table.rows:
        return None
    return render(table)
