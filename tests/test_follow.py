"""Resets that follow Claude: the hook's records, read by the server, reset or restore Codex.

The records are written by the real hook script (``hooks/codex_fusion_hook.py``); the server runs in
memory, so its ancestors are this test process's: ``CLAUDE_PID`` is our parent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_fusion.council.council import Council
from codex_fusion.hookside import nonce
from codex_fusion.host import follow
from codex_fusion.host.follow import Action, Follower, react
from codex_fusion.launch.config import Config
from codex_fusion.member import render
from codex_fusion.member.conversation import Member
from codex_fusion.member.turn import TurnOutcome

from .conftest import FakeAgentSetup
from .memory_host import memory_spawn
from .results import text_of
from .test_hook import FULL_DISK

pytestmark = pytest.mark.anyio

HOOK = Path(__file__).resolve().parents[1] / "hooks" / "codex_fusion_hook.py"
WINDOW = os.getppid()  # an ancestor of the in-memory server: "our" Claude Code window


def run_hook(
    fake: FakeAgentSetup,
    event: str,
    session: str,
    *,
    pid: int = WINDOW,
    full_disk: bool = False,
    **fields: Any,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real hook script as Claude Code would (``full_disk``: every write fails ENOSPC)."""
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
        [sys.executable, "-c", FULL_DISK, str(HOOK)] if full_disk else [sys.executable, str(HOOK)],
        input=json.dumps(payload).encode(),
        env=env,
        capture_output=True,
        check=True,
    )
    assert (done.stderr != b"") is full_disk, done.stderr
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


def follower_for(consultant: Council, config: Config, **kwargs: Any) -> Follower:
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
            # the close reaches the agent a moment before the follower notes the new conversation
            if len(fake.received("session/close")) != 1:
                return False
            return "conversation S2" in await status(client)

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
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        consultant = council.codex
        follower = follower_for(council, config)
        await follower.start()  # not running: no watcher at all
        await consultant.consult("@fake say one")
        first = consultant.codex_session
        run_hook(fake, "SessionStart", "S2", source="clear")
        await follower.check()
        assert consultant.codex_session is None
        await consultant.consult("@fake say two")
        assert consultant.codex_session not in (None, first)
        assert follower.followed == "S2"


