"""The pause/permit flow: guardian decisions on real permission requests from the fake agent."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest

from codex_fusion.errors import ConsultError, HandlerError
from codex_fusion.guardian.policy import GuardianFlags, Rule
from codex_fusion.member import render
from codex_fusion.member.client import AcpClient
from codex_fusion.member.conversation import Member
from codex_fusion.member.notes import Audit, NoteKind
from codex_fusion.member.turn import Pause, TurnOutcome, TurnSlot

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio


def answers(fake: FakeAgentSetup) -> list[object]:
    """What we answered to the fake agent's requests, in order (results or errors)."""
    return [m.get("result", m.get("error")) for m in fake.received() if "method" not in m]


def audit(consultant: Member) -> dict[tuple[NoteKind, Rule | None], int]:
    return dict(consultant.status().audit)


def notes(outcome: TurnOutcome) -> list[str]:
    """The guardian's notes on the turn (the fake agent's sessions also carry a boundary notice)."""
    return [render.note(note) for note in outcome.notes if note.kind is not NoteKind.BOUNDARY]


def chosen(fake: FakeAgentSetup) -> list[str]:
    out = []
    for answer in answers(fake):
        outcome = answer.get("outcome", {}) if isinstance(answer, dict) else {}
        if outcome:
            out.append(outcome.get("optionId") or outcome["outcome"])
    return out


