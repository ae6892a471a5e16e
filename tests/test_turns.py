"""Idle timeouts, hard stops and the turn log."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_fusion.member import render, render_status
from codex_fusion.member.conversation import Member
from codex_fusion.member.turn import Pause, TurnOutcome

from .conftest import FakeAgentSetup, group_alive, wait_until

pytestmark = pytest.mark.anyio


async def test_idle_timeout_cancels_cooperatively_and_keeps_the_session(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        started = time.monotonic()
        outcome = await consultant.consult("@fake think partial thought\n@fake sleep 30", timeout=0.5)
        assert isinstance(outcome, TurnOutcome)
        assert outcome.stop_reason == "timeout"
        assert time.monotonic() - started < 10
        after = await consultant.consult("@fake say still here")
        assert isinstance(after, TurnOutcome)
        assert after.text == "still here"
    assert len(fake.received("session/cancel")) == 1
    assert len(fake.received("initialize")) == 1


async def test_wedged_agent_is_killed_and_respawned(fake: FakeAgentSetup) -> None:
    async with Member(fake.config(CODEX_FUSION_CANCEL_GRACE_MS="300")) as consultant:
        await consultant.consult("warm up")
        pgid = consultant.status().agent_pid
        assert pgid is not None
        started = time.monotonic()
        outcome = await consultant.consult("@fake hang 60", timeout=0.4)
        assert isinstance(outcome, TurnOutcome)
        assert outcome.stop_reason == "timeout"
        assert any("restarted" in render.note(note) for note in outcome.notes)
        assert time.monotonic() - started < 10
        assert wait_until(lambda: not group_alive(pgid), timeout=5)
        after = await consultant.consult("@fake say respawned")
        assert isinstance(after, TurnOutcome)
        assert after.text == "respawned"
    assert len(fake.received("initialize")) == 2


async def test_reconnecting_updates_do_not_keep_a_turn_alive(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        started = time.monotonic()
        outcome = await consultant.consult("@fake reconnect 60", timeout=0.6)
        assert isinstance(outcome, TurnOutcome)
        assert outcome.stop_reason == "timeout"
        shown = [render.note(note) for note in outcome.notes]
        assert "Codex's last status: Reconnecting... waiting for network" in shown
        assert time.monotonic() - started < 10


async def test_progress_resets_the_idle_timer(fake: FakeAgentSetup) -> None:
    # A thought every 0.1 s for ~2 s with a 1 s idle bound: longer than the bound, never idle that long.
    async with fake.consultant() as consultant:
        outcome = await consultant.consult("@fake drip 20 0.1\n@fake say done", timeout=1.0)
    assert isinstance(outcome, TurnOutcome)
    assert outcome.stop_reason == "end_turn"


async def test_time_paused_for_permit_does_not_count(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        pause = await consultant.consult("@fake permit execute rust true\n@fake say ok", timeout=0.5)
        assert isinstance(pause, Pause)
        await anyio.sleep(1.0)  # Claude takes its time; the idle bound is not running
        outcome = await consultant.permit("allow")
    assert isinstance(outcome, TurnOutcome)
    assert outcome.stop_reason == "end_turn"


async def test_turn_log_is_private_redacted_and_complete(fake: FakeAgentSetup) -> None:
    log = fake.workspace.parent / "logs" / "turns.jsonl"
    async with fake.consultant(CODEX_FUSION_LOG=str(log)) as consultant:
        await consultant.consult("@fake tool read a.py\n@fake say key sk-abcdefghijklmnop1234 end")
        pause = await consultant.consult("@fake permit execute rust true")
        assert isinstance(pause, Pause)
        await consultant.permit("deny", "no")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["tool"] for e in entries] == ["consult", "consult"]
    first, second = entries
    assert first["answer"] == "key [redacted] end"
    assert first["stop_reason"] == "end_turn"
    assert first["activity"] == ["read a.py (completed)"]
    assert first["tokens"] == 1234
    assert second["guardian"] == ["denied by Claude: run `true` (in the workspace root)"]
    assert "sk-abcdef" not in log.read_text()


async def test_cancelling_a_queued_consult_sends_nothing(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        async with anyio.create_task_group() as tg:
            tg.start_soon(consultant.consult, "@fake wait first\n@fake say first")
            await anyio.wait_all_tasks_blocked()
            with anyio.CancelScope() as queued:
                tg.start_soon(_cancel_when_blocked, queued)
                await consultant.consult("@fake say never sent")
            assert consultant.queue_length == 0
            fake.gate("first").set()
        outcome = await consultant.consult("@fake say third")
        assert isinstance(outcome, TurnOutcome)
        assert outcome.text == "third"
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert len(prompts) == 2
    assert not any("never sent" in p for p in prompts)


async def test_mcp_cancel_reaches_codex_and_the_server_stays_usable(fake: FakeAgentSetup) -> None:
    from mcp import Client

    async with Client(fake.server()) as client:
        started = time.monotonic()
        with anyio.CancelScope() as call:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_when_blocked, call)
                await client.call_tool("consult", {"question": "@fake sleep 30"})
        assert time.monotonic() - started < 5
        result = await client.call_tool("consult", {"question": "@fake say after cancel"})
    assert result.is_error is False
    assert result.content[0].text.startswith("after cancel")  # type: ignore[union-attr]
    assert len(fake.received("session/cancel")) == 1


async def _cancel_when_blocked(scope: anyio.CancelScope) -> None:
    await anyio.wait_all_tasks_blocked()
    scope.cancel()


async def test_a_planted_symlink_at_the_log_path_is_not_followed(
    fake: FakeAgentSetup, caplog: pytest.LogCaptureFixture
) -> None:
    target = fake.workspace.parent / "victim.txt"
    target.write_text("untouched\n")
    target.chmod(0o644)
    log = fake.workspace.parent / "turns.jsonl"
    log.symlink_to(target)
    async with fake.consultant(CODEX_FUSION_LOG=str(log)) as consultant:
        outcome = await consultant.consult("@fake say still answered")
    assert isinstance(outcome, TurnOutcome)
    assert outcome.text == "still answered"
    assert target.read_text() == "untouched\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert "is a symlink; refusing to follow it" in caplog.text


async def _status(client: Any) -> str:
    return (await client.call_tool("status", {})).content[0].text  # type: ignore[no-any-return]


class _Watchdog(threading.Thread):
    """For code that would open the FIFO blocking: a reader appears after ``after`` s, so a
    regression fails the test's assertions instead of hanging the suite."""

    def __init__(self, fifo: Path, after: float) -> None:
        super().__init__(daemon=True)
        self.fifo, self.after = fifo, after
        self.cancelled = threading.Event()
        self.fired = False

    def run(self) -> None:
        if self.cancelled.wait(self.after):
            return
        self.fired = True
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        time.sleep(0.5)
        os.close(fd)


