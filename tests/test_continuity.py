"""Codex that survives a restart: the link from Claude's session to Codex's, reopened on start.

The fake agent keeps its sessions in ``FAKE_ACP_STORE`` (as Codex keeps its sessions on disk), so a
second server process — here a second in-memory server — can reopen them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from codex_fusion.hookside import nonce
from codex_fusion.host import continuity
from codex_fusion.mcp.server import TOOLS

from .conftest import FakeAgentSetup
from .test_follow import WINDOW, eventually, run_hook, session_line, status, text_of

pytestmark = pytest.mark.anyio


def server(fake: FakeAgentSetup, flags: str = "resume,close", **extra: str) -> Any:
    store = fake.data.parent / "codex-sessions.json"
    return fake.server(flags, CLAUDE_PID=str(WINDOW), FAKE_ACP_STORE=str(store), **extra)


async def first_run(fake: FakeAgentSetup, flags: str = "resume,close") -> str:
    """Claude starts conversation S1 and consults once; returns Codex's session line."""
    run_hook(fake, "SessionStart", "S1", source="startup")
    async with Client(server(fake, flags)) as client:
        result = await client.call_tool(
            "consult", {"question": "FIRST-QUESTION\n@fake say VERDICT: OPEN — x"}
        )
        assert result.is_error is False
        return await session_line(client)


@pytest.mark.parametrize("flags", ["resume,close", "load,close"])
async def test_a_restarted_server_reopens_codexs_session_with_its_context(
    fake: FakeAgentSetup, flags: str
) -> None:
    before = await first_run(fake, flags)
    run_hook(fake, "SessionStart", "S1", source="resume")  # `claude --resume`: a new server process
    async with Client(server(fake, flags)) as client:
        recalled = text_of(await client.call_tool("reply", {"message": "@fake recall"}))
        after = await session_line(client)
        shown = await status(client)
    assert after.split(" ")[1] == before.split(" ")[1]  # the same Codex session id
    assert "(restored)" in after
    assert recalled.startswith("recall: 1 earlier prompt(s); first: <role>")  # its history came back
    assert "Codex's earlier session sess-" in recalled
    assert "was restored, with its context" in recalled
    assert "round 2/3" in recalled.splitlines()[-1]  # the debate went on where it stood
    method = "session/resume" if flags.startswith("resume") else "session/load"
    assert len(fake.received(method)) == 1
    assert "debate: round 2/3" in shown


async def test_an_agent_that_cannot_reopen_says_so_and_starts_fresh(fake: FakeAgentSetup) -> None:
    await first_run(fake, "close")
    async with Client(server(fake, "close")) as client:
        result = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
        after = await session_line(client)
    assert result.startswith("recall: 0 earlier prompt(s)")
    assert "could not be restored: this answer comes from a fresh session; re-brief Codex" in result
    assert "(new)" in after


async def test_a_cleared_conversation_keeps_its_codex_session_for_a_resume(fake: FakeAgentSetup) -> None:
    """A /clear starts the new conversation fresh; it does not erase the old one, which Claude Code
    can --resume with its whole history: Codex's session for it comes back too."""
    before = await first_run(fake)
    run_hook(fake, "SessionEnd", "S1", reason="clear")
    run_hook(fake, "SessionStart", "S2", source="clear")
    async with Client(server(fake)) as client:
        fresh = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
    assert fresh.startswith("recall: 0 earlier prompt(s)")  # nothing of S1 in the new conversation
    assert fake.received("session/resume") == []
    assert continuity.load(fake.data / "state", fake.workspace, "S1") is not None
    run_hook(fake, "SessionStart", "S1", source="resume")  # `claude --resume` of the cleared one
    async with Client(server(fake)) as client:
        again = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
        after = await session_line(client)
    assert after.split(" ")[1] == before.split(" ")[1]
    assert "first: <role>" in again  # S1's history
    assert "was restored, with its context" in again


