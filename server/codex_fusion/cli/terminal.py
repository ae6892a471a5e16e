"""What ``codex-fusion ask`` shows at a terminal while the agent works: the answer on stdout as it
streams, thoughts and tool activity on stderr. It follows the turn by reading it whenever the
member's event stream says something changed; nothing below calls it.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from typing import TypeVar

import anyio

from codex_fusion.member import render
from codex_fusion.member.signal import Changes
from codex_fusion.member.turn import Turn
from codex_fusion.text.redact import StreamRedactor, redact_credentials

T = TypeVar("T")


class TerminalView:
    """The answer to stdout as it streams; thinking and tool activity to stderr."""

    def __init__(self) -> None:
        self.printed = 0
        self._last_tool_line: dict[str, str] = {}
        self._thinking = False
        self._text_seen = 0
        self._thoughts_seen = 0
        # Credentials are redacted as in what Claude reads; a credential must not be split across
        # two writes, so text is written paragraph by paragraph.
        self._answer = StreamRedactor()
        self._thought = StreamRedactor()

    async def follow(self, turn: Turn, changes: Changes, waiting: Awaitable[T]) -> T:
        """Show ``turn`` as it goes until ``waiting`` (the wait for its pause or end) returns."""
        async with anyio.create_task_group() as tg:

            async def show() -> None:
                while True:
                    self.catch_up(turn)
                    await changes.wait()

            tg.start_soon(show)
            try:
                result = await waiting
            finally:
                tg.cancel_scope.cancel()
        self.catch_up(turn)
        return result

    def catch_up(self, turn: Turn) -> None:
        """Write what the turn streamed since the last look."""
        transcript = turn.transcript
        for text in transcript.thought_parts[self._thoughts_seen :]:
            ready = self._thought.feed(text)
            if ready:
                if not self._thinking:
                    sys.stderr.write("💭 ")
                    self._thinking = True
                sys.stderr.write(ready)
                sys.stderr.flush()
        self._thoughts_seen = len(transcript.thought_parts)
        for tool in list(transcript.tools.values()):
            line = "↳ " + render.activity(tool)
            if self._last_tool_line.get(tool.tool_call_id) != line:
                self._last_tool_line[tool.tool_call_id] = line
                self._end_thinking()
                sys.stderr.write(redact_credentials(line) + "\n")
                sys.stderr.flush()
        for text in transcript.text_parts[self._text_seen :]:
            self.printed += len(text)
            ready = self._answer.feed(text)
            if ready:
                self._end_thinking()
                sys.stdout.write(ready)
                sys.stdout.flush()
        self._text_seen = len(transcript.text_parts)

    def _end_thinking(self) -> None:
        rest = self._thought.close()
        if rest:
            if not self._thinking:
                sys.stderr.write("💭 ")
            sys.stderr.write(rest)
            self._thinking = True
        if self._thinking:
            sys.stderr.write("\n")
            self._thinking = False

    def finish(self) -> None:
        """Write what is still held back: the turn has ended or paused."""
        self._end_thinking()
        rest = self._answer.close()
        if rest:
            sys.stdout.write(rest)
            sys.stdout.flush()