async def test_a_fifo_at_the_log_path_does_not_freeze_the_server(
    fake: FakeAgentSetup, caplog: pytest.LogCaptureFixture
) -> None:
    from mcp import Client

    fifo = fake.workspace.parent / "turns.jsonl"
    os.mkfifo(fifo, 0o600)
    watchdog = _Watchdog(fifo, 30.0)
    watchdog.start()
    try:
        async with Client(fake.server(CODEX_FUSION_LOG=str(fifo))) as client:
            result = await client.call_tool("consult", {"question": "@fake say answered"})
            with anyio.fail_after(20):  # the line is written after the result, by the log's task
                while "turn log:" not in (status := await _status(client)):
                    await anyio.sleep(0.02)
            unblocked = watchdog.fired  # a blocking open would have waited for the watchdog's reader
    finally:
        watchdog.cancelled.set()
        watchdog.join()
    assert not unblocked
    assert result.content[0].text.startswith("answered")  # type: ignore[union-attr]
    assert f"turn log: NOT WRITTEN — {fifo} is not a regular file" in status
    assert "CODEX_FUSION_LOG" in status
    assert "cannot write the turn log" in caplog.text


@pytest.mark.parametrize("problem", ["another user's", "writable by others"])
async def test_the_log_is_not_written_into_a_directory_others_control(
    fake: FakeAgentSetup, problem: str
) -> None:
    directory = fake.workspace.parent / "shared"
    directory.mkdir()
    if problem == "another user's":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the directory to another user")
        os.chown(directory, 4242, 4242)
        directory.chmod(0o755)
        expected = "is owned by uid 4242, not by you"
    else:
        directory.chmod(0o777)
        expected = "is writable by other users (mode 777)"
    log = directory / "turns.jsonl"
    async with fake.consultant(CODEX_FUSION_LOG=str(log)) as consultant:
        outcome = await consultant.consult("@fake say still answered")
    shown = render_status.status(consultant.status())  # the log's lines are written when it closes
    assert isinstance(outcome, TurnOutcome)
    assert outcome.text == "still answered"
    assert not log.exists()
    assert expected in shown
    assert "turn log: NOT WRITTEN" in shown


async def test_the_turn_log_is_written_off_the_event_loop(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that hangs (NFS, a full device) must not stop the server answering."""
    from codex_fusion.member import turnlog

    release = threading.Event()
    order: list[str] = []
    real = turnlog.private.append

    def slow_append(path: Path, text: str) -> None:
        release.wait(timeout=10)  # the watchdog: a write on the event loop would block it this long
        order.append("written")
        real(path, text)

    monkeypatch.setattr(turnlog.private, "append", slow_append)
    log = fake.workspace.parent / "logs" / "turns.jsonl"
    async with fake.consultant(CODEX_FUSION_LOG=str(log)) as consultant:
        await consultant.consult("@fake say one")
        second = await consultant.consult("@fake say two")  # the first line is still being written
        order.append(f"answered {second.text}")  # type: ignore[union-attr]
        release.set()
    assert order[0] == "answered two"
    assert [json.loads(line)["answer"] for line in log.read_text().splitlines()] == ["one", "two"]
