"""Turn a streaming Codex turn into a few progress messages a second, plus a heartbeat."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

import anyio

from codex_fusion.acp.schema import ContentChunk, PlanUpdate, SessionUpdate, ToolCallInfo
from codex_fusion.member.render import activity, tail
from codex_fusion.member.transcript import Transcript
from codex_fusion.member.turn import Turn
from codex_fusion.text.redact import redact_credentials, unfinished_credential

PROGRESS_TAIL = 140

SendProgress = Callable[[float, str], Awaitable[None]]


def streamed_line(text: str, *, thought: bool, final: bool) -> str:
    """The progress line for Codex's text (or thoughts) so far: redacted as what Claude reads, the
    whole text before its tail is cut (a credential cut by the tail would match no rule), and while
    it streams without its last word when that is the start of a credential not yet complete."""
    if not final and text and not text[-1].isspace():
        last = text.split()[-1]
        if unfinished_credential(last):
            text = text[: len(text) - len(last)]
    line = tail(redact_credentials(text), PROGRESS_TAIL, one_line=True)
    return "💭 " + line if thought else line


def stream_of(transcript: Transcript, thought: bool) -> Callable[[bool], str]:
    """The progress line of a turn's text (or thoughts) so far, made when it is sent."""

    def make(final: bool) -> str:
        parts = transcript.thought_parts if thought else transcript.text_parts
        return streamed_line("".join(parts), thought=thought, final=final)

    return make


class ProgressPump:
    """Coalesces updates: the latest message wins, sent at most ``1/interval`` times a second.

    While nothing new arrives a heartbeat (elapsed time and what Codex is doing) goes out every
    ``heartbeat`` seconds, so a long silent command still shows life. What goes out is redacted as
    what Claude reads, computed only when it is sent (a few times a second, not per chunk).
    """

    def __init__(self, send: SendProgress, *, interval: float = 0.25, heartbeat: float = 5.0) -> None:
        self._send = send
        self._interval = interval
        self._heartbeat = heartbeat
        self._latest: str | None = None
        #: When the latest message is computed from a stream when it is sent (``final``: the turn ended).
        self._stream: Callable[[bool], str] | None = None
        self._dirty = anyio.Event()
        self._started = time.monotonic()
        self._count = 0
        self._last_sent: str | None = None
        self.sent = 0
        self.status = "waiting for Codex"

    def observe(self, turn: Turn, update: SessionUpdate) -> None:
        message = progress_line(turn, update)
        if message is not None:
            self.set(message)
            if isinstance(update, ContentChunk):
                self.set_lazy(stream_of(turn.transcript, update.session_update == "agent_thought_chunk"))

    def set_status(self, status: str) -> None:
        """What the heartbeat says Codex is doing (queued, starting, working, paused…)."""
        self.status = status

    def set(self, message: str) -> None:
        self._latest = message
        self._stream = None
        self._dirty.set()

    def set_lazy(self, make: Callable[[bool], str]) -> None:
        """The latest message is ``make(final)``, computed only when it is sent (it may join a whole
        stream so far; redacting a cut tail would miss a credential whose start was cut off)."""
        self._latest = ""
        self._stream = make
        self._dirty.set()

    def _shown(self, *, final: bool = False) -> str | None:
        """The latest message as it may be shown."""
        if self._stream is None:
            return None if self._latest is None else redact_credentials(self._latest)
        return redact_credentials(self._stream(final))

    async def _emit(self, message: str) -> None:
        self._count += 1
        await self._send(float(self._count), message)
        self.sent += 1
        self._last_sent = message

    async def run(self) -> None:
        """Send until cancelled. Cancel it when the turn ends, then call :meth:`flush`."""
        while True:
            with anyio.move_on_after(self._heartbeat if math.isfinite(self._heartbeat) else math.inf):
                await self._dirty.wait()
            if self._dirty.is_set():
                self._dirty = anyio.Event()
                shown = self._shown()
                assert shown is not None
                await self._emit(shown)
            else:
                await self._emit(redact_credentials(heartbeat(self._started, self.status, self._shown())))
            await anyio.sleep(self._interval)

    async def flush(self) -> None:
        """Send the final state if it has not gone out yet (the pump may have been cancelled mid-send).

        Not when nothing was shown yet: a turn that ended before its first progress message was due
        would only send it a moment before the result itself."""
        final = self._shown(final=True)
        if self.sent and final is not None and final != self._last_sent:
            await self._emit(final)


# -- progress lines ----------------------------------------------------------------------------------------


def progress_line(turn: Turn, update: SessionUpdate) -> str | None:
    """The progress message an update deserves, or None to keep the current one."""
    transcript = turn.transcript
    if isinstance(update, ContentChunk):
        # Only the tail is joined: joining the whole answer on every chunk is quadratic.
        if update.session_update == "agent_message_chunk":
            return tail("".join(transcript.text_parts[-64:]), PROGRESS_TAIL, one_line=True)
        if update.session_update == "agent_thought_chunk":
            return "💭 " + tail("".join(transcript.thought_parts[-64:]), PROGRESS_TAIL, one_line=True)
        return None
    if isinstance(update, ToolCallInfo):
        tool = transcript.tools.get(update.tool_call_id)
        return None if tool is None else tail("↳ " + activity(tool), PROGRESS_TAIL, one_line=True)
    if isinstance(update, PlanUpdate) and transcript.plan:
        return tail("plan: " + "; ".join(transcript.plan), PROGRESS_TAIL, one_line=True)
    return None


def heartbeat(started: float, doing: str, latest: str | None) -> str:
    elapsed = time.monotonic() - started
    return f"⏳ {elapsed:.0f}s · {doing}" + (f" · {latest}" if latest else "")
