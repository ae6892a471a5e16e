"""The consultation toolset through the MCP client, the scripted agent in memory."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_fusion.text import prompts

from .conftest import FakeAgentSetup
from .gitrepo import git
from .results import text_of

pytestmark = pytest.mark.anyio

TOOLS = {
    "consult",
    "review_plan",
    "review_diff",
    "brainstorm",
    "explore",
    "reply",
    "permit",
    "delegate",
    "task",
    "reset",
    "status",
}


def prompts_sent(fake: FakeAgentSetup) -> list[str]:
    return [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]


def footer(text: str) -> str:
    return text.splitlines()[-1]


async def test_the_eleven_tools_are_listed_with_compact_schemas(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    listing = json.dumps(
        [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools.values()
        ]
    )
    assert '"title"' not in listing
    assert "anyOf" not in listing
    # Deferred behind tool search by default; with it off, every request carries these (about 1.6k
    # tokens with the two delegation tools; bench/context_cost.py keeps the whole under its ceiling).
    assert len(listing) < 7000
    assert tools["review_diff"].input_schema.get("required") is None
    assert tools["permit"].input_schema["required"] == ["decision"]
    for name in ("consult", "review_plan", "review_diff", "brainstorm"):
        assert "VERDICT" in (tools[name].description or "")
    assert tools["reset"].annotations is not None
    assert tools["reset"].annotations.destructive_hint


LONG_TOOLS = ("consult", "review_plan", "review_diff", "brainstorm", "explore", "reply", "permit")
STALL = "@fake later 60"  # Codex goes quiet after anything it asked


@pytest.mark.parametrize("tool", LONG_TOOLS)
async def test_every_long_tool_takes_timeout_s_and_it_bounds_the_turn(
    fake: FakeAgentSetup, tool: str
) -> None:
    """The timeout advice ("ask again with a larger `timeout_s`") holds for every tool that runs a
    turn: each takes ``timeout_s``, and it is the idle bound of that turn."""
    repository(fake.workspace)
    arguments = {
        "consult": {"question": STALL},
        "review_plan": {"plan": STALL},
        "review_diff": {"diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", "focus": STALL},
        "brainstorm": {"problem": STALL},
        "explore": {"focus": STALL},
        "reply": {"message": STALL},
        "permit": {"decision": "allow"},
    }[tool]
    async with Client(fake.server()) as client:
        schema = {t.name: t.input_schema for t in (await client.list_tools()).tools}[tool]
        assert "timeout_s" in schema["properties"], schema
        if tool == "reply":
            await client.call_tool("consult", {"question": "@fake say VERDICT: OPEN — x"})
        if tool == "permit":
            paused = await client.call_tool(
                "consult", {"question": f"@fake permit execute rust true\n{STALL}"}
            )
            assert text_of(paused).startswith("⏸"), text_of(paused)
        with anyio.fail_after(60):  # the 300 s default bound would still be waiting
            result = await client.call_tool(tool, {**arguments, "timeout_s": 0.3})
    assert "[Timed out: Codex made no progress" in text_of(result), text_of(result)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected", "debate"),
    [
        (
            "consult",
            {"question": "Q-MARK?\n@fake say done", "context": "C-MARK"},
            ["<question>\nQ-MARK?", "<context>\nC-MARK\n</context>", "A direct answer first"],
            True,
        ),
        (
            "review_plan",
            {"plan": "1. P-MARK\n@fake say done", "context": "C-MARK"},
            ["<plan>\n1. P-MARK", "<context>\nC-MARK", "Problems by severity", "Review this plan"],
            True,
        ),
        (
            "brainstorm",
            {"problem": "B-MARK\n@fake say done", "constraints": "K-MARK"},
            ["<problem>\nB-MARK", "<constraints>\nK-MARK\n</constraints>", "2–4 genuinely different"],
            True,
        ),
        (
            "review_diff",
            {"diff": "diff --git a/x b/x\n+D-MARK\n@fake say done", "focus": "F-MARK"},
            ["<diff>\ndiff --git a/x b/x\n+D-MARK", "<focus>\nF-MARK\n</focus>", "Findings by severity"],
            True,
        ),
        (
            "explore",
            {"focus": "F-MARK\n@fake say done", "paths": ["src/app.py", "docs/"]},
            ["<focus>\nF-MARK", "<start_with>\n- src/app.py\n- docs/\n</start_with>", "no VERDICT line"],
            False,
        ),
    ],
)
async def test_each_tool_sends_its_material_and_frame(
    fake: FakeAgentSetup, tool: str, arguments: dict[str, Any], expected: list[str], debate: bool
) -> None:
    async with Client(fake.server()) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False, text_of(result)
    (prompt,) = prompts_sent(fake)
    for piece in expected:
        assert piece in prompt
    assert prompt.startswith(prompts.ROLE)
    assert prompts.GROUNDING in prompt
    assert (prompts.DEBATE in prompt) is debate
    assert ("round 1/3" in footer(text_of(result))) is debate


async def test_a_debate_counts_rounds_and_says_when_to_stop(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        first = text_of(await client.call_tool("consult", {"question": "@fake say VERDICT: OPEN — retries"}))
        second = text_of(await client.call_tool("reply", {"message": "@fake say VERDICT: OPEN — still"}))
        third = text_of(await client.call_tool("reply", {"message": "@fake say VERDICT: OPEN – at odds"}))
        status = text_of(await client.call_tool("status", {}))
    assert footer(first).startswith("— codex · round 1/3 · verdict: open — retries · ")
    assert "[Still open: `reply` with your concrete counter-argument, or decide.]" in first
    assert footer(second).startswith("— codex · round 2/3 · verdict: open — still · ")
    assert footer(third).startswith("— codex · round 3/3 · verdict: open — at odds · ")
    assert "Round 3 of 3 without consensus: stop debating. Decide yourself" in third
    assert "stop debating" not in first + second
    sent = prompts_sent(fake)
    assert "exchange 2 of about 3" in sent[1]
    assert "exchange 3, the last: converge" in sent[2]
    assert "<claude_replies>" in sent[1]
    assert "debate: round 3/3 · last verdict: open — at odds" in status


async def test_consensus_ends_quietly_and_a_missing_verdict_is_reported(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        agreed = text_of(
            await client.call_tool("consult", {"question": "@fake say VERDICT: CONSENSUS — ship"})
        )
        silent = text_of(await client.call_tool("review_plan", {"plan": "@fake say Looks fine."}))
    assert "verdict: consensus — ship" in footer(agreed)
    for advice in ("Still open", "stop debating", "no VERDICT line"):
        assert advice not in agreed  # consensus needs no advice
    assert "round 1/3 · verdict: missing (no VERDICT line)" in footer(silent)
    assert "Codex gave no VERDICT line" in silent


async def test_reply_needs_a_debate(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        refused = await client.call_tool("reply", {"message": "but why?"})
        await client.call_tool("explore", {"focus": "@fake say a map"})
        still = await client.call_tool("reply", {"message": "but why?"})
    for result in (refused, still):
        assert result.is_error
        assert "There is no debate to reply to" in text_of(result)
    assert len(prompts_sent(fake)) == 1  # only explore reached Codex


async def test_reset_drops_the_session_and_the_debate(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("close")) as client:
        await client.call_tool("consult", {"question": "@fake say VERDICT: OPEN — a"})
        await client.call_tool("reply", {"message": "@fake say VERDICT: OPEN — b"})  # round 2
        first = fake.received("session/new")
        report = text_of(await client.call_tool("reset", {}))
        refused = await client.call_tool("reply", {"message": "and?"})
        again = await client.call_tool("consult", {"question": "@fake say fresh"})
        twice = text_of(await client.call_tool("reset", {}))
        thrice = text_of(await client.call_tool("reset", {}))
        status = text_of(await client.call_tool("status", {}))
    closed, closed_again = fake.received("session/close")
    assert report.startswith(f"Dropped Codex's session {closed['params']['sessionId']} (2 debate rounds).")
    assert "The next call starts Codex fresh" in report
    assert refused.is_error
    assert "There is no debate to reply to" in text_of(refused)
    assert again.is_error is False
    assert "round 1/3" in footer(text_of(again))  # the counter started over
    sessions = fake.received("session/new")
    assert len(first) == 1
    assert len(sessions) == 2
    assert len(fake.received("initialize")) == 1  # the agent itself stays up
    assert f"Dropped Codex's session {closed_again['params']['sessionId']} (1 debate round)." in twice
    assert closed["params"]["sessionId"] != closed_again["params"]["sessionId"]
    assert thrice.startswith("Codex had no open session: nothing to drop.")
    assert "debate:" not in status


async def test_reset_stops_a_running_turn_and_answers_its_request(fake: FakeAgentSetup) -> None:
    results: dict[str, str] = {}
    async with Client(fake.server()) as client, anyio.create_task_group() as tg:

        async def consult() -> None:
            results["consult"] = text_of(await client.call_tool("consult", {"question": "@fake sleep 60"}))

        tg.start_soon(consult)
        await anyio.wait_all_tasks_blocked()
        results["reset"] = text_of(await client.call_tool("reset", {}))
    assert "Its running consult turn was stopped." in results["reset"]
    assert "Codex's session was reset while this turn ran" in results["consult"]
    assert "stop: cancelled" in footer(results["consult"])


async def test_permit_answers_only_the_request_it_names(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        paused = text_of(
            await client.call_tool(
                "consult", {"question": "@fake permit execute ts touch a.txt\n@fake say ran"}
            )
        )
        stale = await client.call_tool("permit", {"decision": "allow", "request": "r7"})
        garbage = await client.call_tool("permit", {"decision": "allow", "request": "latest"})
        done = await client.call_tool("permit", {"decision": "allow", "request": "r1"})
        late = await client.call_tool("permit", {"decision": "allow", "request": "r1"})
    assert "Request id: r1." in paused
    assert '"request": "r1"' in paused
    assert stale.is_error
    assert "Request r7 is not pending any more. Pending now: r1 — run `touch a.txt`" in text_of(stale)
    assert garbage.is_error
    assert "is not a request id" in text_of(garbage)
    assert not done.is_error
    assert "ran" in text_of(done)
    assert late.is_error
    assert "No pending permission" in text_of(late)
    assert (fake.workspace / "a.txt").exists()


async def test_a_long_answer_is_cut_and_kept_whole_in_a_private_file(
    fake: FakeAgentSetup, tmp_path: Path
) -> None:
    data = tmp_path / "plugin-data"
    answer = " ".join(f"w{i}" for i in range(2000)) + "\nVERDICT: OPEN — the end"
    server = fake.server(CODEX_FUSION_MAX_ANSWER_CHARS="3000", CLAUDE_PLUGIN_DATA=str(data))
    async with Client(server) as client:
        question = "@fake say " + answer.replace("\n", "\\n")
        result = text_of(await client.call_tool("consult", {"question": question}))
    head, note = result.split("\n\n[Answer cut at ", 1)
    assert len(head) <= 3000
    assert answer.startswith(head)
    assert note.startswith(f"{len(head):,} of {len(answer):,} characters")
    saved = Path(note.split("The whole answer is in ", 1)[1].split(": read it", 1)[0])
    assert saved.parent == data / "state" / "answers"
    assert saved.read_text() == answer
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert "verdict: open — the end" in footer(result)  # the verdict survives the cut


async def test_the_frame_is_the_sessions_system_prompt_where_the_agent_supports_it(
    fake: FakeAgentSetup,
) -> None:
    async with Client(fake.server("system_prompt")) as client:
        result = await client.call_tool("consult", {"question": "Q?\n@fake say VERDICT: CONSENSUS — ok"})
    assert result.is_error is False
    (new,) = fake.received("session/new")
    system = new["params"]["systemPrompt"]
    assert system == {
        "mode": "append",
        "content": [{"type": "text", "text": "\n\n".join(prompts.FRAME_BLOCKS)}],
    }
    (prompt,) = prompts_sent(fake)
    assert prompts.ROLE not in prompt
    assert prompts.DEBATE not in prompt
    assert "<question>\nQ?" in prompt


# -- review_diff in real repositories --------------------------------------------------------------


def repository(workspace: Path) -> None:
    (workspace / "app.py").write_text("def main():\n    return 1\n")
    git(workspace, "init", "-q")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "initial")


async def test_review_diff_collects_the_changes_itself(fake: FakeAgentSetup) -> None:
    repository(fake.workspace)
    (fake.workspace / "app.py").write_text("def main():\n    return 2\n")
    (fake.workspace / "new.txt").write_text("brand new\n")
    async with Client(fake.server()) as client:
        focus = "the return value\n@fake say VERDICT: OPEN — why 2"
        result = await client.call_tool("review_diff", {"focus": focus})
    assert result.is_error is False, text_of(result)
    (prompt,) = prompts_sent(fake)
    assert "-    return 1\n+    return 2" in prompt
    assert "+brand new" in prompt  # untracked files are part of the review
    assert "- app.py (modified, +1 −1)" in prompt
    assert "- new.txt (untracked" in prompt
    assert "<focus>\nthe return value\n@fake say" in prompt
    assert "verdict: open — why 2" in footer(text_of(result))
    # That real Codex then answers without asking to run git itself (no pause) is shown against the
    # real adapters: tests/e2e/test_tools_e2e.py::test_review_diff_hands_codex_the_diff_without_a_pause.


async def test_review_diff_with_nothing_to_review_or_no_repository_spends_no_turn(
    fake: FakeAgentSetup,
) -> None:
    async with Client(fake.server()) as client:
        no_repo = await client.call_tool("review_diff", {})
        repository(fake.workspace)
        clean = await client.call_tool("review_diff", {})
        bad_ref = await client.call_tool("review_diff", {"base": "no-such-branch"})
    assert no_repo.is_error
    assert "is not inside a git repository" in text_of(no_repo)
    assert clean.is_error is False
    assert text_of(clean).startswith("Nothing to review: no changes: the working tree matches HEAD.")
    assert "No turn was spent" in text_of(clean)
    assert bad_ref.is_error
    assert "Unknown base ref 'no-such-branch'" in text_of(bad_ref)
    assert prompts_sent(fake) == []
    assert fake.received("session/new") == []


async def test_review_diff_of_another_repository_spends_no_turn_unless_the_user_opts_in(
    fake: FakeAgentSetup, tmp_path: Path
) -> None:
    """A workspace whose .git is a gitfile (here: a linked worktree of another checkout) is refused
    before any turn; CODEX_FUSION_ALLOW_FOREIGN_GITDIR=1 in the server's environment accepts it."""
    main = tmp_path / "main-checkout"
    main.mkdir()
    repository(main)
    fake.workspace.rmdir()
    git(main, "worktree", "add", "-q", "-b", "topic", str(fake.workspace))
    (fake.workspace / "app.py").write_text("def main():\n    return 3\n")

    async with Client(fake.server()) as client:
        refused = await client.call_tool("review_diff", {})
    assert refused.is_error
    assert "is a gitfile" in text_of(refused)
    assert "CODEX_FUSION_ALLOW_FOREIGN_GITDIR=1" in text_of(refused)
    assert prompts_sent(fake) == []

    async with Client(fake.server(CODEX_FUSION_ALLOW_FOREIGN_GITDIR="1")) as client:
        allowed = await client.call_tool("review_diff", {"focus": "@fake say VERDICT: AGREE"})
    assert allowed.is_error is False, text_of(allowed)
    (prompt,) = prompts_sent(fake)
    assert "+    return 3" in prompt


async def test_an_unconfined_agent_is_said_in_status_and_once_per_session(fake: FakeAgentSetup) -> None:
    """The fake agent is not codex-acp, so codex-fusion cannot give its sandbox the profile."""
    async with Client(fake.server("close")) as client:
        first = text_of(await client.call_tool("consult", {"question": "@fake say one"}))
        second = text_of(await client.call_tool("consult", {"question": "@fake say two"}))
        await client.call_tool("reset", {})
        fresh = text_of(await client.call_tool("consult", {"question": "@fake say three"}))
        shown = text_of(await client.call_tool("status", {}))
    warning = "[Codex can read outside the workspace with this agent: codex-fusion does not recognise"
    assert warning in first
    assert warning not in second
    assert warning in fresh  # a new session says it again
    assert "boundary: Codex can read outside the workspace with this agent" in shown
