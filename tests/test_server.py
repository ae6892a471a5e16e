"""The MCP tools in memory through mcp.Client, against the fake agent."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from codex_fusion.launch.planning import configure
from codex_fusion.mcp.server import build_server

from .conftest import FakeAgentSetup
from .results import text_of
from .test_diffs import commit, init, write

pytestmark = pytest.mark.anyio


async def test_tools_are_listed_with_compact_descriptions(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"consult", "status"} <= set(tools)
    consult = tools["consult"]
    assert consult.input_schema["required"] == ["question"]
    assert set(consult.input_schema["properties"]) == {
        "question",
        "context",
        "timeout_s",
        "members",
        "my_take",
        "model",
        "effort",
    }
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
        assert (
            "Codex is not logged in: run `npx -y @openai/codex login` in a terminal, or set OPENAI_API_KEY"
            in text_of(result)
        )
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
    assert "`question` must be a string, not 42" in text_of(wrong)  # one sentence, not pydantic's dump
    assert "`question` is missing (it takes a string)" in text_of(missing)
    assert ok.is_error is False


async def test_missing_workspace_is_said_in_every_result(fake: FakeAgentSetup) -> None:
    config = configure(fake.env(CODEX_FUSION_WORKSPACE="/definitely/not/here"))
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


async def test_status_says_starting_while_the_agent_warms_up(fake: FakeAgentSetup) -> None:
    """Warm-up has started the agent, which has not answered ``initialize`` yet: not "not started"."""
    async with Client(fake.server("no_init", CODEX_FUSION_WARM="1")) as client:
        status = ""
        with anyio.fail_after(30):
            while "state: starting" not in status:
                status = text_of(await client.call_tool("status", {}))
    assert "agent: starting (the session opens in a moment" in status
    assert "not started" not in status


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


LONE = "\ud800"  # half of a surrogate pair: JavaScript's JSON.stringify writes one for a cut emoji

#: Every text argument of every tool, each given a lone surrogate, and what the result must say.
SURROGATE_CALLS: list[tuple[str, dict[str, object], str]] = [
    ("consult", {"question": f"q{LONE}\n@fake say one", "context": f"c{LONE}"}, "one"),
    ("review_plan", {"plan": f"p{LONE}\n@fake say two", "context": f"c{LONE}"}, "two"),
    ("review_diff", {"diff": f"--- a\n+++ b\n+x{LONE}\n@fake say three", "focus": f"f{LONE}"}, "three"),
    ("review_diff", {"paths": [f"src{LONE}.py"], "base": f"main{LONE}"}, "Unknown base ref 'main\ufffd'"),
    ("brainstorm", {"problem": f"b{LONE}\n@fake say four", "constraints": f"k{LONE}"}, "four"),
    ("explore", {"focus": f"e{LONE}\n@fake say five", "paths": [f"lib{LONE}"]}, "five"),
    ("reply", {"message": f"m{LONE}\n@fake say six"}, "six"),
    ("permit", {"decision": "allow", "note": f"n{LONE}", "request": f"r{LONE}"}, "is not a request id"),
    ("permit", {"decision": LONE}, '`decision` must be one of "allow", "deny", "cancel", not "\ufffd"'),
]


async def test_a_lone_surrogate_in_any_argument_is_answered_and_the_server_stays_up(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    init(fake.workspace)  # review_diff runs git, whose errors quote `base` and `paths`
    write(fake.workspace / "a.txt", "a\n")
    commit(fake.workspace)
    async with Client(fake.server()) as client:
        for name, arguments, expected in SURROGATE_CALLS:
            with anyio.fail_after(20):  # a hang detector: each call must be answered
                result = await client.call_tool(name, arguments)
            assert expected in text_of(result), (name, text_of(result))
            assert LONE not in text_of(result)
        status = text_of(await client.call_tool("status", {}))
        after = await client.call_tool("consult", {"question": "@fake say still here"})
    assert "last error: none" in status
    assert text_of(after).startswith("still here")
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert any("q\ufffd" in p and "c\ufffd" in p for p in prompts)  # what Codex got: U+FFFD
    assert any("m\ufffd" in p for p in prompts)


async def test_a_bug_in_the_warm_up_leaves_the_server_up(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codex_fusion.member.session import Session

    real = Session.ensure
    bugs = [ValueError("a bug while warming up")]

    async def ensure(self: Session) -> object:
        if bugs:
            raise bugs.pop()
        return await real(self)

    monkeypatch.setattr(Session, "ensure", ensure)
    async with Client(fake.server(CODEX_FUSION_WARM="1")) as client:
        with anyio.fail_after(20):
            while "warm-up failed" not in (status := text_of(await client.call_tool("status", {}))):
                await anyio.sleep(0.02)
            result = await client.call_tool("consult", {"question": "@fake say warm enough"})
    assert "last error: warm-up failed (ValueError: a bug while warming up)" in status
    assert text_of(result).startswith("warm enough")


async def test_a_bug_in_the_follower_task_leaves_the_server_up(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from codex_fusion.host.follow import Follower

    async def broken(self: Follower) -> None:
        raise ValueError("a bug in the watcher")

    monkeypatch.setattr(Follower, "_watch", broken)
    async with Client(fake.server()) as client:
        with anyio.fail_after(20):
            while "following Claude's conversation failed" not in caplog.text:
                await anyio.sleep(0.02)
            result = await client.call_tool("consult", {"question": "@fake say still up"})
    assert text_of(result).startswith("still up")
    (record,) = [r for r in caplog.records if "following Claude's conversation failed" in r.getMessage()]
    assert record.exc_info is not None
