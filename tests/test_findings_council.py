"""The findings table in a council (scripted fake agents in memory): overlapping and lone findings,
a member out of quota left out of the table and the agreement, round 2 by finding id; the review gate
letting the stop through when Codex is unavailable."""

from __future__ import annotations

import anyio
import pytest

from codex_fusion.council import render
from codex_fusion.hookside import gate
from codex_fusion.member import availability
from codex_fusion.review import prompts as review_prompts

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio

TAKE = "the cache change looks fine to me"
DIFF = (
    "diff --git a/cache.py b/cache.py\n"
    "@fake[codex] say FINDING: [major] cache.py:42 — stale cache read after write — evidence: put() "
    "skips invalidate()\\nFINDING: [minor] cache.py:80 — log line leaks the key\\nVERDICT: OPEN — F1\n"
    "@fake[gemini] say - high: `cache.py` line 43 — read after write returns the stale cache value\\n"
    "VERDICT: OPEN — stale read\n"
    "@fake[qwen] error\n"
)


async def test_a_council_review_yields_one_table_with_who_raised_what(fake: FakeAgentSetup) -> None:
    members = {"gemini": {}, "qwen": {}}
    async with fake.council(members) as council:
        with anyio.fail_after(30):
            result = await council.ask(
                review_prompts.review_diff(None, DIFF, None), ["codex", "gemini", "qwen"], TAKE
            )
            text = render.council(result)
            assert result.findings is not None
            rows = [(r.id, r.location, r.members) for r in result.findings.rows]
            assert rows == [("F1", "cache.py:42-43", ("codex", "gemini")), ("F2", "cache.py:80", ("codex",))]
            assert result.findings.unavailable == {"qwen": availability.QUOTA}
            assert dict(result.standings.unavailable) == {"qwen": availability.QUOTA}
            assert "unavailable, not counted: qwen (out of quota or rate-limited)" in text
            head = text.split("━━", 1)[0]  # the table heads the result, above the members' answers
            assert (
                "| F1 | major | cache.py:42-43 | stale cache read after write | codex (major), gemini (major) |"
                in head
            )
            assert "| F2 | minor | cache.py:80 | log line leaks the key | codex (minor) · lone |" in head

            reply = await council.reply(
                "Check each finding.\n@fake[gemini] say F2: dispute — the key is hashed first\\nF1: confirm\n"
                "@fake[codex] say F1: confirm — still stale\n",
                ["codex", "gemini"],
            )
    sent = [m for m in fake.received("session/prompt", agent="gemini")][-1]
    prompt = "\n".join(b.get("text", "") for b in sent["params"]["prompt"])
    assert "<merged_findings>" in prompt
    assert "| F1 | major |" in prompt
    assert reply.findings is not None
    assert reply.findings.confirmed["F1"] == {"gemini": "", "codex": "still stale"}
    assert reply.findings.disputed["F2"] == {"gemini": "the key is hashed first"}
    assert "confirmed by" in render.council(reply)


async def test_a_consult_without_findings_has_no_table(fake: FakeAgentSetup) -> None:
    async with fake.council({"gemini": {}}) as council:
        with anyio.fail_after(30):
            from codex_fusion.text import prompts

            result = await council.ask(prompts.consult("Which cache?"), ["codex", "gemini"], TAKE)
    assert "Findings ·" not in render.council(result)


def test_the_gate_lets_the_stop_through_in_one_line_when_codex_is_unavailable() -> None:
    settings = gate.Settings(True, "env", 2, "major", 60)
    down = gate.Review(failure="Codex's model service failed: 429", unavailable=availability.QUOTA)
    decision = gate.decide(
        settings,
        active=False,
        changed=True,
        blocks=0,
        still_open=None,
        review=lambda: gate.Review.from_json(down.to_json()),  # through the socket's JSON
        how_to_disable="x",
    )
    assert decision.action == "allow"
    assert decision.message is not None
    assert "\n" not in decision.message
    assert decision.message == (
        "codex-fusion review gate: not reviewed, the stop goes through — Codex's model service failed: "
        "429 (Codex is unavailable: out of quota or rate-limited; that is not a finding)"
    )


def test_a_split_reviews_merged_answer_is_headed_by_the_parts_findings() -> None:
    from codex_fusion.member.transcript import Usage
    from codex_fusion.member.turn import TurnOutcome
    from codex_fusion.review import parts

    def answer(text: str) -> TurnOutcome:
        return TurnOutcome(text, "end_turn", 1.0, Usage(), [], "s")

    merged = parts.merge(
        [
            parts.PartReview(
                ("a.py",), answer("FINDING: [major] a.py:3 — leaks the handle\nVERDICT: OPEN — a"), None, ()
            ),
            parts.PartReview(("b.py",), answer("Looks fine to me.\nVERDICT: CONSENSUS — fine"), None, ()),
            parts.PartReview(("c.py",), None, "Codex is not logged in", ()),
        ],
        "Codex",
        0.0,
    )
    sections = merged.text.split("\n\n")
    assert sections[1].splitlines()[:4] == [
        "Findings · 1 from 2 part(s) · not parsed (read their text): part 2",
        "| id | severity | location | claim |",
        "|---|---|---|---|",
        "| F1 | major | a.py:3 | leaks the handle |",
    ]
    assert "FINDING: [major] a.py:3 — leaks the handle" in merged.text  # each part's text stays whole


async def test_a_consult_that_reports_findings_gets_the_table(fake: FakeAgentSetup) -> None:
    from codex_fusion.text import prompts

    async with fake.council({"gemini": {}}) as council:
        with anyio.fail_after(30):
            ask = prompts.consult(
                "Is this safe?\n@fake[gemini] say Not quite.\\n- major: db.py:7 — SQL built by concatenation"
            )
            result = await council.ask(ask, ["codex", "gemini"], TAKE)
    text = render.council(result)
    assert "| F1 | major | db.py:7 | SQL built by concatenation | gemini (major) |" in text
    assert "not parsed (read their text): codex" in text
