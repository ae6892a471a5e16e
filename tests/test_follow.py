"""Resets that follow Claude: the hook's records, read by the server, reset or restore Codex.

The records are written by the real hook script (``hooks/codex_fusion_hook.py``); the server runs in
memory, so its ancestors are this test process's: ``CLAUDE_PID`` is our parent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_fusion import nonce
from codex_fusion.config import Config
from codex_fusion.consultant import Consultant
from codex_fusion.follow import Action, Follower, react

from .conftest import FakeAgentSetup
from .memory_host import memory_spawn

pytestmark = pytest.mark.anyio

HOOK = Path(__file__).resolve().parents[1] / "hooks" / "codex_fusion_hook.py"
WINDOW = os.getppid()  # an ancestor of the in-memory server: "our" Claude Code window


def text_of(result: object) -> str:
    return "\n".join(getattr(block, "text", "") for block in getattr(result, "content", []))


def run_hook(
    fake: FakeAgentSetup, event: str, session: str, *, pid: int = WINDOW, **fields: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run the real hook script as Claude Code would."""
    payload: dict[str, Any] = {"session_id": session, "hook_event_name": event, "cwd": str(fake.workspace)}
    if event == "SessionStart":
        payload["source"] = fields.pop("source", "startup")
    payload.update(fields)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "CLAUDE_PLUGIN_DATA": str(fake.data),
        "CLAUDE_PROJECT_DIR": str(fake.workspace),
        "CLAUDE_PID": str(pid),
    }
    done = subprocess.run(
        [sys.executable, str(HOOK)],
        input=json.dumps(payload).encode(),
        env=env,
        capture_output=True,
        check=True,
    )
    assert done.stderr == b"", done.stderr
    return done


async def status(client: Client) -> str:
    return text_of(await client.call_tool("status", {}))


async def session_line(client: Client) -> str:
    return next(line for line in (await status(client)).splitlines() if line.startswith("session:"))


