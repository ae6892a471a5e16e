"""The progress pump: the latest message wins, at most one per interval; a heartbeat while silent;
the last state flushed at the end (``progress.py``; the MCP side is in test_server.py)."""

from __future__ import annotations

import time

import anyio
import pytest

from codex_fusion.acp.schema import ToolCallInfo
from codex_fusion.mcp.boundary import with_progress
from codex_fusion.mcp.progress import FIRST_LOOK_S, ProgressPump, turn_line
from codex_fusion.member.turn import Turn

pytestmark = pytest.mark.anyio


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[float, str]] = []
        self.changed = anyio.Event()

    async def __call__(self, progress: float, message: str) -> None:
        self.messages.append((time.monotonic(), message))
        self.changed.set()
        self.changed = anyio.Event()

    async def until(self, count: int) -> None:
        with anyio.fail_after(30):
            while len(self.messages) < count:
                await self.changed.wait()


async def test_updates_are_coalesced_to_the_latest_at_most_once_per_interval() -> None:
    sink = Sink()
    pump = ProgressPump(sink, interval=0.3, heartbeat=60)
    for message in ("a", "b", "c"):
        pump.set(message)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        await sink.until(1)
        for message in ("d", "e"):  # while the pump waits out its interval
            pump.set(message)
        await sink.until(2)
        tg.cancel_scope.cancel()
    assert [m for _, m in sink.messages] == ["c", "e"]
    assert sink.messages[1][0] - sink.messages[0][0] >= 0.3 - 0.01  # never faster than the interval


async def test_a_heartbeat_goes_out_while_codex_is_silent() -> None:
    sink = Sink()
    pump = ProgressPump(sink, interval=0.01, heartbeat=0.2)
    pump.set_status("queued behind another consult")
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        await sink.until(2)
        tg.cancel_scope.cancel()
    assert all("queued behind another consult" in m for _, m in sink.messages), sink.messages


async def test_flush_sends_the_last_state_once_and_nothing_before_the_first() -> None:
    sink = Sink()
    quiet = ProgressPump(sink, interval=0.01, heartbeat=60)
    quiet.set("never shown")
    await quiet.flush()  # nothing was shown yet: the result itself follows at once
    assert sink.messages == []
    pump = ProgressPump(sink, interval=60, heartbeat=60)
    pump.set("first")
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        await sink.until(1)
        pump.set("last words")  # arrives while the pump waits out its interval
        tg.cancel_scope.cancel()
    await pump.flush()
    await pump.flush()
    assert [m for _, m in sink.messages] == ["first", "last words"]


async def test_a_credential_in_a_tool_calls_title_never_reaches_a_progress_message() -> None:
    """Codex names what it runs in the tool call's title; a token in that command line is redacted in
    every progress message (the line itself, and the heartbeat that repeats it)."""
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    turn = Turn("s")
    update = ToolCallInfo.model_validate(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "t1",
            "title": f"curl -H 'Authorization: token {token}' https://api.github.com/user",
            "kind": "execute",
            "status": "pending",
        }
    )
    turn.transcript.apply(update)
    sink = Sink()
    pump = ProgressPump(sink, interval=0.01, heartbeat=0.05)
    pump.follow(lambda final: turn_line(turn, final))
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        await sink.until(2)  # the tool line, then a heartbeat repeating it
        tg.cancel_scope.cancel()
    messages = [m for _, m in sink.messages]
    assert all(token not in m and "ghp_" not in m for m in messages), messages
    assert "[redacted]" in messages[0]
    assert "api.github.com" in messages[0]
    assert any(m.startswith("⏳") and "[redacted]" in m for m in messages[1:]), messages


class _Context:
    """What ``with_progress`` uses of a tool's context: its progress report."""

    def __init__(self) -> None:
        self.sink = Sink()

    async def report_progress(self, progress: float, total: float | None, message: str) -> None:
        await self.sink(progress, message)


async def test_a_call_starts_its_pump_only_once_it_has_run_for_the_first_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A quick call spawns no pump task at all; a longer one starts it from a timer, told how long it
    waited, so its first line comes at the first look as before."""
    started: list[float] = []
    run = ProgressPump.run

    async def counted(self: ProgressPump, waited: float = 0.0) -> None:
        started.append(waited)
        await run(self, waited)

    monkeypatch.setattr(ProgressPump, "run", counted)
    ctx = _Context()

    async def quick(pump: ProgressPump) -> str:
        pump.set("working")
        return "done"

    assert await with_progress(ctx, quick, status="waiting") == "done"  # type: ignore[arg-type]
    assert started == []
    assert ctx.sink.messages == []

    async def slow(pump: ProgressPump) -> str:
        pump.set("working")
        await ctx.sink.until(1)
        return "done"

    began = time.monotonic()
    assert await with_progress(ctx, slow, status="waiting") == "done"  # type: ignore[arg-type]
    assert len(started) == 1
    assert started[0] >= FIRST_LOOK_S * 0.9
    assert ctx.sink.messages[0][1] == "working"
    assert ctx.sink.messages[0][0] - began >= FIRST_LOOK_S * 0.9