async def test_allow_resumes_the_same_turn_and_the_command_runs(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        first = await consultant.consult("@fake permit execute rust touch made.txt\n@fake say done")
        assert isinstance(first, Pause)
        assert first.kind == "execute"
        assert first.summary.startswith("run `touch made.txt`")
        assert first.reason == "I need to run touch made.txt"
        assert consultant.state == "paused"
        assert not (fake.workspace / "made.txt").exists()
        final = await consultant.permit("allow")
        assert isinstance(final, TurnOutcome)
        assert audit(consultant)[NoteKind.ASKED, None] == 1
        assert audit(consultant)[NoteKind.ALLOWED, None] == 1
    assert final.text == "[ran touch made.txt] done"
    assert final.stop_reason == "end_turn"
    assert notes(final) == ["allowed by Claude: " + first.summary]
    assert (fake.workspace / "made.txt").exists()
    assert chosen(fake) == ["approved"]
    assert len(fake.received("session/prompt")) == 1


@pytest.mark.parametrize(("style", "option"), [("rust", "denied"), ("ts", "decline")])
async def test_deny_with_a_continuing_option_lets_codex_go_on(
    fake: FakeAgentSetup, style: str, option: str
) -> None:
    async with fake.consultant() as consultant:
        pause = await consultant.consult(f"@fake permit execute {style} touch nope.txt\n@fake say carried on")
        assert isinstance(pause, Pause)
        final = await consultant.permit("deny", "use git status instead")
        assert isinstance(final, TurnOutcome)
        assert final.text == "[declined touch nope.txt] carried on"
        assert final.stop_reason == "end_turn"
        # ACP has no field for the note: it starts the next prompt
        await consultant.consult("@fake say next")
    assert not (fake.workspace / "nope.txt").exists()
    assert chosen(fake) == [option]
    second_prompt = fake.received("session/prompt")[1]["params"]["prompt"][0]["text"]
    assert second_prompt.startswith("<notes_from_claude>")
    assert "which I denied: use git status instead" in second_prompt


@pytest.mark.parametrize(("style", "option"), [("rust_observed", "abort"), ("ts_observed", "cancel")])
async def test_deny_with_only_turn_ending_options_continues_the_consultation(
    fake: FakeAgentSetup, style: str, option: str
) -> None:
    async with fake.consultant() as consultant:
        pause = await consultant.consult(f"@fake permit execute {style} rm -rf build")
        assert isinstance(pause, Pause)
        final = await consultant.permit("deny", "never delete build outputs")
    assert isinstance(final, TurnOutcome)
    assert final.stop_reason == "end_turn"  # not "cancelled": from Claude's side the turn went on
    assert final.text.endswith("acknowledged: never delete build outputs")
    assert chosen(fake) == [option]
    prompts = fake.received("session/prompt")
    assert len(prompts) == 2
    continuation = prompts[1]["params"]["prompt"][0]["text"]
    assert "denied your request to run `rm -rf build`" in continuation


async def test_two_sequential_pauses_in_one_turn(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        first = await consultant.consult("@fake permit execute ts touch a.txt;touch b.txt\n@fake say both")
        assert isinstance(first, Pause)
        assert "touch a.txt" in first.summary
        second = await consultant.permit("allow")
        assert isinstance(second, Pause)
        assert "touch b.txt" in second.summary
        final = await consultant.permit("allow")
    assert isinstance(final, TurnOutcome)
    assert final.text == "[ran touch a.txt; ran touch b.txt] both"
    assert (fake.workspace / "a.txt").exists()
    assert (fake.workspace / "b.txt").exists()


async def test_a_second_request_while_one_is_pending_queues_behind_it(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        first = await consultant.consult("@fake permit execute rust touch a.txt|touch b.txt\n@fake say ok")
        assert isinstance(first, Pause)
        await anyio.wait_all_tasks_blocked()  # the second request has arrived too
        turn = consultant.current_turn
        assert turn is not None
        now = turn.pause()
        assert now is not None
        assert now.request is first.request
        assert now.waiting_behind == 1
        second = await consultant.permit("allow")
        assert isinstance(second, Pause)
        assert "touch b.txt" in second.summary
        final = await consultant.permit("deny")
        assert consultant.status().session_id is not None
    assert isinstance(final, TurnOutcome)
    assert final.text == "[ran touch a.txt; declined touch b.txt] ok"
    assert len(fake.received("session/new")) == 1  # the context was never wiped


async def test_permit_with_nothing_pending_is_clear(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        with pytest.raises(
            ConsultError, match="No pending permission — it may have completed or been cancelled"
        ):
            await consultant.permit("allow")
        await consultant.consult("@fake say hi")
        with pytest.raises(ConsultError, match="No pending permission"):
            await consultant.permit("deny")


async def test_cancelling_a_paused_turn_answers_the_request_cancelled(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        pause = await consultant.consult("@fake permit execute rust touch x.txt")
        assert isinstance(pause, Pause)
        turn = consultant.current_turn
        await consultant.cancel()
        assert turn is not None
        assert turn.done
        assert turn.outcome is not None
        assert turn.outcome.stop_reason == "cancelled"
        after = await consultant.consult("@fake say after")
    assert isinstance(after, TurnOutcome)
    assert after.text == "after"
    assert chosen(fake) == ["cancelled"]
    assert len(fake.received("session/cancel")) == 1
    assert len(fake.received("initialize")) == 1


async def test_consults_during_a_pause_are_refused_not_queued(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        results: dict[str, object] = {}

        async def run(name: str, prompt: str) -> None:
            try:
                results[name] = await consultant.consult(prompt)
            except ConsultError as exc:
                results[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "pausing", "@fake wait ask\n@fake permit execute rust true")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(run, "queued", "@fake say queued")  # waits in the queue…
            await anyio.wait_all_tasks_blocked()
            assert consultant.queue_length == 1
            fake.gate("ask").set()
        # … and is bounced when the running turn pauses, so Claude is never deadlocked.
        assert isinstance(results["pausing"], Pause)
        assert isinstance(results["queued"], ConsultError)
        assert "Call `permit` first, then ask again" in str(results["queued"])
        assert consultant.queue_length == 0
        with pytest.raises(ConsultError, match="Codex is paused, waiting for your decision on: run `true`"):
            await consultant.consult("@fake say later")
        final = await consultant.permit("allow")
        assert isinstance(final, TurnOutcome)
        assert (await consultant.consult("@fake say later")).text == "later"  # type: ignore[union-attr]
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert not any("queued" in p for p in prompts)


async def test_reads_inside_are_auto_allowed_without_a_pause(fake: FakeAgentSetup) -> None:
    (fake.workspace / "README.md").write_text("hi\n")
    async with fake.consultant() as consultant:
        final = await consultant.consult(
            f"@fake permit read rust {fake.workspace}/README.md\n@fake say read it"
        )
        assert isinstance(final, TurnOutcome)
        assert audit(consultant) == {(NoteKind.AUTO_ALLOWED, Rule.READ_INSIDE): 1}
    assert final.text == f"[ran {fake.workspace}/README.md] read it"
    assert chosen(fake) == ["approved"]


async def test_reads_outside_pause(fake: FakeAgentSetup, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    async with fake.consultant() as consultant:
        pause = await consultant.consult(f"@fake permit read ts {secret}")
        assert isinstance(pause, Pause)
        assert pause.rule == "outside-workspace"
        await consultant.permit("deny")


async def test_writes_flag_auto_allows_edits_inside(fake: FakeAgentSetup) -> None:
    target = fake.workspace / "notes.txt"
    async with fake.consultant(CODEX_FUSION_ALLOW_WRITES="1") as consultant:
        final = await consultant.consult(f"@fake permit edit ts {target}\n@fake say edited")
    assert isinstance(final, TurnOutcome)
    assert target.read_text() == "edited\n"
    assert notes(final) == ["auto-allowed: edit notes.txt"]


async def test_only_lasting_allow_is_never_auto_chosen(fake: FakeAgentSetup) -> None:
    (fake.workspace / "a.py").write_text("")
    async with fake.consultant() as consultant:
        pause = await consultant.consult(f"@fake permit read always_only {fake.workspace}/a.py")
        assert isinstance(pause, Pause)
        assert pause.rule == "only-lasting-allow"
        final = await consultant.permit("allow")
    assert isinstance(final, TurnOutcome)
    assert "only a lasting approval was offered (allow_always)" in notes(final)[0]
    assert chosen(fake) == ["allow_always"]


async def test_request_after_its_tool_call_is_merged(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        pause = await consultant.consult("@fake order after\n@fake permit execute rust touch late.txt")
        assert isinstance(pause, Pause)
        assert pause.summary.startswith("run `touch late.txt`")
        assert pause.reason == "I need to run touch late.txt"
        await consultant.permit("allow")
    assert (fake.workspace / "late.txt").exists()


async def test_agent_withdrawing_its_request_is_answered_and_the_turn_goes_on(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        first = await consultant.consult(
            "@fake withdraw\n@fake permit execute rust touch w.txt\n@fake say fin"
        )
        # The pause is seen before the withdrawal arrives (0.3 s later, on the agent's clock).
        assert isinstance(first, Pause)
        with anyio.fail_after(10):
            while consultant.current_turn is not None:
                await consultant.current_turn.finished.wait()
        # Nobody waited for the rest of the turn: `permit` hands it over instead of losing it.
        final = await consultant.permit("allow")
        with pytest.raises(ConsultError, match="No pending permission"):
            await consultant.permit("allow")
    assert isinstance(final, TurnOutcome)
    assert "-32800" in final.text
    assert final.text.endswith("fin")
    assert any("withdrew" in note for note in notes(final))
    assert not (fake.workspace / "w.txt").exists()


async def test_read_text_file_is_confined_to_the_workspace(fake: FakeAgentSetup, tmp_path: Path) -> None:
    (fake.workspace / "f.txt").write_text("one\ntwo\nthree\nfour\n")
    (tmp_path / "outside.txt").write_text("secret")
    (fake.workspace / "link").symlink_to(tmp_path / "outside.txt")
    audit = Audit()
    client = AcpClient(
        workspace=fake.workspace,
        flags=GuardianFlags(),
        audit=audit,
        slot=TurnSlot(),
        request_ids=itertools.count(1),
    )
    client.bind("s")

    async def read(**params: object) -> object:
        return await client.on_request("fs/read_text_file", {"sessionId": "s", **params})

    assert await read(path=str(fake.workspace / "f.txt"), line=2, limit=2) == {"content": "two\nthree\n"}
    assert await read(path="f.txt") == {"content": "one\ntwo\nthree\nfour\n"}
    for path in (str(tmp_path / "outside.txt"), "link", "../outside.txt", "/etc/passwd"):
        with pytest.raises(HandlerError, match="outside the workspace"):
            await read(path=path)
    with pytest.raises(HandlerError, match="cannot read"):
        await read(path="missing.txt")
    assert dict(audit.counts) == {(NoteKind.REFUSED_READ, None): 4}