async def test_a_settled_record_is_not_read_again_until_it_changes(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check stats the record and its directory; it reads them again only when either changed, and a
    record written since (a /clear) is read at once, without the watcher."""
    monkeypatch.setattr(follow, "SETTLED_S", 0.05)  # not 2 s: the test would wait for it
    run_hook(fake, "SessionStart", "S1", source="startup")
    config = fake.config("close", CLAUDE_PID=str(WINDOW))
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        follower = follower_for(council, config)
        reads: list[None] = []
        read = follower._record
        follower._record = lambda: reads.append(None) or read()  # type: ignore[method-assign]
        await follower.start()
        await council.codex.consult("@fake say one")
        await anyio.sleep(0.1)
        for _ in range(3):
            assert await follower.check()
        assert len(reads) == 2  # start, and the first check (which keeps what it read)
        assert follower.followed == "S1"
        run_hook(fake, "SessionStart", "S2", source="clear")
        assert await follower.check()
        assert len(reads) == 3
        assert (follower.followed, council.codex.codex_session) == ("S2", None)
        await anyio.sleep(0.1)
        assert await follower.check()  # settled now: kept
        kept = len(reads)
        assert await follower.check()
        assert len(reads) == kept


async def test_two_windows_on_one_workspace_do_not_reset_each_other(fake: FakeAgentSetup) -> None:
    config = fake.config("close")
    run_hook(fake, "SessionStart", "A1", pid=1111)
    run_hook(fake, "SessionStart", "B1", pid=2222)
    async with (
        Council(config, spawn=memory_spawn(fake.hosts)) as council_a,
        Council(config, spawn=memory_spawn(fake.hosts)) as council_b,
    ):
        a, b = council_a.codex, council_b.codex
        window_a = follower_for(council_a, config, ancestors=[1111, 1])
        window_b = follower_for(council_b, config, ancestors=[2222, 1])
        for follower in (window_a, window_b):
            await follower.start()
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
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        consultant = council.codex
        follower = follower_for(council, config)
        await follower.start()
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
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        consultant = council.codex
        follower = follower_for(council, config)
        await follower.start()
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


async def test_a_record_written_before_the_watch_began_is_still_seen(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher starts in a worker thread; on a loaded machine it began after the hook wrote the
    /clear, whose event was then lost until the next turn (the suite's two flaky watcher tests)."""
    from codex_fusion.hookside import private
    from codex_fusion.host import follow

    real = private.write_files
    watching = threading.Event()

    def late(*args: Any, **kwargs: Any) -> None:  # the watcher's set-up, delayed as under load
        watching.wait(timeout=10)
        real(*args, **kwargs)

    monkeypatch.setattr(follow.private, "write_files", late)
    run_hook(fake, "SessionStart", "S1", source="startup")
    async with Client(fake.server("close", CLAUDE_PID=str(WINDOW))) as client:
        await client.call_tool("consult", {"question": "@fake say VERDICT: OPEN — a"})
        run_hook(fake, "SessionStart", "S2", source="clear")  # before the watch exists
        watching.set()

        async def closed() -> bool:  # status itself never checks the record: only the watcher can
            # the close reaches the agent a moment before the follower notes the new conversation
            if len(fake.received("session/close")) != 1:
                return False
            return "conversation S2" in await status(client)

        await eventually(closed)
        shown = await status(client)
    assert "session: none" in shown
    assert f"claude: window pid {WINDOW} · conversation S2" in shown


async def test_a_record_is_marked_handled_only_after_its_action_succeeded(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error mid-reset used to lose the /clear for good (the record was marked first);
    and the call that found it went on in the cleared conversation's session."""
    run_hook(fake, "SessionStart", "S1")
    config = fake.config("close", CLAUDE_PID=str(WINDOW))
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        consultant = council.codex
        follower = follower_for(council, config)
        await follower.start()
        await consultant.consult("@fake say one")
        real = Member.reset
        failures = [RuntimeError("a bug mid-reset")]

        async def reset(self: Member, **kwargs: Any) -> Any:
            if failures:
                raise failures.pop()
            return await real(self, **kwargs)

        monkeypatch.setattr(Member, "reset", reset)
        run_hook(fake, "SessionStart", "S2", source="clear")
        assert await follower.check() is False
        assert consultant.codex_session is not None  # not reset yet …
        assert follower.problem is not None
        assert "RuntimeError: a bug mid-reset" in follower.problem
        assert "following Claude's conversation failed" in caplog.text
        assert await follower.check() is True  # … but not lost: the next check carries it out
        assert consultant.codex_session is None
        assert follower.followed == "S2"
        assert follower.problem is None


async def test_a_call_is_refused_while_a_clear_cannot_be_carried_out(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_hook(fake, "SessionStart", "S1")
    async with Client(fake.server("close", CLAUDE_PID=str(WINDOW))) as client:
        await client.call_tool("consult", {"question": "OLD\n@fake say one"})
        monkeypatch.setattr(Member, "reset", _always_fails)
        run_hook(fake, "SessionStart", "S2", source="clear")
        refused = await client.call_tool("consult", {"question": "@fake recall"})
        shown = await status(client)
        monkeypatch.undo()
        after = await client.call_tool("consult", {"question": "@fake recall"})
    assert refused.is_error
    assert "Not sent to Codex: codex-fusion could not follow Claude's latest event" in text_of(refused)
    assert "call `reset`" in text_of(refused)
    assert "claude: NOT IN STEP — could not follow" in shown
    assert text_of(after).startswith("recall: 0 earlier prompt(s)")  # the /clear was carried out
    assert [m for m in fake.received("session/prompt") if "recall" in json.dumps(m)] == [
        fake.received("session/prompt")[-1]
    ]


async def _always_fails(self: Member, **kwargs: Any) -> Any:
    raise RuntimeError("reset is broken")


async def test_a_reset_cancelled_mid_way_is_carried_out_by_the_next_check(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "S1")
    config = fake.config("close", CLAUDE_PID=str(WINDOW), CODEX_FUSION_CANCEL_GRACE_MS="1000")
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        consultant = council.codex
        follower = follower_for(council, config)
        await follower.start()
        await consultant.consult("@fake say one")
        async with anyio.create_task_group() as tg:
            tg.start_soon(consultant.consult, "@fake hang 60")  # ignores session/cancel
            await anyio.wait_all_tasks_blocked()
            run_hook(fake, "SessionStart", "S2", source="clear")
            with anyio.move_on_after(0.3):  # the reset waits the grace for the turn: cancel it then
                await follower.check()
            assert consultant.codex_session is not None
            with anyio.fail_after(10):
                assert await follower.check() is True
        assert consultant.codex_session is None
        assert follower.followed == "S2"


async def test_a_vanished_record_resets_codex_and_says_so(fake: FakeAgentSetup) -> None:
    """The hook removes the record it could not write (a full disk): the event is unknown, so the
    server fails closed, tells Claude, and saves no link under the old conversation's name."""
    run_hook(fake, "SessionStart", "S1")
    config = fake.config("close", CLAUDE_PID=str(WINDOW))
    paths = nonce.record_paths(fake.data / "state", fake.workspace, WINDOW)
    async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
        consultant = council.codex
        follower = follower_for(council, config)
        await follower.start()
        await consultant.consult("@fake say one")
        assert paths.window is not None
        paths.window.unlink()
        paths.workspace.unlink()
        assert await follower.check() is True
        assert consultant.codex_session is None
        assert follower.followed is None
        outcome = await consultant.consult("@fake say two")
    assert isinstance(outcome, TurnOutcome)
    shown = render.outcome(outcome)
    assert "codex-fusion lost track of Claude's conversation" in shown
    assert "re-brief Codex" in shown


async def test_a_clear_the_hook_could_not_record_still_resets_codex(fake: FakeAgentSetup) -> None:
    """A full disk: the hook tells the user and removes the stale record; the server notices."""
    run_hook(fake, "SessionStart", "S1")
    async with Client(fake.server("close", CLAUDE_PID=str(WINDOW))) as client:
        await client.call_tool("consult", {"question": "OLD\n@fake say one"})
        told = run_hook(fake, "SessionStart", "S2", source="clear", full_disk=True)

        async def closed() -> bool:
            return len(fake.received("session/close")) == 1

        await eventually(closed)
        fresh = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
    assert "could not record this /clear for Codex" in json.loads(told.stdout)["systemMessage"]
    assert fresh.startswith("recall: 0 earlier prompt(s)")
    assert "codex-fusion lost track of Claude's conversation" in fresh