async def eventually(predicate: Any, timeout: float = 10.0) -> float:
    """Seconds until ``predicate()`` (async) holds; fails the test after ``timeout``."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            pytest.fail("the server did not react to the record")  # pragma: no cover
        await anyio.sleep(0.02)
    return time.monotonic() - started


def follower_for(consultant: Consultant, config: Config, **kwargs: Any) -> Follower:
    assert config.state_dir is not None
    assert config.workspace.path is not None
    env = {"CLAUDE_PID": str(config.claude_pid)} if config.claude_pid else {}
    return Follower(consultant, config, config.state_dir, config.workspace.path, env=env, **kwargs)


def record(event: str, session: str = "S1") -> nonce.Record:
    return nonce.new_record(session_id=session, event=event, workspace="/w", claude_pid=7)


@pytest.mark.parametrize(
    ("followed", "event", "session", "reset_on", "action"),
    [
        (None, "startup", "S1", {"clear", "compact"}, Action.ADOPT),
        (None, "resume", "S1", {"clear", "compact"}, Action.ADOPT),
        (None, "clear", "S1", {"clear", "compact"}, Action.RESET),
        (None, "compact", "S1", {"clear"}, Action.ADOPT),
        (None, "end", "S1", {"clear"}, Action.CLOSE),
        ("S1", "startup", "S1", {"clear", "compact"}, Action.NONE),
        ("S1", "resume", "S1", {"clear", "compact"}, Action.NONE),
        ("S1", "clear", "S2", {"clear", "compact"}, Action.RESET),
        ("S1", "clear", "S2", set(), Action.RESET),  # /clear always means a new conversation
        ("S1", "compact", "S1", {"clear", "compact"}, Action.RESET),
        ("S1", "compact", "S1", {"clear"}, Action.NONE),
        ("S1", "startup", "S2", {"clear", "compact"}, Action.RESET),  # VS Code reports /clear so
        ("S1", "compact", "S2", {"clear"}, Action.RESET),
        ("S1", "resume", "S2", {"clear", "compact"}, Action.SWITCH),
        ("S1", "fork", "S2", {"clear", "compact"}, Action.FORK),
        ("S1", "fork", "S1", {"clear", "compact"}, Action.NONE),
        ("S1", "end", "S1", {"clear", "compact"}, Action.CLOSE),
        ("S1", "end", "S2", {"clear", "compact"}, Action.NONE),  # another conversation ended
    ],
)
def test_what_each_record_means(
    followed: str | None, event: str, session: str, reset_on: set[str], action: Action
) -> None:
    assert react(followed, record(event, session), frozenset(reset_on)) is action


async def test_a_clear_from_the_real_hook_resets_codex_through_the_watcher(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "S1", source="startup")
    async with Client(fake.server("close", CLAUDE_PID=str(WINDOW))) as client:
        await client.call_tool("consult", {"question": "@fake say VERDICT: OPEN — a"})
        before = await session_line(client)
        assert f"claude: window pid {WINDOW} · conversation S1" in await status(client)
        run_hook(fake, "SessionStart", "S2", source="clear")

        async def closed() -> bool:  # status itself never checks the record: only the watcher can
            return len(fake.received("session/close")) == 1

        await eventually(closed)
        after = await session_line(client)
        cleared = await status(client)
        fresh = await client.call_tool("consult", {"question": "@fake say fresh"})
    assert before != after
    assert "session: none" in after
    assert "debate:" not in cleared
    assert f"claude: window pid {WINDOW} · conversation S2 · resets on: clear, compact" in cleared
    assert fresh.is_error is False
    assert len(fake.received("session/new")) == 2


async def test_every_new_turn_checks_the_record_first(fake: FakeAgentSetup) -> None:
    """A missed watch event cannot leave a fresh conversation on an old Codex session."""
    run_hook(fake, "SessionStart", "S1", source="startup")
    config = fake.config("close", CLAUDE_PID=str(WINDOW))
    async with Consultant(config, spawn=memory_spawn(fake.hosts)) as consultant:
        follower = follower_for(consultant, config)
        follower.start()  # not running: no watcher at all
        await consultant.consult("@fake say one")
        first = consultant.codex_session
        run_hook(fake, "SessionStart", "S2", source="clear")
        await follower.check()
        assert consultant.codex_session is None
        await consultant.consult("@fake say two")
        assert consultant.codex_session not in (None, first)
        assert follower.followed == "S2"


async def test_two_windows_on_one_workspace_do_not_reset_each_other(fake: FakeAgentSetup) -> None:
    config = fake.config("close")
    run_hook(fake, "SessionStart", "A1", pid=1111)
    run_hook(fake, "SessionStart", "B1", pid=2222)
    async with (
        Consultant(config, spawn=memory_spawn(fake.hosts)) as a,
        Consultant(config, spawn=memory_spawn(fake.hosts)) as b,
    ):
        window_a = follower_for(a, config, ancestors=[1111, 1])
        window_b = follower_for(b, config, ancestors=[2222, 1])
        for follower in (window_a, window_b):
            follower.start()
        await a.consult("@fake say a")
        await b.consult("@fake say b")
        kept = b.codex_session
        run_hook(fake, "SessionStart", "A2", pid=1111, source="clear")
        await window_a.check()
        await window_b.check()
        assert a.codex_session is None  # window A was cleared
        assert b.codex_session == kept  # window B did not notice
        assert (window_a.window, window_b.window) == (1111, 2222)
        assert (window_a.followed, window_b.followed) == ("A2", "B1")


@pytest.mark.parametrize(("reset_on", "resets"), [(None, True), ("clear", False), ("", False)])
async def test_compaction_follows_reset_on(fake: FakeAgentSetup, reset_on: str | None, resets: bool) -> None:
    extra = {"CLAUDE_PID": str(WINDOW)}
    if reset_on is not None:
        extra["CODEX_FUSION_RESET_ON"] = reset_on
    run_hook(fake, "SessionStart", "S1")
    config = fake.config("close", **extra)
    async with Consultant(config, spawn=memory_spawn(fake.hosts)) as consultant:
        follower = follower_for(consultant, config)
        follower.start()
        await consultant.consult("@fake say one")
        kept = consultant.codex_session
        run_hook(fake, "PreCompact", "S1", trigger="auto")
        await follower.check()
        assert (consultant.codex_session is None) is resets
        if not resets:
            assert consultant.codex_session == kept


def test_reset_on_rejects_unknown_events(fake: FakeAgentSetup) -> None:
    with pytest.raises(ValueError, match="CODEX_FUSION_RESET_ON may list clear and compact"):
        fake.config(CODEX_FUSION_RESET_ON="clear,startup")


async def test_corrupt_or_foreign_records_are_ignored(
    fake: FakeAgentSetup, caplog: pytest.LogCaptureFixture
) -> None:
    run_hook(fake, "SessionStart", "S1")
    config = fake.config("close", CLAUDE_PID=str(WINDOW))
    paths = nonce.record_paths(fake.data / "state", fake.workspace, WINDOW)
    assert paths.window is not None
    async with Consultant(config, spawn=memory_spawn(fake.hosts)) as consultant:
        follower = follower_for(consultant, config)
        follower.start()
        await consultant.consult("@fake say one")
        kept = consultant.codex_session
        for garbage in (b"", b"{not json", b'{"version": 99}', b"[]", json.dumps({"version": 1}).encode()):
            paths.window.write_bytes(garbage)
            await follower.check()
            assert consultant.codex_session == kept
        assert "ignoring reset record" in caplog.text
        run_hook(fake, "SessionStart", "S2", source="clear")  # a good record works again
        await follower.check()
        assert consultant.codex_session is None


async def test_a_clear_written_while_the_watch_starts_is_not_lost(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record changes after start-up read it but before inotify watches the directory (a slow
    start under load): no event ever comes for it, yet the server follows it without a new turn."""
    import watchfiles

    real = watchfiles.awatch

    def late(*paths: Any, **kwargs: Any) -> Any:
        run_hook(fake, "SessionStart", "S2", source="clear")  # lands before the watch exists
        return real(*paths, **kwargs)

    monkeypatch.setattr(watchfiles, "awatch", late)
    run_hook(fake, "SessionStart", "S1", source="startup")
    async with Client(fake.server("close", CLAUDE_PID=str(WINDOW))) as client:

        async def followed() -> bool:  # status never checks the record: only the watcher can
            return "conversation S2" in await status(client)

        await eventually(followed)
