"""Turn a streaming Codex turn into a few progress messages a second, plus a heartbeat."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable

import anyio

from . import render
from .acp.schema import ContentChunk, SessionUpdate
from .redact import redact_credentials
from .turn import Turn

SendProgress = Callable[[float, str], Awaitable[None]]

_CUT_WORD = re.compile(r"^(💭 )?…\S*")
_LAST_WORD = re.compile(r"\s*\S+$")


def whole_words(message: str, *, open_end: bool) -> str:
    """``message`` without the word a tail cut through (after its leading …) and, while the text is
    still streaming (``open_end``), without its last word: a credential cut in two matches no rule,
    so neither half may be shown."""
    message = _CUT_WORD.sub(lambda m: (m.group(1) or "") + "…", message, count=1)
    return _LAST_WORD.sub("", message) if open_end else message


class ProgressPump:
    """Coalesces updates: the latest message wins, sent at most ``1/interval`` times a second.

    While nothing new arrives a heartbeat (elapsed time and what Codex is doing) goes out every
    ``heartbeat`` seconds, so a long silent command still shows life.
    """

    def __init__(self, send: SendProgress, *, interval: float = 0.25, heartbeat: float = 5.0) -> None:
        self._send = send
        self._interval = interval
        self._heartbeat = heartbeat
        self._latest: str | None = None
        self._dirty = anyio.Event()
        self._started = time.monotonic()
        self._count = 0
        self._last_sent: str | None = None
        self.sent = 0
        self.status = "waiting for Codex"

    def observe(self, turn: Turn, update: SessionUpdate) -> None:
        message = render.progress_line(turn, update)
        if message is not None:
            open_end = isinstance(update, ContentChunk) and not update.text[-1:].isspace()
            shown = whole_words(message, open_end=open_end)
            if shown.strip(" …💭"):
                self.set(shown)

    def set_status(self, status: str) -> None:
        """What the heartbeat says Codex is doing (queued, starting, working, paused…)."""
        self.status = status

    def set(self, message: str) -> None:
        self._latest = message
        self._dirty.set()

    async def _emit(self, message: str) -> None:
        """Send one message, credentials redacted as in what Claude reads (at most a few a second,
        so the redaction costs nothing per streamed chunk)."""
        self._count += 1
        await self._send(float(self._count), redact_credentials(message))
        self.sent += 1
        self._last_sent = message

    async def run(self) -> None:
        """Send until cancelled. Cancel it when the turn ends, then call :meth:`flush`."""
        while True:
            with anyio.move_on_after(self._heartbeat if math.isfinite(self._heartbeat) else math.inf):
                await self._dirty.wait()
            if self._dirty.is_set():
                self._dirty = anyio.Event()
                assert self._latest is not None
                await self._emit(self._latest)
            else:
                await self._emit(render.heartbeat(self._started, self.status, self._latest))
            await anyio.sleep(self._interval)

    async def flush(self) -> None:
        """Send the final state if it has not gone out yet (the pump may have been cancelled mid-send).

        Not when nothing was shown yet: a turn that ended before its first progress message was due
        would only send it a moment before the result itself."""
        if self.sent and self._latest is not None and self._latest != self._last_sent:
            await self._emit(self._latest)
