"""What a reset dropped: a value with nothing below it, so what renders it need not import the
snapshot that reads a session."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResetReport:
    """What a reset dropped."""

    session_id: str | None  # the Codex session closed, if one was open
    rounds: int  # answers in the debate it ended
    stopped_turn: str | None  # the tool whose turn was stopped, if one was running
