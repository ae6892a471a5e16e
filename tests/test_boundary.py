"""Issue 9's classes, through the real client, guardian and runner (the agent in memory): Claude sees
the whole request, options are chosen by kind, a flood can be cancelled and is capped, and the turn
log keeps the full request."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
from pathlib import Path

import anyio
import pytest

from codex_fusion.errors import HandlerError
from codex_fusion.guardian.policy import GuardianFlags
from codex_fusion.member import render
from codex_fusion.member.client import MAX_ASKS_PER_TURN, AcpClient
from codex_fusion.member.conversation import Member
from codex_fusion.member.notes import Audit, NoteKind
from codex_fusion.member.turn import Pause, TurnOutcome, TurnSlot

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio


def ask(style: str, tool_call: dict[str, object]) -> str:
    return f"@fake ask {style} {json.dumps(tool_call)}"


def chosen(fake: FakeAgentSetup) -> list[str]:
    out = []
    for message in fake.received():
        outcome = (message.get("result") or {}).get("outcome") if "method" not in message else None
        if outcome:
            out.append(outcome.get("optionId") or outcome["outcome"])
    return out


async def pause_of(consultant: Member, prompt: str) -> Pause:
    result = await consultant.consult(prompt)
    assert isinstance(result, Pause), result
    return result


async def test_a_padded_command_is_shown_whole(fake: FakeAgentSetup) -> None:
    padded = "ls" + " " * 500 + "; touch MARK"
    tool_call = {"toolCallId": "c1", "kind": "execute", "rawInput": {"command": ["/bin/bash", "-lc", padded]}}
    async with fake.consultant() as consultant:
        paused = await pause_of(consultant, ask("ts", tool_call))
        text = render.pause(paused)
        await consultant.permit("deny")
    assert "ls⟨500 blanks⟩; touch MARK" in text
    assert "the script of `bash -lc`" in text
    assert paused.decision.command is not None
    assert paused.decision.command.text == padded


async def test_every_path_of_an_edit_is_shown(fake: FakeAgentSetup) -> None:
    paths = ["src/a.py", "src/b.py", "src/c.py", ".git/hooks/pre-commit"]
    tool_call = {"toolCallId": "c1", "kind": "edit", "locations": [{"path": p} for p in paths]}
    async with fake.consultant(CODEX_FUSION_ALLOW_WRITES="1") as consultant:
        paused = await pause_of(consultant, ask("ts", tool_call))  # .git is never covered by the flag
        text = render.pause(paused)
        await consultant.permit("deny")
    assert paused.rule == "git-internals"
    assert "(+1 more)" in paused.summary
    for path in paths:
        assert f"- {path}" in text


async def test_bidi_and_control_characters_are_made_visible(fake: FakeAgentSetup) -> None:
    tool_call = {
        "toolCallId": "c1",
        "kind": "execute",
        "rawInput": {"command": "echo hi\r\x1b[2K", "reason": "harmless \u202etxt.exe"},
    }
    async with fake.consultant() as consultant:
        text = render.pause(await pause_of(consultant, ask("ts", tool_call)))
        await consultant.permit("deny")
    assert "\u202e" not in text
    assert "\x1b" not in text
    assert "harmless ⟨U+202E⟩txt.exe" in text
    assert "echo hi⟨CR⟩⟨U+001B⟩[2K" in text


async def test_a_command_too_large_to_show_is_refused_with_the_reason(fake: FakeAgentSetup) -> None:
    tool_call = {"toolCallId": "c1", "kind": "execute", "rawInput": {"command": "echo " + "x" * 10_001}}
    async with fake.consultant() as consultant:
        outcome = await consultant.consult(ask("ts", tool_call))
    assert isinstance(outcome, TurnOutcome)  # no pause: nothing Claude could judge whole was offered
    assert chosen(fake) == ["decline"]
    assert [note.kind for note in outcome.notes if note.kind is not NoteKind.BOUNDARY] == [NoteKind.REFUSED]
    assert "refused without asking you, too large to show whole" in render.outcome(outcome)


async def test_too_large_with_only_turn_ending_rejects_continues_and_tells_codex(
    fake: FakeAgentSetup,
) -> None:
    tool_call = {"toolCallId": "c1", "kind": "execute", "rawInput": {"command": "echo " + "x" * 10_001}}
    async with fake.consultant() as consultant:
        outcome = await consultant.consult(ask("ts_observed", tool_call))
    assert isinstance(outcome, TurnOutcome)
    assert outcome.stop_reason == "end_turn"
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert "too large for Claude to review" in prompts[-1]


async def test_a_lasting_option_with_a_harmless_id_is_never_auto_picked(fake: FakeAgentSetup) -> None:
    (fake.workspace / "a.py").write_text("")
    tool_call = {"toolCallId": "c1", "kind": "read", "locations": [{"path": str(fake.workspace / "a.py")}]}
    async with fake.consultant() as consultant:
        paused = await pause_of(consultant, ask("approved_always", tool_call))
        assert paused.rule == "only-lasting-allow"
        assert "only a lasting approval" in render.pause(paused)
        await consultant.permit("deny")
    assert chosen(fake) == ["denied"]


async def test_deny_never_picks_an_option_whose_kind_allows(fake: FakeAgentSetup) -> None:
    tool_call = {"toolCallId": "c1", "kind": "execute", "rawInput": {"command": "touch x"}}
    async with fake.consultant() as consultant:
        await pause_of(consultant, ask("denied_allows", tool_call))
        await consultant.permit("deny")
    assert chosen(fake) == ["abort"]
    assert not (fake.workspace / "x").exists()


async def test_a_flood_can_be_cancelled(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        await pause_of(consultant, "@fake flood 100 ts")
        outcome = await consultant.permit("cancel")
        assert isinstance(outcome, TurnOutcome)
        assert outcome.stop_reason == "cancelled"
        assert "you stopped this turn with `permit` cancel" in render.outcome(outcome)
        after = await consultant.consult("@fake say free again")
    assert isinstance(after, TurnOutcome)
    assert after.text == "free again"
    assert len(fake.received("initialize")) == 1  # Codex stopped when told: no kill, no respawn


async def test_a_flood_is_capped_and_ends_the_turn(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        result = await consultant.consult("@fake flood 100 ts")
        denies = 0
        while isinstance(result, Pause):
            denies += 1
            result = await consultant.permit("deny")
        assert isinstance(result, TurnOutcome)
    assert denies == MAX_ASKS_PER_TURN
    assert result.stop_reason == "cancelled"
    assert f"more than {MAX_ASKS_PER_TURN} times" in render.outcome(result)
    assert chosen(fake) == ["decline"] * MAX_ASKS_PER_TURN + ["cancelled"]


async def test_the_turn_log_keeps_the_whole_request(fake: FakeAgentSetup, tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    padded = "ls" + " " * 300 + "; touch MARK --token=sk-abcdefghijklmnop"
    tool_call = {"toolCallId": "c1", "kind": "execute", "rawInput": {"command": padded, "cwd": "src"}}
    async with fake.consultant(CODEX_FUSION_LOG=str(log)) as consultant:
        await pause_of(consultant, ask("ts", tool_call))
        await consultant.permit("deny")
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    (request,) = entry["requests"]
    assert request["what"] == "denied by Claude"
    assert request["command"].startswith("ls" + " " * 300 + "; touch MARK --token=")
    assert "sk-abcdef" not in log.read_text()
    assert request["cwd"] == "src"


def _client(workspace: Path) -> AcpClient:
    client = AcpClient(
        workspace=workspace,
        flags=GuardianFlags(),
        audit=Audit(),
        slot=TurnSlot(),
        request_ids=itertools.count(1),
    )
    client.bind("s")  # reads name the session they are for
    return client


async def test_read_text_file_refuses_a_fifo_without_blocking(fake: FakeAgentSetup) -> None:
    os.mkfifo(fake.workspace / "pipe")  # nobody ever writes to it: opening it to read would block
    client = _client(fake.workspace)
    with anyio.fail_after(10), pytest.raises(HandlerError, match="not a regular file"):
        await client.on_request("fs/read_text_file", {"sessionId": "s", "path": "pipe"})


async def test_read_text_file_cannot_be_raced_by_swapping_a_symlink(
    fake: FakeAgentSetup, tmp_path: Path
) -> None:
    inside, outside = fake.workspace / "real", tmp_path / "outside"
    for folder, content in ((inside, "public"), (outside, "TOP SECRET")):
        folder.mkdir()
        (folder / "file.txt").write_text(content)
    link = fake.workspace / "dir"
    link.symlink_to(inside)
    stop = threading.Event()

    def swap() -> None:  # flip `dir` between inside and outside as fast as possible
        spare = fake.workspace / "dir.next"
        while not stop.is_set():
            for target in (outside, inside):
                with contextlib.suppress(FileNotFoundError):
                    spare.unlink()
                spare.symlink_to(target)
                os.replace(spare, link)

    client = _client(fake.workspace)
    swapper = threading.Thread(target=swap)
    swapper.start()
    leaked = served = 0
    try:
        for _ in range(3000):
            try:
                answer = await client.on_request(
                    "fs/read_text_file", {"sessionId": "s", "path": "dir/file.txt"}
                )
            except HandlerError:
                continue
            served += 1
            leaked += "TOP SECRET" in answer["content"]
    finally:
        stop.set()
        swapper.join()
    assert leaked == 0
    assert served > 0  # the inside file stayed readable between swaps
