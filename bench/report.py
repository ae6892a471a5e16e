"""What a figure hands back: its data (for the JSON), the table rows it prints, and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    data: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def row(self, label: str, value: str) -> None:
        self.rows.append((label, value))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def to_json(self, seconds: float) -> dict[str, Any]:
        if self.skipped is not None:
            return {"skipped": self.skipped, "elapsed_s": seconds}
        return {
            "data": self.data,
            "table": [list(row) for row in self.rows],
            "notes": self.notes,
            "elapsed_s": seconds,
        }


def skipped(reason: str) -> Figure:
    return Figure(skipped=reason)


def render(name: str, title: str, figure: Figure, seconds: float, others: float, width: int = 72) -> str:
    busy = f"; other processes used {others:.0%} of the cores" if others >= 0.05 else ""
    lines = [f"\n== {title} [{name}] ({seconds:.1f} s{busy})"]
    if figure.skipped is not None:
        lines.append(f"   skipped: {figure.skipped}")
        return "\n".join(lines)
    for label, value in figure.rows:
        pad = label if len(label) < width else label[: width - 1] + "…"
        lines.append(f"   {pad:<{width}} {value}")
    lines.extend(f"   note: {note}" for note in figure.notes)
    return "\n".join(lines)
