"""A review in parts opens its parts as extra sessions on the member's running agent (ADR 0032).

The agent's client routes every update and request by its ``sessionId`` to that session's own turn;
a session it does not serve is refused; each part's session is closed when the part ends, also when
the review is cancelled; the member's own session and turn go on untouched.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_fusion.acp.schema import PERMISSION_CANCELLED
from codex_fusion.errors import HandlerError
from codex_fusion.guardian.permissions import choose_for
from codex_fusion.guardian.policy import GuardianFlags
from codex_fusion.member.client import Guard
from codex_fusion.member.notes import Audit
from codex_fusion.member.turn import Pause, Turn, TurnOutcome, TurnSlot
from codex_fusion.review import parts as shards
from codex_fusion.review.diffs import DiffMaterial, FileSummary

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio

TS_OPTIONS = [
    {"optionId": "allow_once", "name": "Allow", "kind": "allow_once"},
    {"optionId": "decline", "name": "Decline", "kind": "reject_once"},
]


def _guard(workspace: Path, ids: itertools.count[int], flags: GuardianFlags | None = None) -> Guard:
    return Guard(workspace, flags or GuardianFlags(), Audit(), TurnSlot(), ids)


def _ask(session_id: str, command: str) -> dict[str, Any]:
    tool_call = {"toolCallId": "c1", "title": command, "kind": "execute", "rawInput": {"command": command}}
    return {"sessionId": session_id, "toolCall": tool_call, "options": TS_OPTIONS}


def _chunk(session_id: str, text: str) -> dict[str, Any]:
    update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
    return {"sessionId": session_id, "update": update}


async def test_each_session_s_updates_and_requests_reach_its_own_turn_only(tmp_path: Path) -> None:
    ids = itertools.count(1)
    own, part_a, part_b = _guard(tmp_path, ids), _guard(tmp_path, ids), _guard(tmp_path, ids)
    client = own.client()
    client.bind("main")
    client.route("part-a", part_a)
    client.route("part-b", part_b)
    turns = {"main": Turn("main"), "part-a": Turn("part-a"), "part-b": Turn("part-b")}
    own.slot.current, part_a.slot.current, part_b.slot.current = turns.values()
    for sid in turns:
        client.on_notification("session/update", _chunk(sid, f"said in {sid}"))
    assert {sid: turn.text for sid, turn in turns.items()} == {sid: f"said in {sid}" for sid in turns}

    async with anyio.create_task_group() as tg:
        answers: dict[str, Any] = {}

        async def ask(sid: str) -> None:
            answers[sid] = await client.on_request("session/request_permission", _ask(sid, f"make {sid}"))

        tg.start_soon(ask, "part-b")
        with anyio.fail_after(5):
            while turns["part-b"].pause() is None:
                await anyio.sleep(0.01)
        pause = turns["part-b"].pause()
        assert isinstance(pause, Pause)
        assert "make part-b" in pause.summary  # held on the part that asked, judged there
        assert turns["main"].pause() is None
        assert turns["part-a"].pause() is None
        turns["part-b"].answer(pause.request, "deny", choose_for("deny", pause.request.options))
    assert answers["part-b"] == {"outcome": {"outcome": "selected", "optionId": "decline"}}


async def test_a_session_the_client_does_not_serve_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("inside")
    ids = itertools.count(1)
    own, part = _guard(tmp_path, ids), _guard(tmp_path, ids)
    client = own.client()
    client.bind("main")
    client.route("part", part)
    own.slot.current, part.slot.current = Turn("main"), Turn("part")
    client.unroute("part")  # the part ended: its session is closed and no longer ours
    for sid in ("part", "stranger"):
        answer = await client.on_request("session/request_permission", _ask(sid, "make"))
        assert answer == PERMISSION_CANCELLED
        with pytest.raises(HandlerError, match="unknown session"):
            await client.on_request("fs/read_text_file", {"sessionId": sid, "path": "f.txt"})
        client.on_notification("session/update", _chunk(sid, "late"))
    assert own.slot.current.pause() is None
    assert own.slot.current.text == ""
    assert part.slot.current.pause() is None
    assert part.slot.current.text == ""
    assert await client.on_request("fs/read_text_file", {"sessionId": "main", "path": "f.txt"}) == {
        "content": "inside"
    }


def test_an_agent_is_shared_only_with_its_own_workspace_and_guardian(tmp_path: Path) -> None:
    ids = itertools.count(1)
    client = _guard(tmp_path, ids).client()
    client.bind("main")
    elsewhere = tmp_path / "other"
    with pytest.raises(ValueError, match="workspace and guardian"):
        client.route("p1", _guard(elsewhere, ids))
    with pytest.raises(ValueError, match="workspace and guardian"):
        client.route("p2", _guard(tmp_path, ids, GuardianFlags(allow_writes=True)))
    with pytest.raises(ValueError, match="routed already"):
        client.route("main", _guard(tmp_path, ids))


def _material(count: int, directive: str) -> list[DiffMaterial]:
    """``count`` one-file parts, each file's diff carrying ``directive`` for the fake reviewer."""
    out = []
    for i in range(count):
        path = f"f{i}.py"
        text = f"diff --git a/{path} b/{path}\n+{directive}\n"
        files = (FileSummary(path, "modified", 1, 0, False, True),)
        out.append(DiffMaterial(text, files, f"part {i + 1} of {count}", None, ((path, text),)))
    return out


