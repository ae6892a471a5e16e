"""Answers longer than Claude's tool-output budget: cut at a clean boundary, the whole kept on disk.

Claude Code warns about a tool result over ~10k tokens and cuts it at ~25k (``MAX_MCP_OUTPUT_TOKENS``);
a long review would lose its end, where the verdict is. So the answer is cut here, at a paragraph or
line break, with an open code fence closed, and the whole text goes to a private file (0600, in the
plugin's data directory) whose path the result names. Only the newest :data:`KEEP` files are kept.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

from codex_fusion.hookside import private

KEEP: Final = 50
_FENCE: Final = "```"


def cut(text: str, limit: int) -> str:
    """The start of ``text``, at most ``limit`` characters, ending at a paragraph break, else a line
    break, else a space (each only if it keeps at least half of the limit); a code fence left open
    by the cut is closed."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for separator in ("\n\n", "\n", " "):
        at = head.rfind(separator)
        if at >= limit // 2:
            head = head[:at]
            break
    head = head.rstrip()
    if sum(1 for line in head.splitlines() if line.lstrip().startswith(_FENCE)) % 2:
        head += "\n" + _FENCE
    return head


def save(text: str, state: Path) -> Path:
    """Write ``text`` to a new private file under ``<state>/answers`` and prune old ones."""
    directory = state / "answers"
    name = f"answer-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}.md"
    private.write_files(state, directory, [(name, text.encode("utf-8"))])
    _prune(directory)
    return directory / name


def _prune(directory: Path) -> None:
    try:
        answers = sorted(p for p in directory.iterdir() if p.name.startswith("answer-"))
    except OSError:
        return
    for old in answers[:-KEEP]:
        try:
            old.unlink()
        except OSError:
            continue
