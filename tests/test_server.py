"""The MCP tools in memory through mcp.Client, against the fake agent."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from codex_fusion.config import Config
from codex_fusion.server import build_server

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio


def text_of(result: object) -> str:
    content = getattr(result, "content", [])
    return "\n".join(getattr(block, "text", "") for block in content)


async def test_tools_are_listed_with_compact_descriptions(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"consult", "status"} <= set(tools)
    consult = tools["consult"]
    assert consult.input_schema["required"] == ["question"]
    assert set(consult.input_schema["properties"]) == {"question", "context", "timeout_s", "model", "effort"}
    assert consult.annotations is not None
    assert consult.annotations.read_only_hint is True
    for tool in tools.values():
        assert tool.description is not None
        assert len(tool.description) < 600


async def test_consult_returns_the_answer_and_a_footer(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        result = await client.call_tool(
            "consult", {"question": "@fake say Use a queue.\n@fake usage 2500", "context": "we use anyio"}
        )
    assert result.is_error is False
    text = text_of(result)
    assert text.startswith("Use a queue.")
    assert text.splitlines()[-1].startswith("— codex · ")
    assert "2.5k tokens" in text
    prompt = fake.received("session/prompt")[0]["params"]["prompt"][0]["text"]
    assert "<context>\nwe use anyio\n</context>" in prompt
    assert "VERDICT" in prompt


async def test_progress_reaches_the_client(fake: FakeAgentSetup) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(fake.server()) as client:
        result = await client.call_tool(
            "consult",
            {
                "question": "@fake think weighing options\n@fake tool read src/app.py\n@fake sleep 0.6\n"
                "@fake say final answer"
            },
            progress_callback=on_progress,
        )
    assert result.is_error is False
    assert messages, "no progress notification arrived"
    assert messages[-1] == "final answer"
    assert any(m.startswith("↳ read src/app.py") or m.startswith("💭") for m in messages)


async def test_agent_failure_is_an_error_result_and_server_stays_up(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("auth=ts")) as client:
        result = await client.call_tool("consult", {"question": "hi"})
        assert result.is_error is True
        assert "Codex is not logged in: run `codex login`, or set OPENAI_API_KEY" in text_of(result)
        status = text_of(await client.call_tool("status", {}))
    assert "last error: Codex is not logged in" in status


async def test_empty_question_and_bad_arguments_are_clear_errors(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        empty = await client.call_tool("consult", {"question": "   "})
        wrong = await client.call_tool("consult", {"question": 42})
        missing = await client.call_tool("consult", {})
        ok = await client.call_tool("consult", {"question": "@fake say fine"})
    for result in (empty, wrong, missing):
        assert result.is_error
    assert "`question` is empty" in text_of(empty)
    assert "question\n  Input should be a valid string" in text_of(wrong)
    assert "question\n  Field required" in text_of(missing)
    assert ok.is_error is False


async def test_missing_workspace_is_said_in_every_result(fake: FakeAgentSetup) -> None:
    config = Config.from_env(fake.env(CODEX_FUSION_WORKSPACE="/definitely/not/here"))
    async with Client(build_server(config)) as client:
        result = await client.call_tool("consult", {"question": "hi"})
        status = text_of(await client.call_tool("status", {}))
    assert result.is_error
    assert "'/definitely/not/here' (from CODEX_FUSION_WORKSPACE) is not an existing directory" in text_of(
        result
    )
    assert "workspace: ERROR" in status


async def test_status_shows_session_and_agent(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        before = text_of(await client.call_tool("status", {}))
        await client.call_tool("consult", {"question": "hi"})
        after = text_of(await client.call_tool("status", {}))
    assert "agent: not started" in before
    assert "fake_agent.py" in before
    assert "agent: alive, fake-acp 9.9.9" in after
    assert "session: sess-" in after
    assert "queue: 0 waiting · turns completed: 1" in after


async def test_concurrent_tool_calls_are_all_answered(fake: FakeAgentSetup) -> None:
    answers: dict[int, str] = {}
    async with Client(fake.server()) as client, anyio.create_task_group() as tg:
        for i in range(4):

            async def call(i: int = i) -> None:
                result = await client.call_tool("consult", {"question": f"@fake say n{i}"})
                answers[i] = text_of(result).split("\n")[0]

            tg.start_soon(call)
    assert answers == {i: f"n{i}" for i in range(4)}


async def test_pause_and_permit_through_the_tools(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "permit" in tools
        paused = await client.call_tool(
            "consult", {"question": "@fake permit execute ts touch via-mcp.txt\n@fake say finished"}
        )
        assert paused.is_error is False
        text = text_of(paused)
        assert text.startswith("⏸ Codex is paused, waiting for your decision. Nothing has run yet.")
        assert "Codex wants to: run `touch via-mcp.txt`" in text
        assert "Codex's reason: I need to run touch via-mcp.txt" in text
        assert '`permit` {"decision": "allow"}' in text
        status = text_of(await client.call_tool("status", {}))
        assert "PAUSED for permit" in status
        busy = await client.call_tool("consult", {"question": "another"})
        assert busy.is_error
        assert "Call `permit` (allow or deny) first" in text_of(busy)
        bad = await client.call_tool("permit", {"decision": "maybe"})
        assert bad.is_error
        done = await client.call_tool("permit", {"decision": "allow"})
        assert done.is_error is False
        assert text_of(done).startswith("[ran touch via-mcp.txt] finished")
        assert "[allowed by Claude: run `touch via-mcp.txt`" in text_of(done)
        again = await client.call_tool("permit", {"decision": "allow"})
        status = text_of(await client.call_tool("status", {}))
    assert again.is_error
    assert "No pending permission" in text_of(again)
    assert (fake.workspace / "via-mcp.txt").exists()
    assert "guardian decisions: allowed by Claude: 1, asked Claude: 1" in status
    assert "guardian flags: external reads off, writes off, commands off" in status


async def test_a_20000_chunk_stream_arrives_intact_with_bounded_notifications(fake: FakeAgentSetup) -> None:
    import time

    count = 0

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        nonlocal count
        count += 1

    text = "".join(f"{i % 10}" for i in range(20_000))
    async with Client(fake.server()) as client:
        started = time.monotonic()
        result = await client.call_tool(
            "consult", {"question": f"@fake say {text}\n@fake chunks 20000"}, progress_callback=on_progress
        )
        elapsed = time.monotonic() - started
    assert text_of(result).split("\n")[0] == text
    assert 1 <= count <= 4 * elapsed + 3  # coalesced: a few per second, never one per chunk
