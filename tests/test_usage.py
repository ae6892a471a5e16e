"""Usage you can see: what the agents report (prompt-result usage, ``usage_update`` cost), per member
and per round in the council footer, per debate and session in ``status``, priced only at the user's
price, and "not reported" where nothing was."""

from __future__ import annotations

import anyio
import pytest

from codex_fusion.acp.schema import UsageUpdate
from codex_fusion.council import render, usage
from codex_fusion.launch.models import Answered
from codex_fusion.member import usage as member_usage
from codex_fusion.member.transcript import Transcript, Usage
from codex_fusion.member.turn import TurnOutcome
from codex_fusion.text import prompts

from .conftest import FakeAgentSetup


class Seat:
    def __init__(self, name: str, answer: object) -> None:
        self.name, self.answer = name, answer


def answered(member: str, used: Usage, elapsed: float = 2.0, model: str | None = None) -> TurnOutcome:
    return TurnOutcome(
        "x", "end_turn", elapsed, used, [], "s", member=member, model=Answered(model, None) if model else None
    )


def test_the_transcript_keeps_cached_tokens_and_a_reported_cost() -> None:
    transcript = Transcript()
    transcript.usage.merge_prompt_usage({"inputTokens": 1000, "cachedReadTokens": 600, "outputTokens": 50})
    transcript.apply(UsageUpdate(used=5, size=10, cost={"amount": 0.25, "currency": "USD"}))
    assert (transcript.usage.cached_tokens, transcript.usage.cost, transcript.usage.currency) == (
        600,
        0.25,
        "USD",
    )


def test_prices_parse_and_cost_is_reported_priced_or_not_reported() -> None:
    prices = member_usage.parse_prices("gpt-5.5=1/0.1/10; bad entry, Gemini-2.5-pro = 2/0.5/12")
    assert prices == {"gpt-5.5": (1.0, 0.1, 10.0), "gemini-2.5-pro": (2.0, 0.5, 12.0)}
    tokens = Usage(input_tokens=1_000_000, cached_tokens=500_000, output_tokens=100_000)
    assert member_usage.cost(tokens, "GPT-5.5", prices) == pytest.approx((0.5 + 0.05 + 1.0, "priced"))
    assert member_usage.cost(tokens, "other", prices) == (None, "not reported")
    assert member_usage.cost(Usage(cost=0.3), "gpt-5.5", prices) == (0.3, "reported")  # the agent's own wins


def test_the_round_footer_shows_each_member_and_the_sum_and_says_not_reported() -> None:
    seats = [
        Seat(
            "codex",
            answered(
                "codex", Usage(input_tokens=12000, cached_tokens=4000, output_tokens=900), 8.0, "gpt-5.5"
            ),
        ),
        Seat("gemini", answered("gemini", Usage(), 5.0)),
        Seat("qwen", None),
    ]
    line = usage.round_footer(seats, member_usage.parse_prices("gpt-5.5=1/0.1/10"))
    assert line == (
        "Usage this round · codex: in 12.0k, cached 4.0k, out 900, 8.0s, $0.0174 at your price · "
        "gemini: tokens not reported, 5.0s, cost not reported · "
        "round: in 12.0k, cached 4.0k, out 900, 8.0s, $0.0174, 1 turn(s) did not report tokens "
        "(time: the slowest member)"
    )


@pytest.mark.anyio
async def test_the_council_footer_and_status_totals_come_from_what_the_agents_sent(
    fake: FakeAgentSetup,
) -> None:
    async with fake.council({"gemini": {}}) as council:
        with anyio.fail_after(30):
            ask = prompts.consult("Which cache?\n@fake usage 40")
            result = await council.ask(ask, ["codex", "gemini"], "take")
            await council.reply("more\n@fake usage 40", None)
        text = render.council(result)
        lines = usage.lines({name: m.usage for name, m in council.members.items()})
    assert "Usage this round · codex: in 1, out 2," in text
    assert "gemini: in 1, out 2," in text
    assert lines[0] == "usage this session (as the agents reported it):"
    assert lines[1].startswith("  codex: 2 turn(s), in 2, out 4, ")
    assert lines[2].startswith("  gemini: 2 turn(s), in 2, out 4, ")
    assert lines[3].startswith("usage of the council debate now open: in 4, out 8, ")


@pytest.mark.anyio
async def test_status_shows_usage_per_member_for_the_session(fake: FakeAgentSetup) -> None:
    from mcp import Client

    from .test_tools import text_of

    async with Client(fake.server()) as client:
        await client.call_tool("consult", {"question": "hi\n@fake usage 40"})
        status = text_of(await client.call_tool("status", {}))
    assert "usage this session (as the agents reported it):" in status
    assert "  codex: 1 turn(s), in 1, out 2, " in status
