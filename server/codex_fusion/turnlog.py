"""What is recorded about each finished turn: one stderr line, and one JSON line in CODEX_FUSION_LOG."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from . import private, render
from .notes import GUARDIAN_KINDS, Note, NoteKind
from .redact import redact
from .turn import Turn

log = logging.getLogger(__name__)


def record_turn(turn: Turn, path: Path | None) -> None:
    outcome, error = turn.outcome, turn.error
    stop = outcome.stop_reason if outcome is not None else "failed"
    tokens = turn.transcript.usage.tokens
    decided = sum(1 for note in turn.notes if note.kind in (NoteKind.ALLOWED, NoteKind.DENIED))
    log.info(
        "turn: %s %.1fs stop=%s tokens=%s asked=%d",
        turn.tool,
        turn.elapsed,
        stop,
        tokens if tokens is not None else "-",
        decided,
    )
    if path is None:
        return
    entry = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tool": turn.tool,
        "session": turn.session_id,
        "elapsed_s": round(turn.elapsed, 3),
        "stop_reason": stop,
        "tokens": tokens,
        "activity": [redact(render.activity(tool)) for tool in turn.transcript.tools.values()],
        "guardian": [redact(render.note(note)) for note in turn.notes if note.kind in GUARDIAN_KINDS],
        "requests": [_request(note) for note in turn.notes if note.decision is not None],
        "answer": redact(turn.text),
        "error": redact(str(error)) if error is not None else None,
    }
    try:
        private.append(path, json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError as exc:
        log.warning("cannot write the turn log %s: %s", path, exc)


def _request(note: Note) -> dict[str, object]:
    """The whole request behind a guardian note (the result shows a summary; the log keeps all)."""
    decision = note.decision
    assert decision is not None
    return {
        "what": str(note.kind),
        "rule": str(decision.rule),
        "kind": decision.kind,
        "command": redact(decision.command.text) if decision.command else None,
        "via": decision.command.via if decision.command else None,
        "cwd": redact(decision.cwd) if decision.cwd else None,
        "paths": [redact(path) for path in decision.paths],
        "url": redact(decision.url) if decision.url else None,
    }
