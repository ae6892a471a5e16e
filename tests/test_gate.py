"""The review gate's decision table, findings and settings (pure; the hook side is test_gate_hook.py)."""

from __future__ import annotations

import itertools

import pytest

from codex_fusion.hookside import gate
from codex_fusion.hookside.gate import Finding, Review, Settings, decide, parse_findings

ON = Settings(True, "option", 2, "major", 120)
BLOCKER = Finding("blocker", "src/app.py:3", "divides by zero when count is 0; guard it")
MINOR = Finding("minor", "src/app.py:9", "name could be clearer")

REVIEWS = {
    "blocking": Review([BLOCKER, MINOR], model="gpt-5.5"),
    "lesser only": Review([MINOR]),
    "none": Review([]),
    "failed": Review(failure="Codex is not logged in: run `codex login`, or set OPENAI_API_KEY."),
}


def run(
    *,
    enabled: bool = True,
    active: bool = False,
    changed: bool | None = True,
    blocks: int = 0,
    review: str = "blocking",
) -> tuple[gate.Decision, int]:
    calls = []

    def do_review() -> Review:
        calls.append(1)
        return REVIEWS[review]

    settings = ON if enabled else Settings(False, "default", 2, "major", 120)
    decision = decide(
        settings,
        active=active,
        changed=changed,
        unknown_why="the workspace is not in a git repository",
        blocks=blocks,
        still_open="1 blocker (src/app.py:3: divides by zero)",
        review=do_review,
        how_to_disable="HOW-TO-DISABLE",
    )
    return decision, len(calls)


@pytest.mark.parametrize(
    ("changed", "active", "review", "blocks"),
    list(itertools.product((True, False, None), (True, False), tuple(REVIEWS), (0, 1, 2))),
)
def test_the_decision_table(changed: bool | None, active: bool, review: str, blocks: int) -> None:
    decision, reviews = run(changed=changed, active=active, review=review, blocks=blocks)
    may_review = changed is True and not active and blocks < ON.max_blocks
    assert reviews == (1 if may_review else 0)  # never a review it does not need: no usage burnt
    blocks_now = may_review and review == "blocking"
    assert decision.action == ("block" if blocks_now else "allow")
    output = decision.output()
    if active or changed is False:
        assert output is None  # silent: the gate's own continuation, or nothing changed
    elif changed is None:
        assert output == {"systemMessage": decision.message}
        assert "cannot tell what this turn changed (the workspace is not in a git repository)" in str(
            decision.message
        )
    elif blocks >= ON.max_blocks:
        assert "2 of 2 blocks used" in str(decision.message)
        assert "still open from the last review: 1 blocker (src/app.py:3" in str(decision.message)
    elif review == "failed":
        assert decision.message == (
            "codex-fusion review gate: not reviewed, the stop goes through — Codex is not logged in: run "
            "`codex login`, or set OPENAI_API_KEY."
        )
    elif blocks_now:
        assert output is not None
        reason = str(output["reason"])
        assert f"(block {blocks + 1} of 2 in this conversation)" in reason
        assert "- [blocker] src/app.py:3 — divides by zero when count is 0; guard it" in reason
        assert "src/app.py:9" not in reason  # below the threshold: not a reason to block
        assert "1 lesser finding(s) are not blocking" in reason
        assert reason.endswith("To turn the gate off: HOW-TO-DISABLE")
        assert decision.open == "1 blocker (src/app.py:3: divides by zero when count is 0; guard it)"
    else:
        assert "found nothing at or above major" in str(decision.message)


def test_the_gate_off_does_nothing_at_all() -> None:
    decision, reviews = run(enabled=False)
    assert (decision.action, decision.output(), reviews) == ("allow", None, 0)


def test_the_threshold_decides_what_blocks() -> None:
    minor = Settings(True, "env", 2, "minor", 120)
    decision = decide(
        minor, active=False, changed=True, blocks=0, still_open=None, review=lambda: REVIEWS["lesser only"],
        how_to_disable="x",
    )  # fmt: skip
    assert decision.action == "block"


def test_findings_are_parsed_from_codex_answer() -> None:
    answer = (
        "Looked at it.\n"
        "FINDING: blocker src/app.py:3 — divides by zero; guard it\n"
        "- FINDING: [Major] lib/x.py:10 - leaks the file handle\n"
        "FINDING: nit foo.py:1 — not a severity\n"
        "VERDICT: OPEN — fix the division"
    )
    found = parse_findings(answer)
    assert found is not None
    assert [(f.severity, f.location, f.text) for f in found] == [
        ("blocker", "src/app.py:3", "divides by zero; guard it"),
        ("major", "lib/x.py:10", "leaks the file handle"),
    ]
    assert parse_findings("FINDING: none\nVERDICT: CONSENSUS — fine") == []
    assert parse_findings("Looks fine to me.\nVERDICT: CONSENSUS — ok") is None


def test_a_review_survives_its_json_and_refuses_garbage() -> None:
    again = Review.from_json(REVIEWS["blocking"].to_json())
    assert [f.line() for f in again.findings] == [BLOCKER.line(), MINOR.line()]
    assert again.model == "gpt-5.5"
    assert Review.from_json({"version": 9}).failure is not None
    assert (
        Review.from_json({"version": 1, "findings": [{"severity": "fatal"}], "failure": None}).findings == []
    )


def test_settings_follow_env_over_option_over_default() -> None:
    assert not Settings.from_env({}).enabled
    option = Settings.from_env(
        {"CLAUDE_PLUGIN_OPTION_REVIEW_GATE": "true", "CLAUDE_PLUGIN_OPTION_REVIEW_GATE_MAX_BLOCKS": "3"}
    )
    assert (option.enabled, option.enabled_by, option.max_blocks, option.threshold, option.timeout) == (
        True, "option", 3, "major", 120
    )  # fmt: skip
    env = Settings.from_env({"CLAUDE_PLUGIN_OPTION_REVIEW_GATE": "true", "CODEX_FUSION_REVIEW_GATE": "0"})
    assert not env.enabled
    odd = Settings.from_env({"CODEX_FUSION_REVIEW_GATE": "1", "CODEX_FUSION_REVIEW_GATE_SEVERITY": "fatal",
                             "CODEX_FUSION_REVIEW_GATE_TIMEOUT_S": "9999"})  # fmt: skip
    assert (odd.threshold, odd.timeout, odd.enabled_by) == ("major", 540, "env")


def test_the_way_to_turn_it_off_matches_how_it_was_turned_on() -> None:
    by_option = gate.how_to_disable(ON, "/home/u/.claude/plugins/data/codex-fusion-codex-fusion")
    assert "claude plugin configure codex-fusion@codex-fusion --values-stdin" in by_option
    assert '{"review_gate": "false"}' in by_option
    by_env = gate.how_to_disable(Settings(True, "env", 2, "major", 120), None)
    assert by_env.startswith("unset CODEX_FUSION_REVIEW_GATE")
