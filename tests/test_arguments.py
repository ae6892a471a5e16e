"""Argument mistakes on every tool read as one sentence with the valid form; `members: "all"` works."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from codex_fusion.mcp.server import build_server

from .conftest import FakeAgentSetup
from .test_tools import TOOLS, text_of

pytestmark = pytest.mark.anyio

TAKE = "Per-process: the simplest thing that works."

#: One wrong call per tool: a required argument missing, or a value of the wrong type.
WRONG: dict[str, dict[str, Any]] = {
    "consult": {"question": "q", "timeout_s": "soon"},
    "review_plan": {},
    "review_diff": {"paths": "src/a.py", "staged": "maybe"},
    "brainstorm": {"problem": ["a", "b"]},
    "explore": {"focus": {"area": "cache"}},
    "reply": {},
    "permit": {"decision": "sure"},
    "delegate": {"task": "t", "wait_s": -1},
    "task": {"id": "t1", "action": "retire"},
    "reset": {"members": 3},
    "status": {"verbose": {"a": 1}},
}


def _dump(text: str) -> bool:
    return "validation error" in text or "pydantic" in text or "input_value" in text or "\n" in text


async def test_every_tools_argument_error_is_one_sentence_with_the_valid_form(fake: FakeAgentSetup) -> None:
    assert set(WRONG) == TOOLS
    async with Client(fake.server()) as client:
        for tool, args in WRONG.items():
            result = await client.call_tool(tool, args)
            text = text_of(result)
            if tool in ("reset", "status"):  # no such argument: ignored, the call runs
                continue
            assert result.is_error, (tool, text)
            assert not _dump(text), (tool, text)
            assert f"{tool} was not run:" in text, text
            assert text.endswith("Call it again with that fixed.")
    assert fake.received("session/prompt") == []


async def test_the_sentence_names_the_argument_and_its_form(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        timeout = text_of(await client.call_tool("consult", {"question": "q", "timeout_s": "soon"}))
        missing = text_of(await client.call_tool("review_plan", {}))
        decision = text_of(await client.call_tool("permit", {"decision": "sure"}))
        action = text_of(await client.call_tool("task", {"id": "t1", "action": "retire"}))
        wait = text_of(await client.call_tool("delegate", {"task": "t", "wait_s": -1}))
    assert '`timeout_s` must be a number above 0 and at most 86400, not "soon"' in timeout, timeout
    assert "`plan` is missing (it takes a string)" in missing
    assert '`decision` must be one of "allow", "deny", "cancel", not "sure"' in decision
    assert '`action` must be one of "show"' in action
    assert '"retire"' in action
    assert "`wait_s` must be a number at least 0 and at most 86400, not -1" in wait


async def test_members_all_as_a_bare_string_asks_every_member(fake: FakeAgentSetup) -> None:
    config = fake.config("name=codex", CODEX_FUSION_MEMBERS=fake.members_json({"gemini": {}}))
    question = "\n".join(
        ["Which cache?", "@fake[codex] say per-process\\nVERDICT: CONSENSUS — a", "@fake[gemini] say shared"]
    )
    async with Client(build_server(config, spawn=fake.spawn())) as client:
        result = await client.call_tool("consult", {"question": question, "members": "all", "my_take": TAKE})
        text = text_of(result)
        assert not result.is_error, text
        assert text.startswith("Council · consult · round 1/3 · codex, gemini · blind")
        one = await client.call_tool("reply", {"message": "why?", "members": "gemini"})
        assert not one.is_error, text_of(one)
        bad = text_of(await client.call_tool("consult", {"question": "q", "members": 7, "my_take": TAKE}))
    assert '`members` must be a list of strings (Council: names, or "all"; needs my_take), not 7' in bad