async def test_a_server_restarted_after_a_clear_restores_the_new_conversations_session(
    fake: FakeAgentSetup,
) -> None:
    """A crash, an /mcp reconnect or a plugin reload after a /clear: the window's last record says
    "clear", but the new conversation has consulted Codex since, and its link must be used."""
    await first_run(fake)
    run_hook(fake, "SessionEnd", "S1", reason="clear")
    run_hook(fake, "SessionStart", "S2", source="clear")
    async with Client(server(fake)) as client:
        await client.call_tool("consult", {"question": "SECOND-CONVERSATION\n@fake say two"})
        second = (await session_line(client)).split(" ")[1]
    async with Client(server(fake)) as client:  # restarted: no new record
        recalled = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
        after = (await session_line(client)).split(" ")[1]
    assert after == second
    assert recalled.startswith("recall: 1 earlier prompt(s)")
    assert "was restored, with its context" in recalled


async def test_a_restore_the_agent_dies_during_is_said_in_the_next_result(fake: FakeAgentSetup) -> None:
    await first_run(fake)
    async with Client(server(fake, "resume,close,die_on=session/resume")) as client:
        failed = await client.call_tool("consult", {"question": "@fake say lost"})
        fresh = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
    assert failed.is_error
    assert "Codex stopped during session/resume" in text_of(failed)
    assert fresh.startswith("recall: 0 earlier prompt(s)")
    assert "could not be restored: this answer comes from a fresh session; re-brief Codex" in fresh


