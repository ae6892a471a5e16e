"""A diff too large for one session: split by file, parts reviewed at once, one merged answer."""

from __future__ import annotations

import math
import re

import anyio
import pytest
from mcp import Client

from codex_fusion.member.debate import Standing, parse_verdict
from codex_fusion.member.transcript import Usage
from codex_fusion.member.turn import TurnOutcome
from codex_fusion.review import parts as shards
from codex_fusion.review.diffs import DiffMaterial, FileSummary

from .conftest import FakeAgentSetup
from .test_tools import git, prompts_sent, repository, text_of

pytestmark = pytest.mark.anyio


def material(sizes: dict[str, int]) -> DiffMaterial:
    sections = tuple(
        (path, f"diff --git a/{path} b/{path}\n" + "x" * size) for path, size in sorted(sizes.items())
    )
    files = tuple(FileSummary(path, "modified", 1, 1, False, True) for path in sorted(sizes))
    return DiffMaterial("".join(t for _, t in sections), files, "working tree vs HEAD", None, sections)


def test_a_diff_that_fits_one_session_is_not_split() -> None:
    assert shards.plan(material({"a": 100, "b": 100}), limit=1000) is None
    assert shards.plan(material({"a": 5000}), limit=1000) is None  # one file: nothing to split


def test_parts_hold_every_file_once_and_stay_near_the_limit() -> None:
    sizes = {f"f{i:02}.py": 900 + 37 * i for i in range(24)}
    whole = material(sizes)
    parts = shards.plan(whole, limit=8000)
    assert parts is not None
    # as few parts as the diff needs once each prompt's own text (the task, the findings format, its
    # file list) has its share of the budget: one more than the bare diff would need, at most
    assert math.ceil(len(whole.text) / 8000) == 5
    assert 5 <= len(parts) <= 6
    seen = [path for part in parts for path, _ in part.sections]
    assert sorted(seen) == sorted(sizes)  # each file in exactly one part
    for number, part in enumerate(parts, start=1):
        assert len(part.text) <= 8000 * 1.2
        assert f"part {number} of {len(parts)}" in part.description
        shown = {f.path for f in part.files if f.included}
        assert shown == {path for path, _ in part.sections}
        # its own files listed; the other parts' files as a count and a profile (issue 26.2)
        assert {f.path for f in part.files} == shown
        assert part.omitted_note is not None
        assert "reviewed in parallel" in part.omitted_note
        assert f"Other reviewers have {24 - len(shown)} files (" in part.omitted_note


def test_parts_never_exceed_the_maximum_and_an_oversized_file_stays_out() -> None:
    sizes = {f"f{i:02}.py": 1000 for i in range(40)} | {"huge.lock": 50_000}
    # a budget for two files a part besides the prompt's own text: 40 files need more than the maximum
    parts = shards.plan(material(sizes), limit=4000)
    assert parts is not None
    assert len(parts) == shards.MAX_SHARDS
    assert all("huge.lock" not in dict(part.sections) for part in parts)


def outcome(text: str) -> TurnOutcome:
    return TurnOutcome(text, "end_turn", 1.0, Usage(total_tokens=10), [], "s")


def test_merge_keeps_each_finding_and_gives_one_verdict() -> None:
    reviews = [
        shards.PartReview(
            ("a.py",), outcome("a.py:3 major: off by one\nVERDICT: CONSENSUS — fix a"), None, ()
        ),
        shards.PartReview(
            ("b.py",), outcome("b.py:9 minor: name\nVERDICT: OPEN — naming"), None, ("run `make`",)
        ),
        shards.PartReview(("c.py",), None, "Codex is not logged in", ()),
    ]
    merged = shards.merge(reviews, "Codex", started=0.0)
    text = merged.text
    assert "a.py:3 major: off by one" in text
    assert "b.py:9 minor: name" in text
    assert "denied automatically in a parallel part: run `make`" in text
    assert "This part could not be reviewed: Codex is not logged in" in text
    assert len(re.findall(r"^VERDICT:", text, flags=re.M)) == 1
    verdict = parse_verdict(text)
    assert verdict.standing is Standing.OPEN
    assert "part 2: naming" in verdict.summary
    assert "part 3 was not reviewed" in verdict.summary
    assert merged.usage.total_tokens == 20
    agreed = shards.merge(reviews[:1], "Codex", started=0.0)
    assert parse_verdict(agreed.text).standing is Standing.CONSENSUS


async def test_a_large_diff_is_reviewed_in_parts_at_once_with_every_finding(fake: FakeAgentSetup) -> None:
    repository(fake.workspace)
    for i in range(24):
        (fake.workspace / f"mod{i:02}.py").write_text("".join(f"value_{i}_{n} = {n}\n" for n in range(60)))
    git(fake.workspace, "add", "-A")
    async with Client(fake.server("echo_diffs,close", CODEX_FUSION_MAX_ANSWER_CHARS="8000")) as client:
        results = []

        async def review() -> None:
            results.append(
                await client.call_tool("review_diff", {"staged": True, "focus": "@fake wait parts"})
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(review)
            # Every part's reviewer holds its prompt before any answers: they run at once.
            with anyio.fail_after(30):
                while (
                    len(prompts_sent(fake)) < 3
                    or len(prompts_sent(fake)) < len(fake.received("session/new")) - 1
                ):
                    await anyio.sleep(0.01)
            assert not results
            fake.gate("parts").set()
        (result,) = results
        text = text_of(result)
        assert result.is_error is False, text
        for i in range(24):
            assert text.count(f"mod{i:02}.py:1 minor: reviewed") == 1
        assert "Reviewed in" in text
        assert "parts at once" in text
        assert "round 1/3 · verdict: consensus" in text
        parts = prompts_sent(fake)
        assert len(parts) >= 3
        # one agent, Codex's own: each part a session of its own on it (ADR 0032), closed at its end
        assert len(fake.received("initialize")) == 1
        part_sessions = {m["params"]["sessionId"] for m in fake.received("session/prompt")}
        assert len(part_sessions) == len(parts) == len(fake.received("session/new")) - 1
        closed = {m["params"]["sessionId"] for m in fake.received("session/close")}
        assert closed == part_sessions
        assert all("part " in p and "reviewed in parallel" in p for p in parts)
        reply = text_of(await client.call_tool("reply", {"message": "@fake say noted"}))
        assert reply.startswith("noted")
        (replied,) = {m["params"]["sessionId"] for m in fake.received("session/prompt")} - part_sessions
        assert replied not in closed  # the debate goes on in Codex's own session
    follow_up = prompts_sent(fake)[-1]
    assert "<your_review_so_far>" in follow_up
    assert "mod07.py:1 minor: reviewed" in follow_up


async def test_a_part_matches_its_files_even_when_their_names_need_quoting(fake: FakeAgentSetup) -> None:
    from codex_fusion.review.diffs import DiffRequest, collect_diff

    repository(fake.workspace)
    names = [f"odd\u202e{i:02}.py" if i % 2 else f"plain{i:02}.py" for i in range(8)]
    for i, name in enumerate(names):
        (fake.workspace / name).write_text("".join(f"line_{i}_{n} = {n}\n" for n in range(80)))
    git(fake.workspace, "add", "-A")
    material = await collect_diff(fake.workspace, DiffRequest(staged=True), max_chars=100_000)
    parts = shards.plan(material, limit=3000)
    assert parts is not None
    for part in parts:
        shown = {f.path for f in part.files if f.included}
        assert shown == {path for path, _ in part.sections}
        assert shown  # every part has its files marked as shown
