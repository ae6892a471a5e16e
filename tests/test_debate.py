"""The debate without I/O: verdict parsing and round counting."""

from __future__ import annotations

import pytest

from codex_fusion.member.debate import MAX_ROUNDS, Debate, Standing, VerdictLine, parse_verdict
from codex_fusion.text import overflow, prompts


@pytest.mark.parametrize(
    ("answer", "standing", "summary"),
    [
        ("Use a queue.\nVERDICT: CONSENSUS — a bounded queue", Standing.CONSENSUS, "a bounded queue"),
        ("Points.\n\nVERDICT: OPEN — whether retries are safe", Standing.OPEN, "whether retries are safe"),
        ("VERDICT: OPEN – en dash", Standing.OPEN, "en dash"),
        ("VERDICT: CONSENSUS - hyphen", Standing.CONSENSUS, "hyphen"),
        ("VERDICT:CONSENSUS—no spaces", Standing.CONSENSUS, "no spaces"),
        ("verdict: open: lower case, colon", Standing.OPEN, "lower case, colon"),
        ("**VERDICT: CONSENSUS — bold**", Standing.CONSENSUS, "bold"),
        ("**VERDICT:** OPEN — bold label", Standing.OPEN, "bold label"),
        ("> VERDICT: OPEN — quoted", Standing.OPEN, "quoted"),
        ("- VERDICT: CONSENSUS — in a list", Standing.CONSENSUS, "in a list"),
        ("`VERDICT: OPEN — in code`", Standing.OPEN, "in code"),
        ("VERDICT：CONSENSUS — full-width colon", Standing.CONSENSUS, "full-width colon"),
        ("VERDICT: CONSENSUS", Standing.CONSENSUS, ""),
        ("   VERDICT:   OPEN   —   spaced out   ", Standing.OPEN, "spaced out"),
    ],
)
def test_verdict_lines_are_read_however_they_are_dashed_or_emphasised(
    answer: str, standing: Standing, summary: str
) -> None:
    assert parse_verdict(answer) == VerdictLine(standing, summary)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "No verdict here.",
        "I think the VERDICT: CONSENSUS rule is fine",  # mid-sentence, not a verdict line
        "VERDICT: MAYBE — not a standing",
        "VERDICT — CONSENSUS (no colon)",
    ],
)
def test_an_answer_without_a_verdict_line_is_missing_never_guessed(answer: str) -> None:
    assert parse_verdict(answer).standing is Standing.MISSING


def test_the_last_verdict_line_wins() -> None:
    answer = "Earlier I said\nVERDICT: OPEN — x\nbut now\nVERDICT: CONSENSUS — y"
    assert parse_verdict(answer) == VerdictLine(Standing.CONSENSUS, "y")


def test_rounds_start_at_a_deliberative_tool_advance_on_reply_and_reset() -> None:
    debate = Debate()
    assert not debate.open
    first = debate.answered("consult", "VERDICT: OPEN — a")
    assert (first.number, first.verdict.standing, first.limit_reached) == (1, Standing.OPEN, False)
    assert debate.open
    second = debate.answered("reply", "VERDICT: OPEN — b")
    third = debate.answered("reply", "VERDICT: OPEN — c")
    assert (second.number, third.number) == (2, 3)
    assert third.limit_reached
    assert MAX_ROUNDS == 3
    fourth = debate.answered("reply", "VERDICT: CONSENSUS — d")
    assert fourth.number == 4
    assert not fourth.limit_reached
    assert debate.answered("explore", "a map").number == 0  # a survey does not touch the debate
    assert debate.rounds == 4
    assert debate.answered("review_diff", "VERDICT: OPEN — new").number == 1  # a new debate
    debate.reset()
    assert (debate.rounds, debate.last, debate.open) == (0, None, False)


def test_the_reply_prompt_says_which_exchange_it_is() -> None:
    assert "exchange 2 of about 3" in prompts.reply("no", 2).text()
    last = prompts.reply("no", 3).text()
    assert "exchange 3, the last: converge" in last
    assert "<claude_replies>\nno\n</claude_replies>" in last


def test_the_frame_goes_once_per_session_unless_it_is_the_system_prompt() -> None:
    debate = Debate()
    survey = debate.prompt(prompts.explore("the parser", ["src/"]), "s1", system_prompt=False)
    assert survey.startswith(prompts.ROLE)
    assert prompts.DEBATE not in survey
    assert "no VERDICT line" in survey
    first = debate.prompt(prompts.consult("Queue or lock?", "we use anyio"), "s1", system_prompt=False)
    assert first.startswith(prompts.DEBATE)  # role and grounding were sent with the survey
    assert "<question>\nQueue or lock?\n</question>" in first
    again = debate.prompt(prompts.reply("but", 2), "s1", system_prompt=False)
    assert "<role>" not in again
    assert "<debate>" not in again
    fresh = debate.prompt(prompts.consult("Again?"), "s2", system_prompt=False)  # a new session
    assert fresh.startswith(prompts.ROLE)
    assert prompts.DEBATE in fresh
    carried = debate.prompt(prompts.consult("Q"), "s3", system_prompt=True)
    assert "<role>" not in carried
    assert carried.startswith("<question>")
    assert debate.prompt(prompts.Brief.raw("@fake say hi"), "s4", system_prompt=False) == "@fake say hi"


def test_a_long_answer_is_cut_at_a_clean_boundary_with_fences_closed() -> None:
    paragraph = "word " * 30
    text = "\n\n".join([paragraph] * 20)
    cut = overflow.cut(text, 1000)
    assert len(cut) <= 1000
    assert text.startswith(cut)
    assert cut.endswith("word")  # at the end of a paragraph, never mid-word
    code = "intro\n\n```python\n" + "x = 1\n" * 400 + "```\n\nafter"
    cut_code = overflow.cut(code, 800)
    assert cut_code.endswith("\n```")
    assert cut_code.count("```") == 2
    assert overflow.cut("short", 1000) == "short"