async def test_a_part_s_request_is_judged_on_the_part_while_the_member_is_paused_on_its_own(
    fake: FakeAgentSetup,
) -> None:
    async with fake.consultant("close") as codex:
        paused = await codex.consult("@fake permit execute ts make main")
        assert isinstance(paused, Pause)
        host = shards.host_of(codex)
        assert host is not None
        parts = _material(2, "@fake permit execute ts make part")
        reviews = await shards.review(
            codex.config,
            codex.member,
            parts,
            None,
            spawn=codex.spawn,
            request_ids=codex.request_ids,
            host=host,
            timeout=30,
        )
        assert [r.error for r in reviews] == [None, None]
        assert all(r.denied and "make part" in r.denied[0] for r in reviews)  # each on its own part
        still = codex.current_turn.pause() if codex.current_turn is not None else None
        assert still is not None
        assert still.request.ref == paused.request.ref
        done = await codex.permit("allow", request=paused.request.ref)
        assert isinstance(done, TurnOutcome)
        assert "ran make main" in done.text
    assert len(fake.received("initialize")) == 1
    part_sessions = {m["params"]["sessionId"] for m in fake.received("session/prompt")} - {done.session_id}
    assert len(part_sessions) == 2
    assert {m["params"]["sessionId"] for m in fake.received("session/close")} == part_sessions


async def test_a_cancelled_review_cancels_and_closes_each_part_s_session_and_keeps_the_agent(
    fake: FakeAgentSetup,
) -> None:
    async with fake.consultant("close") as codex:
        await codex.warm()
        own = codex.codex_session
        parts = _material(3, "@fake sleep 30")
        with anyio.move_on_after(30) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: shards.review(
                        codex.config,
                        codex.member,
                        parts,
                        None,
                        spawn=codex.spawn,
                        request_ids=codex.request_ids,
                        host=shards.host_of(codex),
                    )
                )
                while len(fake.received("session/prompt")) < 3:
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
        assert not scope.cancelled_caught
        part_sessions = {m["params"]["sessionId"] for m in fake.received("session/prompt")}
        assert own not in part_sessions
        assert {m["params"]["sessionId"] for m in fake.received("session/cancel")} == part_sessions
        assert {m["params"]["sessionId"] for m in fake.received("session/close")} == part_sessions
        after = await codex.consult("@fake say still here")
        assert isinstance(after, TurnOutcome)
        assert after.text == "still here"
        assert after.session_id == own
    assert len(fake.received("initialize")) == 1


async def test_parts_start_agents_of_their_own_where_the_agent_is_not_known_to_share(
    fake: FakeAgentSetup,
) -> None:
    members = fake.members_json({"other": {"flags": "echo_diffs"}})
    async with fake.consultant(CODEX_FUSION_MEMBERS=members) as codex:
        assert shards.host_of(codex) is not None
        other = codex.config.members["other"]
        assert other.kind != "codex"
    from codex_fusion.member.conversation import Member

    async with Member(codex.config, member=other, spawn=codex.spawn) as reviewer:
        assert shards.host_of(reviewer) is None
