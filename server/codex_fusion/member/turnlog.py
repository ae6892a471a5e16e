"""What is recorded about each finished turn: one stderr line, and one JSON line in CODEX_FUSION_LOG.

The JSON line is built when the turn ends and written by :class:`TurnLog`'s one task, in order, in
a worker thread: the event loop never waits on the disk. A path that cannot be written (a FIFO, a
symlink, a directory others may write to, a full disk) is logged once, shown by ``status``, and
tried again for the next turn. The log is rotated at a size cap, a few generations kept
(``logrotate.py``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Final

import anyio

from codex_fusion.hookside import private
from codex_fusion.member import logrotate, render
from codex_fusion.member.notes import GUARDIAN_KINDS, Note, NoteKind
from codex_fusion.member.turn import Turn
from codex_fusion.text.redact import redact

log = logging.getLogger(__name__)


#: Lines waiting for the writer; beyond this (a disk that hangs) new lines are dropped, and said.
MAX_PENDING: Final = 100


class TurnLog:
    """The turn log of one Member: :meth:`record` is quick and never raises; :meth:`run` writes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        #: Why the last line could not be written, if it could not (for ``status``).
        self.problem: str | None = None
        self._send, self._lines = anyio.create_memory_object_stream[str](MAX_PENDING)
        self._done = anyio.Event()

    def record(self, turn: Turn) -> None:
        """Log one finished turn to stderr, and queue its JSON line for the file (built, and redacted,
        only when there is a file)."""
        try:
            summary(turn)
            if self.path is None:
                return
            line = entry(turn)
        except Exception:  # a bug here must not lose the turn's result
            log.exception("cannot build the turn log entry")
            return
        try:
            self._send.send_nowait(line)
        except anyio.WouldBlock:
            self._failed(f"{MAX_PENDING} lines are waiting for the disk; this turn's line was dropped")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.debug("turn log closed; line dropped")

    async def run(self) -> None:
        """Write queued lines until :meth:`close`; each in a worker thread."""
        try:
            async with self._lines:
                async for line in self._lines:
                    await anyio.to_thread.run_sync(self._append, line)
        finally:
            self._done.set()

    async def close(self, timeout: float = 2.0) -> None:
        """Stop taking lines and let the writer finish the queued ones (at most ``timeout`` s)."""
        self._send.close()
        with anyio.CancelScope(shield=True), anyio.move_on_after(timeout):
            await self._done.wait()

    def _append(self, line: str) -> None:
        assert self.path is not None
        logrotate.rotate_if_full(self.path, len(line.encode("utf-8", "backslashreplace")))
        try:
            private.append(self.path, line)
        except OSError as exc:
            self._failed(str(exc) if isinstance(exc, private.PrivateFileError) else f"{exc.strerror or exc}")
            return
        if self.problem is not None:
            log.info("the turn log %s is written again", self.path)
        self.problem = None

    def _failed(self, why: str) -> None:
        problem = f"{why} (CODEX_FUSION_LOG={self.path}: turns are not logged; point it at a file of yours)"
        if problem != self.problem:
            log.warning("cannot write the turn log: %s", problem)
        self.problem = problem


def _stop(turn: Turn) -> str:
    return turn.outcome.stop_reason if turn.outcome is not None else "failed"


def summary(turn: Turn) -> None:
    """The turn's one stderr line."""
    tokens = turn.transcript.usage.tokens
    decided = sum(1 for note in turn.notes if note.kind in (NoteKind.ALLOWED, NoteKind.DENIED))
    log.info(
        "turn: %s %.1fs stop=%s tokens=%s asked=%d",
        turn.tool,
        turn.elapsed,
        _stop(turn),
        tokens if tokens is not None else "-",
        decided,
    )


def entry(turn: Turn) -> str:
    """The JSON line to append, redacted as a log."""
    error, stop, tokens = turn.error, _stop(turn), turn.transcript.usage.tokens
    fields = {
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
    return json.dumps(fields, ensure_ascii=False) + "\n"


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
