"""The consultation as a debate, without I/O: what Claude told Codex between turns.

The Consultant owns one :class:`Debate` per Codex session. Prompt *text* comes from
:mod:`codex_fusion.prompts`; this module decides what goes into the next prompt.
"""

from __future__ import annotations

from . import prompts
from .permissions import Choice
from .turn import Turn, Verdict


class Debate:
    def __init__(self) -> None:
        self._notes: list[str] = []

    def framed(self, prompt: str) -> str:
        """The next prompt, preceded by the notes Claude left since the last one (which are consumed)."""
        notes, self._notes = self._notes, []
        return prompts.with_notes(prompt, notes)

    def decided(self, turn: Turn, what: str, verdict: Verdict, choice: Choice, note: str) -> None:
        """Carry Claude's note on a permission decision to Codex.

        A deny whose option ends Codex's prompt continues the same turn with a prompt saying what was
        denied and why; otherwise the note starts the next prompt.
        """
        if verdict == "deny" and choice.ends_turn:
            turn.continue_after(prompts.denied_continuation(what, note))
        elif note:
            self._notes.append(prompts.decision_note(what, verdict == "allow", note))
