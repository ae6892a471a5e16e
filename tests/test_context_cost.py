"""The plugin's always-on context cost stays under its budget (bench/context_cost.py).

A guard on the size of text that is in Claude's context in every request: tool names, descriptions
and schemas, the server instructions, and the skill, command and agent listing lines.
``tests/e2e/test_claude_commands_e2e.py`` checks against the real CLI that these are the texts sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import context_cost

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def items() -> list[Any]:
    return context_cost.measure(REPO)


def test_total_is_under_the_budget(items: list[Any]) -> None:
    totals = context_cost.totals(items)
    assert totals["total"] < context_cost.BUDGET_TOKENS == 1500, context_cost.report(items)
    assert totals["total_schemas"] < context_cost.SCHEMA_CEILING_TOKENS, context_cost.report(items)


def test_tools_count_as_deferred_names_and_their_schemas_apart(items: list[Any]) -> None:
    consult = next(i for i in items if i.part == "tools" and i.name == "consult")
    assert consult.text == context_cost.TOOL_PREFIX + "consult\n"  # what the deferred list shows
    assert '"input_schema"' in consult.loaded
    assert consult.loaded_tokens > consult.tokens


def test_every_part_is_counted(items: list[Any]) -> None:
    totals = context_cost.totals(items)
    for part in context_cost.PARTS:
        assert totals[part] > 0, f"nothing measured for {part}"
    assert {i.name for i in items if i.part == "tools"} >= {"consult", "reply", "permit", "status"}
    assert {i.name for i in items if i.part == "agents"} == {"codex-debater"}


def test_user_only_commands_cost_nothing_and_the_rest_count_their_listing_line(
    items: list[Any],
) -> None:
    commands = {i.name: i for i in items if i.part == "commands"}
    assert commands["codex-reset"].listed is False
    assert commands["codex-reset"].tokens == 0
    opinion = commands["second-opinion"]
    assert opinion.text.startswith("- codex-fusion:second-opinion: ")
    assert opinion.tokens == len(opinion.text) / 4


def test_front_matter_refuses_what_it_cannot_count(tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text('---\ndescription: "Quoted: fine"\nargument-hint: "[x]"\n---\nbody\n')
    assert context_cost.front_matter(good) == {"description": "Quoted: fine", "argument-hint": "[x]"}
    folded = tmp_path / "folded.md"
    folded.write_text("---\ndescription: >\n  spread over\n  lines\n---\n")
    with pytest.raises(ValueError, match="one-line"):
        context_cost.front_matter(folded)
