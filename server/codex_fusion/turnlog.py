"""What is recorded about each finished turn: one stderr line, and one JSON line in CODEX_FUSION_LOG."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import time
from pathlib import Path

from . import render
from .redact import redact
from .turn import GUARDIAN_KINDS, Note, NoteKind, Turn

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
        append_private(path, json.dumps(entry, ensure_ascii=False) + "\n")
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
        "cwd": decision.cwd,
        "paths": [redact(path) for path in decision.paths],
        "url": redact(decision.url) if decision.url else None,
    }


def append_private(path: Path, text: str) -> None:
    """Append to a file only the user can read: 0600, its new parent directory 0700.

    Refuses a symlink (a planted link would send the log elsewhere) and a file owned by someone else
    (it would not be private, and we must not chmod it)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{path} is a symlink; refusing to follow it") from None
        raise
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            raise OSError(f"{path} belongs to another user; refusing to write to it")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        if stat.S_IMODE(info.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
