"""The council: members configured by the user, blind concurrent rounds, pauses across members,
partial failure, cancellation, the agreement line (in memory, with the scripted fake agent)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from codex_fusion.council import agreement
from codex_fusion.council.council import Council
from codex_fusion.council.result import CouncilResult
from codex_fusion.errors import ConfigError, ConsultError
from codex_fusion.launch.members import parse
from codex_fusion.launch.planning import configure
from codex_fusion.member.debate import Standing, VerdictLine
from codex_fusion.member.turn import Pause, TurnOutcome
from codex_fusion.text import prompts

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio

TAKE = "MY-TAKE-7f3a: use a process-wide cache"


def brief(*lines: str) -> prompts.Brief:
    return prompts.consult("\n".join(["Which cache?", *lines]))


def prompts_of(fake: FakeAgentSetup, agent: str) -> list[str]:
    return [
        "\n".join(block.get("text", "") for block in m["params"]["prompt"])
        for m in fake.received("session/prompt", agent=agent)
    ]


def seat_text(result: CouncilResult, name: str) -> str:
    seat = next(s for s in result.seats if s.name == name)
    assert isinstance(seat.answer, TurnOutcome), seat.answer
    return seat.answer.text


async def eventually(predicate: Any, timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


# -- configuration ------------------------------------------------------------------------------------


def test_members_come_only_from_the_variable_and_codex_is_always_first(fake: FakeAgentSetup) -> None:
    config = fake.config()
    assert list(config.members) == ["codex"]
    config = fake.config(CODEX_FUSION_MEMBERS=json.dumps({"gemini": {"command": "gemini --acp"}}))
    assert list(config.members) == ["codex", "gemini"]
    assert config.members["gemini"].argv == ("gemini", "--acp")


def test_an_unusable_variable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse("{gemini}")
    with pytest.raises(ConfigError, match="JSON object"):
        parse('["gemini"]')


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"Bad Name": {}}, "lower-case"),
        ({"qwen": {}}, "needs a `command`"),
        ({"qwen": {"command": "qwen", "colour": "red"}}, "unknown field"),
        ({"qwen": {"command": "'unclosed"}}, "not a valid command line"),
        ({"qwen": {"command": "qwen", "env": {"A": 1}}}, "object of strings"),
        ({"qwen": {"command": "qwen", "env": {"INITIAL_AGENT_MODE": "agent"}}}, "may not set"),
        ({"qwen": {"command": "qwen", "model": ""}}, "non-empty"),
    ],
)
def test_a_bad_entry_breaks_only_its_member(entry: dict[str, Any], problem: str) -> None:
    entries, problems = parse(json.dumps(entry))
    assert entries == []
    assert len(problems) == 1
    assert problem in problems[0][1]


async def test_a_broken_member_says_what_to_fix_and_the_others_answer(fake: FakeAgentSetup) -> None:
    config = configure(
        fake.env("name=codex", CODEX_FUSION_MEMBERS=json.dumps({"qwen": {"command": "qwen", "colour": "x"}}))
    )
    assert config.members["qwen"].error is not None
    async with Council(config, spawn=fake.spawn()) as broken:
        result = await broken.ask(brief("@fake say fine"), ["codex", "qwen"], TAKE)
    assert seat_text(result, "codex") == "fine"
    qwen = next(s for s in result.seats if s.name == "qwen")
    assert isinstance(qwen.answer, ConfigError)
    assert "unknown field" in str(qwen.answer)
    assert "CODEX_FUSION_MEMBERS" in str(qwen.answer)


# -- rounds -------------------------------------------------------------------------------------------


async def test_without_members_a_call_is_codex_alone(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        outcome = await council.codex.consult(brief("@fake say lone"))
    assert isinstance(outcome, TurnOutcome)
    assert outcome.text == "lone"
    assert fake.received("initialize", agent="gemini") == []  # members start only when asked


async def test_round_one_is_blind_concurrent_and_reports_each_verdict(fake: FakeAgentSetup) -> None:
    members = {"gemini": {}, "qwen": {}}
    async with fake.council(members) as council:
        ask = brief(
            "@fake[codex] wait go-codex",
            "@fake[codex] say codex answer\\nVERDICT: CONSENSUS — per-process cache",
            "@fake[gemini] wait go-gemini",
            "@fake[gemini] say gemini answer\\nVERDICT: OPEN — invalidation on write",
            "@fake[qwen] say qwen answer, no verdict",
        )
        result: list[CouncilResult] = []

        async def run() -> None:
            result.append(await council.ask(ask, ["codex", "gemini", "qwen"], TAKE))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            # Both gated members hold their prompt at once: the round is sent concurrently.
            await eventually(lambda: prompts_of(fake, "codex") and prompts_of(fake, "gemini"))
            assert not result
            fake.gate("go-gemini").set()
            fake.gate("go-codex").set()
    (done,) = result
    for name in ("codex", "gemini", "qwen"):
        (sent,) = prompts_of(fake, name)
        assert TAKE not in sent  # Claude's take reaches nobody in round 1
        assert prompts.COUNCIL_BLIND in sent
        assert "answer from=" not in sent  # nor does any other member's answer
    assert seat_text(done, "gemini").startswith("gemini answer")
    standings = done.standings
    assert standings.settled == (("codex", "per-process cache"),)
    assert standings.open == (("gemini", "invalidation on write"),)
    assert standings.missing == ("qwen",)
    assert done.my_take == TAKE


async def test_one_member_failing_or_timing_out_never_sinks_the_others(fake: FakeAgentSetup) -> None:
    members = {"gemini": {"flags": "auth=ts"}, "qwen": {}}
    async with fake.council(members, CODEX_FUSION_CANCEL_GRACE_MS="200") as council:
        ask = brief("@fake[codex] say still here", "@fake[qwen] hang 30")
        with anyio.fail_after(30):
            result = await council.ask(ask, ["codex", "gemini", "qwen"], TAKE, timeout=0.5)
    assert seat_text(result, "codex") == "still here"
    gemini = next(s for s in result.seats if s.name == "gemini")
    assert "not logged in" in str(gemini.answer)
    qwen = next(s for s in result.seats if s.name == "qwen")
    assert isinstance(qwen.answer, TurnOutcome)
    assert qwen.answer.stop_reason == "timeout"
    assert dict(result.standings.absent) == {"gemini": "failed", "qwen": "timeout"}


async def test_cancelling_a_council_round_stops_every_member(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        with anyio.move_on_after(60) as outer:
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    await council.ask(brief("@fake sleep 30"), ["codex", "gemini"], TAKE)

                tg.start_soon(run)
                await eventually(lambda: prompts_of(fake, "codex") and prompts_of(fake, "gemini"))
                tg.cancel_scope.cancel()
        assert not outer.cancelled_caught
        for member in council.members.values():
            assert member.current_turn is None
    for name in ("codex", "gemini"):
        assert fake.received("session/cancel", agent=name), f"{name} was not told to stop"


async def test_pauses_of_two_members_have_their_own_ids_and_permit_reaches_the_right_one(
    fake: FakeAgentSetup,
) -> None:
    async with fake.council({"gemini": {}}) as council:
        ask = brief("@fake permit execute ts touch codex-ran", "@fake say after\\nVERDICT: CONSENSUS — ok")
        result = await council.ask(ask, ["codex", "gemini"], TAKE)
        pauses = {s.name: s.answer for s in result.seats}
        assert all(isinstance(p, Pause) for p in pauses.values())
        refs = {name: p.request.ref for name, p in pauses.items() if isinstance(p, Pause)}
        assert len(set(refs.values())) == 2
        assert all(isinstance(p, Pause) and p.member == name for name, p in pauses.items())
        with pytest.raises(ConsultError, match="Several members are paused"):
            await council.permit("deny")
        after = await council.permit("deny", "no", request=refs["gemini"])
        assert isinstance(after, CouncilResult)
        assert [s.name for s in after.seats] == ["gemini"]
        assert not after.standings.complete  # codex is still paused
        final = await council.permit("deny", "no", request=refs["codex"])
        assert isinstance(final, CouncilResult)
        assert final.standings.complete
    assert not (fake.workspace / "codex-ran").exists()


async def test_reply_reaches_every_member_with_the_take_and_the_others_answers(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        first = brief("@fake[codex] say CODEX-R1", "@fake[gemini] say GEMINI-R1")
        await council.ask(first, ["codex", "gemini"], TAKE)
        second = await council.reply("@fake say agreed\\nVERDICT: CONSENSUS — done", None)
        assert second.round == 2
        assert second.standings.unanimous
        only = await council.reply("@fake say just you", ["gemini"])
        assert [s.name for s in only.seats] == ["gemini"]
        assert only.round == 3
    codex_two = prompts_of(fake, "codex")[1]
    assert TAKE in codex_two
    assert "GEMINI-R1" in codex_two
    assert "CODEX-R1" not in codex_two
    assert '<answer from="gemini">' in codex_two
    gemini_three = prompts_of(fake, "gemini")[2]
    assert TAKE not in gemini_three  # shown once
    assert len(prompts_of(fake, "codex")) == 2


async def test_a_call_names_only_configured_members(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        assert council.select(["all"]) == ["codex", "gemini"]
        assert council.select(["Gemini", "codex"]) == ["codex", "gemini"]
        with pytest.raises(ConsultError, match=r"Unknown member.*qwen.*Configured: codex, gemini"):
            council.select(["qwen"])
        with pytest.raises(ConsultError, match="my_take"):
            await council.ask(brief(), ["codex"], "  ")


# -- the agreement line -------------------------------------------------------------------------------

V = VerdictLine


def test_the_agreement_line_names_who_settled_who_holds_what_open_and_who_is_missing() -> None:
    state = agreement.standings(
        2,
        {
            "codex": V(Standing.CONSENSUS, "a"),
            "gemini": V(Standing.OPEN, "writes"),
            "qwen": V(Standing.MISSING),
        },
        {"goose": "failed"},
        frozenset({"codex", "gemini", "qwen", "goose"}),
    )
    line = agreement.line(state)
    assert line == (
        "Council round 2 — agree: codex · open: gemini — writes · no verdict: qwen · no answer: goose (failed)"
    )
    assert not state.unanimous
    assert not state.complete


def test_unanimity_needs_an_outside_voice() -> None:
    inside = agreement.standings(2, {"claude": V(Standing.CONSENSUS, "yes")}, {}, frozenset())
    assert not inside.unanimous
    assert "no outside voice" in agreement.line(inside)
    both = agreement.standings(
        2,
        {"claude": V(Standing.CONSENSUS, "y"), "codex": V(Standing.CONSENSUS, "y")},
        {},
        frozenset({"codex"}),
    )
    assert both.unanimous
    assert agreement.line(both).startswith("Council round 2: all 2 agree")


def test_round_one_says_settled_not_agree() -> None:
    state = agreement.standings(1, {"codex": V(Standing.CONSENSUS, "x")}, {}, frozenset({"codex"}))
    assert "settled (blind" in agreement.line(state)
    assert "agree:" not in agreement.line(state)


# -- through the MCP tools ----------------------------------------------------------------------------


async def test_the_tools_run_a_council_round_permit_and_reply(fake: FakeAgentSetup) -> None:
    from mcp import Client

    from codex_fusion.mcp.server import build_server

    from .test_tools import text_of

    config = fake.config("name=codex", CODEX_FUSION_MEMBERS=fake.members_json({"gemini": {}}))
    async with Client(build_server(config, spawn=fake.spawn())) as client:
        missing = await client.call_tool("consult", {"question": "q", "members": ["gemini"]})
        assert missing.is_error
        assert "my_take" in text_of(missing)
        question = "\n".join(
            [
                "Which cache?",
                "@fake[codex] say CODEX says per-process\\nVERDICT: CONSENSUS — per-process",
                "@fake[gemini] permit execute ts touch gemini-ran",
                "@fake[gemini] say GEMINI says shared\\nVERDICT: OPEN — invalidation",
            ]
        )
        args = {"question": question, "members": ["all"], "my_take": TAKE}
        text = text_of(await client.call_tool("consult", args))
        assert text.startswith("Council · consult · round 1/3 · codex, gemini · blind")
        assert TAKE in text
        assert "━━ codex ━━" in text
        assert "CODEX says per-process" in text
        assert "⏸ Gemini is paused" in text
        assert '"request": r' in text
        assert "no answer: gemini (paused on request r" in text
        ref = text.split("Request id: ")[1].split(".")[0]
        text = text_of(await client.call_tool("permit", {"decision": "allow", "request": ref}))
        assert "after your permit" in text
        assert "GEMINI says shared" in text
        assert "Council round 1 — settled (blind, compare their conclusions): codex · open: gemini" in text
        assert (fake.workspace / "gemini-ran").exists()
        status = text_of(await client.call_tool("status", {}))
        assert "council members: 2" in status
        assert "- gemini: " in status
        assert "boundary: NOT confined" in status  # an unknown agent: the fake is not Gemini
        text = text_of(
            await client.call_tool("reply", {"message": "@fake say fine\\nVERDICT: CONSENSUS — x"})
        )
        assert "Council · consult · round 2/3" in text
        assert "all 2 agree" in text
        lone = text_of(await client.call_tool("consult", {"question": "@fake say alone"}))
        assert lone.startswith("alone")
        assert "— codex · " in lone
        assert "Council" not in text_of(await client.call_tool("reply", {"message": "@fake say back"}))


async def test_progress_shows_one_line_per_member_redacted(fake: FakeAgentSetup) -> None:
    from mcp import Client

    from codex_fusion.mcp.server import build_server

    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            messages.append(message)

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    config = fake.config("name=codex", CODEX_FUSION_MEMBERS=fake.members_json({"gemini": {}}))
    async with Client(build_server(config, spawn=fake.spawn())) as client:
        question = "\n".join(
            [
                "q",
                "@fake[codex] think reading the cache code",
                f"@fake[gemini] think the key is {token} in the config",
                "@fake sleep 0.8",
                "@fake say done",
            ]
        )
        args = {"question": question, "members": ["all"], "my_take": TAKE}
        await client.call_tool("consult", args, progress_callback=on_progress)
    assert any("codex: " in m and "gemini: " in m for m in messages), messages
    assert any("💭 reading the cache code" in m for m in messages), messages
    assert not any(token in m for m in messages), messages
    assert any("the key is [redacted] in the config" in m for m in messages), messages


# -- following Claude's conversation ------------------------------------------------------------------


async def test_a_fork_forks_every_member_and_one_that_cannot_leaves_the_others_forked(
    fake: FakeAgentSetup,
) -> None:
    members = json.loads(fake.members_json({"gemini": {"flags": "fork"}, "qwen": {}}))
    members["bad"] = {"command": "bad", "colour": "x"}  # broken: its fork raises, is logged, left out
    config = configure(fake.env("name=codex,fork", CODEX_FUSION_MEMBERS=json.dumps(members)))
    async with Council(config, spawn=fake.spawn()) as council:
        await council.ask(brief("@fake say one"), ["codex", "gemini", "qwen"], TAKE)
        before = {name: council.members[name].codex_session for name in ("codex", "gemini", "qwen")}
        forked = await council.fork()
        after = {name: council.members[name].codex_session for name in ("codex", "gemini", "qwen")}
    assert forked == after["codex"] != before["codex"]
    assert after["gemini"] != before["gemini"]  # forked as well, though another member failed
    assert after["qwen"] is None  # cannot fork: its next call starts fresh and says so
    assert {m.get("_agent") for m in fake.received("session/fork")} == {"codex", "gemini"}


async def test_every_member_follows_claudes_conversation_restart_and_clear(fake: FakeAgentSetup) -> None:
    """Each member's session is linked to Claude's conversation, restored after a restart, and a
    /clear resets every member (the cleared conversation keeps its links)."""
    from mcp import Client

    from codex_fusion.host import continuity
    from codex_fusion.mcp.server import build_server

    from .test_follow import WINDOW, eventually, run_hook
    from .test_tools import text_of

    store = fake.data.parent / "codex-sessions.json"
    gemini_store = fake.data.parent / "gemini-sessions.json"
    members = fake.members_json(
        {"gemini": {"flags": "resume,close", "env": {"FAKE_ACP_STORE": str(gemini_store)}}}
    )

    def server() -> Any:
        config = fake.config(
            "name=codex,resume,close",
            CLAUDE_PID=str(WINDOW),
            FAKE_ACP_STORE=str(store),
            CODEX_FUSION_MEMBERS=members,
        )
        return build_server(config, spawn=fake.spawn())

    args = {"question": "FIRST\n@fake say VERDICT: OPEN — x", "members": ["all"], "my_take": TAKE}
    run_hook(fake, "SessionStart", "S1", source="startup")
    async with Client(server()) as client:
        await client.call_tool("consult", args)
        state, workspace = fake.data / "state", fake.workspace

        async def linked() -> bool:
            return all(continuity.load(state, workspace, "S1", m) is not None for m in ("codex", "gemini"))

        await eventually(linked)
    gemini_link = continuity.load(state, workspace, "S1", "gemini")
    assert gemini_link is not None
    assert gemini_link.member == "gemini"

    run_hook(fake, "SessionStart", "S1", source="resume")  # a new server process for the same conversation
    async with Client(server()) as client:
        text = text_of(await client.call_tool("consult", {**args, "question": "@fake recall"}))
        assert text.count("was restored, with its context") == 2  # under each member
        assert gemini_link.codex_session in text
        assert len(fake.received("session/resume", agent="gemini")) == 1
        run_hook(fake, "SessionStart", "S2", source="clear")

        async def both_closed() -> bool:
            return {m.get("_agent") for m in fake.received("session/close")} >= {"codex", "gemini"}

        await eventually(both_closed)
    assert continuity.load(state, workspace, "S1", "gemini") is not None  # kept for a --resume back
