"""What a member's failure says: its own name and what to do, never the default member's advice; and a
model failure the TypeScript adapter reports as answer text is a failure, not an answer (in memory)."""

from __future__ import annotations

import pytest

from codex_fusion.errors import AuthRequired, ConsultError, FusionError, RpcError
from codex_fusion.launch.login import login_refused
from codex_fusion.member.turn import Pause, TurnOutcome
from codex_fusion.text import prompts

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio

TAKE = "MY-TAKE-1c: a queue"


def seat_answer(result: object, name: str) -> object:
    return next(s for s in result.seats if s.name == name).answer  # type: ignore[attr-defined]


async def test_a_member_not_logged_in_says_so_by_its_own_name(fake: FakeAgentSetup) -> None:
    async with fake.council({"claude": {}}) as council:
        ask = prompts.consult("@fake[claude] auth_error\n@fake[codex] say fine")
        result = await council.ask(ask, ["codex", "claude"], TAKE)
        again = await council.members["claude"].consult(prompts.consult("@fake say back"))
    answer = seat_answer(result, "claude")
    assert isinstance(answer, AuthRequired)
    assert str(answer).startswith("Claude is not logged in"), answer
    assert "ANTHROPIC_API_KEY" in str(answer)
    assert "Codex" not in str(answer)
    assert isinstance(again, TurnOutcome)  # the session was kept: a login later is enough
    assert again.text == "back"


async def test_codex_not_logged_in_mid_turn_keeps_its_own_advice(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        with pytest.raises(
            AuthRequired,
            match=r"^Codex is not logged in: run `.*codex login` in a terminal, or set OPENAI_API_KEY",
        ):
            await consultant.consult(prompts.consult("@fake auth_error"))


async def test_a_member_dying_mid_turn_is_named(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        result = await council.ask(prompts.consult("@fake[gemini] exit 3"), ["codex", "gemini"], TAKE)
    answer = seat_answer(result, "gemini")
    assert isinstance(answer, FusionError)
    assert "Gemini stopped in the middle of the turn" in str(answer), answer


async def test_a_paused_member_refuses_a_new_turn_by_its_own_name(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        gemini = council.members["gemini"]
        paused = await gemini.consult(prompts.consult("@fake permit execute ts touch x"))
        assert isinstance(paused, Pause)
        with pytest.raises(ConsultError, match=r"^Gemini is paused, waiting for your decision"):
            await gemini.consult(prompts.consult("@fake say next"))
        await gemini.permit("cancel")


@pytest.mark.parametrize("who", ["codex", "gemini"])
async def test_a_model_failure_reported_as_text_fails_the_turn(fake: FakeAgentSetup, who: str) -> None:
    """TS codex-acp turns a model HTTP 500 into answer text and ``end_turn``, with a ``systemError``
    thread status first: that is a failure (the council counts no answer), and the session is kept."""
    async with fake.council({"gemini": {}}) as council:
        ask = prompts.consult(
            f"@fake[{who}] thread_status active systemError\n"
            f"@fake[{who}] say We are experiencing high demand.\n"
            "@fake say fine"
        )
        result = await council.ask(ask, ["codex", "gemini"], TAKE)
        again = await council.members[who].consult(prompts.consult("@fake say recovered"))
    answer = seat_answer(result, who)
    name = "Codex" if who == "codex" else "Gemini"
    assert isinstance(answer, ConsultError), answer
    assert str(answer).startswith(
        f"{name}'s model service failed this turn: We are experiencing high demand."
    )
    assert dict(result.standings.absent) == {who: "failed"}
    assert isinstance(again, TurnOutcome)
    assert again.text == "recovered"


async def test_a_thread_status_that_recovers_is_an_answer(fake: FakeAgentSetup) -> None:
    """Only a failure the agent has not recovered from (a retry active again) by the end counts."""
    async with fake.consultant() as consultant:
        outcome = await consultant.consult(
            prompts.consult("@fake thread_status systemError active\n@fake say fine")
        )
    assert isinstance(outcome, TurnOutcome)
    assert outcome.text == "fine"


GOOGLE_400 = (
    '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",'
    '"status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}'
)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (RpcError("session/prompt", -32000, "Authentication required"), "Authentication required"),
        (RpcError("session/prompt", 400, GOOGLE_400), "API key not valid. Please pass a valid API key."),
        (RpcError("session/prompt", -32603, "x", {"message": "invalid_api_key"}), "x — invalid_api_key"),
        (RpcError("session/prompt", -32603, "Internal error", {"codex_error_info": "other"}), None),
        (RpcError("session/prompt", 400, '{"error":{"message":"quota"}}'), None),
    ],
)
def test_a_refused_login_is_told_from_other_errors(error: RpcError, said: str | None) -> None:
    """Gemini CLI passes Google's 400 on as the prompt's error: that is a login to fix, not a retry."""
    assert login_refused(error) == said