@pytest.mark.parametrize(
    "change",
    [
        {"verdict": "maybe"},
        {"verdict": ["open"]},
        {"rounds": -1},
        {"rounds": True},
        {"at": "now"},
        {"summary": 3},
    ],
)
async def test_an_unusable_link_is_ignored_and_the_server_starts(
    fake: FakeAgentSetup, change: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt or older link used to raise in the lifespan: the server never started."""
    await first_run(fake)
    path = nonce.link_path(fake.data / "state", fake.workspace, "S1")
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    async with Client(server(fake)) as client:
        result = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
    assert result.startswith("recall: 0 earlier prompt(s)")  # not restored, and said nowhere wrong
    assert "ignoring " in caplog.text
    assert str(path) in caplog.text


async def test_session_end_closes_codex_and_a_later_resume_brings_it_back(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "S1")
    async with Client(server(fake)) as client:
        await client.call_tool("consult", {"question": "KEPT\n@fake say kept"})
        run_hook(fake, "SessionEnd", "S1", reason="prompt_input_exit")

        async def closed() -> bool:
            return len(fake.received("session/close")) == 1

        await eventually(closed)
    (close,) = fake.received("session/close")
    link = continuity.load(fake.data / "state", fake.workspace, "S1")
    assert link is not None
    assert link.codex_session == close["params"]["sessionId"]
    run_hook(fake, "SessionStart", "S1", source="resume")
    async with Client(server(fake)) as client:
        recalled = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
    assert "first: <role>" in recalled  # KEPT's session, with its history
    assert "was restored" in recalled


async def test_resuming_another_conversation_switches_codex_to_its_session(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "A")
    async with Client(server(fake)) as client:
        await client.call_tool("consult", {"question": "ABOUT-A\n@fake say a"})
        session_a = (await session_line(client)).split(" ")[1]
        run_hook(fake, "SessionStart", "B", source="resume")  # B has no Codex session yet: fresh
        await client.call_tool("consult", {"question": "ABOUT-B\n@fake say b"})
        session_b = (await session_line(client)).split(" ")[1]
        run_hook(fake, "SessionStart", "A", source="resume")  # back to A: its Codex session again
        back = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
        session_back = (await session_line(client)).split(" ")[1]
    assert session_a != session_b
    assert session_back == session_a
    assert "first: <role>" in back
    assert "ABOUT-A" in json.dumps(fake.received("session/prompt")[0])


async def test_a_fork_forks_codexs_session_and_keeps_the_original(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "ORIG")
    async with Client(server(fake, "resume,close,fork")) as client:
        await client.call_tool("consult", {"question": "BEFORE-FORK\n@fake say VERDICT: OPEN — f"})
        original = (await session_line(client)).split(" ")[1]
        run_hook(fake, "SessionStart", "FORKED", source="fork")
        recalled = text_of(await client.call_tool("reply", {"message": "@fake recall"}))
        forked = (await session_line(client)).split(" ")[1]
    (fork,) = fake.received("session/fork")
    assert fork["params"]["sessionId"] == original
    assert forked != original
    assert recalled.startswith("recall: 1 earlier prompt(s)")  # the fork kept the context
    assert "round 2/3" in recalled.splitlines()[-1]
    state = fake.data / "state"
    original_link = continuity.load(state, fake.workspace, "ORIG")
    forked_link = continuity.load(state, fake.workspace, "FORKED")
    assert original_link is not None
    assert forked_link is not None
    assert (original_link.codex_session, forked_link.codex_session) == (original, forked)


async def test_a_fork_without_agent_support_starts_fresh_and_says_so(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "ORIG")
    async with Client(server(fake)) as client:
        await client.call_tool("consult", {"question": "@fake say one"})
        run_hook(fake, "SessionStart", "FORKED", source="fork")
        result = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
    assert result.startswith("recall: 0 earlier prompt(s)")
    assert "Codex cannot fork its session" in result


async def test_after_compaction_the_hook_tells_claude_where_the_debate_stands(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "S1")
    state = fake.data / "state"
    async with Client(server(fake, CODEX_FUSION_RESET_ON="clear")) as client:
        await client.call_tool("consult", {"question": "@fake say VERDICT: OPEN — retries"})

        async def saved() -> bool:  # the state is saved after the turn, off the tool path
            return "round 1/3" in (nonce.read_debate_state(state, fake.workspace, WINDOW, "S1") or "")

        await eventually(saved)
    done = run_hook(fake, "SessionStart", "S1", source="compact")
    context = json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]
    assert "debate at round 1/3, last verdict: open — retries" in context
    assert "Codex keeps its session across compaction" in context
    assert len(context.splitlines()) <= 2


async def test_warm_start_opens_the_session_before_the_first_call(fake: FakeAgentSetup) -> None:
    async with Client(server(fake, CODEX_FUSION_WARM="1")) as client:

        async def warmed() -> bool:
            return "session: sess-" in await status(client)

        await eventually(warmed)
        assert fake.received("session/prompt") == []
        result = await client.call_tool("consult", {"question": "@fake say warm"})
    assert text_of(result).startswith("warm")
    assert len(fake.received("session/new")) == 1  # the consult used the warmed session


async def test_warm_start_reopens_a_restored_session_at_once(fake: FakeAgentSetup) -> None:
    before = await first_run(fake)
    async with Client(server(fake, CODEX_FUSION_WARM="1")) as client:

        async def reopened() -> bool:
            return "(restored)" in await session_line(client)

        await eventually(reopened)
        assert (await session_line(client)).split(" ")[1] == before.split(" ")[1]
    assert len(fake.received("session/resume")) == 1


async def test_a_warm_start_that_cannot_log_in_stays_quiet_until_the_first_consult(
    fake: FakeAgentSetup,
) -> None:
    async with Client(server(fake, "auth=ts", CODEX_FUSION_WARM="1")) as client:
        tools = await client.list_tools()

        async def failed() -> bool:
            return "last error: Codex is not logged in" in await status(client)

        await eventually(failed)
        result = await client.call_tool("consult", {"question": "hi"})
    assert len(tools.tools) == len(TOOLS)
    assert result.is_error
    assert "Codex is not logged in" in text_of(result)


async def test_before_any_record_the_servers_own_session_id_finds_the_link(fake: FakeAgentSetup) -> None:
    """Claude Code starts MCP servers in parallel with the SessionStart hook, and tells them the
    conversation in CLAUDE_CODE_SESSION_ID: enough to restore Codex before the first record exists."""
    before = await first_run(fake)
    records = fake.data / "state" / "windows"
    for record in records.rglob("*.json"):
        record.unlink()  # as if the hook had not run yet in the new Claude Code process
    async with Client(server(fake, CLAUDE_CODE_SESSION_ID="S1")) as client:
        recalled = text_of(await client.call_tool("consult", {"question": "@fake recall"}))
        after = await session_line(client)
    assert after.split(" ")[1] == before.split(" ")[1]
    assert "first: <role>" in recalled
