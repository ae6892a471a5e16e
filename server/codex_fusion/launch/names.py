"""The members' names as plain values: Codex's, the built-in ones, and how each is shown — what a turn,
a render and the council read without the member table (``members.py``)."""

from __future__ import annotations

from typing import Final

CODEX: Final = "codex"
#: Names with built-in defaults; any other name needs a ``command``.
BUILT_IN: Final = ("codex", "claude", "gemini")
#: The members' display names in prompts and results.
DISPLAY: Final = {"codex": "Codex", "claude": "Claude", "gemini": "Gemini"}
