"""Footers, errors and status that do not mislead: the model a member was configured with, one source
per value, and the commands that ran without asking."""

from __future__ import annotations

import pytest
from mcp import Client

from codex_fusion.member import render
from codex_fusion.member.turn import TurnOutcome
from codex_fusion.text import prompts

from .conftest import FakeAgentSetup
from .test_tools import text_of

pytestmark = pytest.mark.anyio


async def _claude_footer(fake: FakeAgentSetup, entry: dict[str, str]) -> str:
    members = {"claude": {"flags": "models,answer_with=claude-mock-7", **entry}}
    async with fake.council(members) as council:
        outcome = await council.members["claude"].consult(prompts.consult("@fake say hi"))
    assert isinstance(outcome, TurnOutcome)
    return render.footer(outcome)


async def test_a_member_without_a_configured_model_shows_no_mismatch(fake: FakeAgentSetup) -> None:
    """claude-agent-acp's setting is `default`, not a model id: the model that answered is no fallback."""
    footer = await _claude_footer(fake, {})
    assert "claude-mock-7" in footer
    assert "(set:" not in footer


async def test_a_member_answering_with_another_model_than_configured_says_so(fake: FakeAgentSetup) -> None:
    footer = await _claude_footer(fake, {"model": "m-large"})
    assert "claude-mock-7 (set: m-large)" in footer


async def test_a_refused_effort_names_its_own_source_only(fake: FakeAgentSetup) -> None:
    env = {"CODEX_FUSION_MODEL": "m-small", "CLAUDE_PLUGIN_OPTION_EFFORT": "max"}
    async with Client(fake.server("models", **env)) as client:
        refused = text_of(await client.call_tool("consult", {"question": "@fake say x"}))
        status = text_of(await client.call_tool("status", {}))
    assert "reasoning effort 'max' (set by the plugin option effort)" in refused
    assert "CODEX_FUSION_MODEL" not in refused
    assert " and set by " not in refused
    assert "m-small (set by CODEX_FUSION_MODEL) · effort max (set by the plugin option effort)" in status


async def test_a_command_that_ran_unasked_is_named_in_the_result(fake: FakeAgentSetup) -> None:
    question = "@fake permit execute ts touch ran.txt\n@fake say done"
    async with Client(fake.server(CODEX_FUSION_ALLOW_COMMANDS="1")) as client:
        text = text_of(await client.call_tool("consult", {"question": question}))
    assert (fake.workspace / "ran.txt").exists()
    assert "[Codex ran without asking (allow_commands is on): run `touch ran.txt`" in text


async def test_without_allow_commands_nothing_ran_unasked(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        text = text_of(
            await client.call_tool("consult", {"question": "@fake permit read ts a.txt\n@fake say ok"})
        )
    assert "ran without asking" not in text
