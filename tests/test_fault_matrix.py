"""Every agent fault the server must survive: a clear result, a bounded time, a working next
consult, and no process of the agent's group left behind."""

from __future__ import annotations

import signal
import time

import pytest

from codex_fusion.errors import FusionError
from codex_fusion.member import render
from codex_fusion.member.conversation import Member
from codex_fusion.member.turn import TurnOutcome

from .conftest import FakeAgentSetup, group_alive, wait_until
from .test_cli import StdioPeer

pytestmark = pytest.mark.anyio

# (id, prompt, per-call idle timeout, what the result must say)
FAULTS = [
    ("exits-mid-turn", "@fake exit 3", None, "exited with code 3"),
    ("never-answers", "@fake sleep 60", 0.5, "stop=timeout"),
    ("ignores-cancel", "@fake hang 60", 0.5, "stop=timeout; restarted"),
    ("floods-stderr", "@fake stderr_flood 2000000\n@fake say fine", None, "fine"),
    ("garbage-and-unknown-updates", "@fake unknown_update\n@fake say fine", None, "fine"),
    (
        "rpc-error-mid-turn",
        "@fake error",
        None,
        "Codex failed this turn: Internal error — usage_limit_exceeded",
    ),
    ("reconnecting-forever", "@fake reconnect 60", 0.5, "stop=timeout; Reconnecting... waiting for network"),
]


def describe(result: object) -> str:
    if isinstance(result, TurnOutcome):
        return f"{result.text} stop={result.stop_reason}; " + "; ".join(render.note(n) for n in result.notes)
    return str(result)


@pytest.mark.parametrize(
    ("prompt", "timeout", "expected"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
async def test_fault(fake: FakeAgentSetup, prompt: str, timeout: float | None, expected: str) -> None:
    groups: set[int] = set()
    async with Member(fake.config(CODEX_FUSION_CANCEL_GRACE_MS="300")) as consultant:
        await consultant.consult("warm up")
        groups.add(_pid(consultant))
        started = time.monotonic()
        try:
            result: object = await consultant.consult(prompt, timeout=timeout)
        except FusionError as exc:
            result = exc
        assert time.monotonic() - started < 15  # behaviour, not speed: it ends by itself
        for part in expected.split("; "):
            assert part in describe(result)
        after = await consultant.consult("@fake say next")
        assert isinstance(after, TurnOutcome)
        assert after.text == "next"
        groups.add(_pid(consultant))
    assert wait_until(lambda: not any(group_alive(g) for g in groups), timeout=5)


def _pid(consultant: Member) -> int:
    pid = consultant.status().agent_pid
    assert pid is not None
    return pid


def test_claude_code_shutdown_sequence_cleans_up_before_sigkill(fake: FakeAgentSetup) -> None:
    """SIGINT, SIGTERM ~100 ms later, SIGKILL ~400 ms after that: the agent must be gone before
    the SIGKILL, since nothing can clean up after it."""
    peer = StdioPeer(fake.env("grandchild,ignore_eof,ignore_term"))
    try:
        peer.initialize()
        peer.call("tools/call", {"name": "consult", "arguments": {"question": "warm up"}})
        status = peer.call("tools/call", {"name": "status", "arguments": {}})["result"]["content"][0]["text"]
        pgid = int(
            next(line for line in status.splitlines() if line.startswith("agent: alive")).split("pid ")[1]
        )
        peer.send(
            {
                "id": 50,
                "method": "tools/call",
                "params": {"name": "consult", "arguments": {"question": "@fake hang 60"}},
            }
        )
        time.sleep(0.3)
        peer.proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        if peer.proc.poll() is None:
            peer.proc.send_signal(signal.SIGTERM)
        time.sleep(0.4)
        gone_before_sigkill = not group_alive(pgid)
        if peer.proc.poll() is None:
            peer.proc.kill()
        peer.proc.wait(timeout=10)
    finally:
        peer.close()
    assert gone_before_sigkill
