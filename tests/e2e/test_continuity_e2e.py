"""Resets and restarts with the real codex-acp adapters: records written by the real hook script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fusion_fixtures import anyio_backend, fusion
from mcp import Client
from mock_openai import MockResponses, say
from tests.results import text_of

from codex_fusion.host import continuity
from codex_fusion.launch.config import Config
from codex_fusion.mcp.server import build_server

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend", "fusion"]  # fixtures, used by name

HOOK = Path(__file__).resolve().parents[2] / "hooks" / "codex_fusion_hook.py"
WINDOW = os.getppid()  # an ancestor of the in-memory server, as Claude Code is of a real one


def hook(config: Config, event: str, session: str, **fields: Any) -> None:
    assert config.state_dir is not None
    payload = {"session_id": session, "hook_event_name": event, **fields}
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "CLAUDE_PLUGIN_DATA": str(config.state_dir.parent),
        "CLAUDE_PROJECT_DIR": str(config.workspace.path),
        "CLAUDE_PID": str(WINDOW),
    }
    subprocess.run([sys.executable, str(HOOK)], input=json.dumps(payload).encode(), env=env, check=True)


def session_of(status: str) -> str:
    return next(line for line in status.splitlines() if line.startswith("session:")).split(" ")[1]


async def test_codex_keeps_its_session_and_context_across_a_server_restart(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([say("Noted: the budget is 5 ms."), say("You said 5 ms.")])
    config = fusion(CLAUDE_PID=str(WINDOW))
    hook(config, "SessionStart", "claude-1", source="startup")
    async with Client(build_server(config)) as client:
        await client.call_tool("consult", {"question": "BUDGET-MARK: our latency budget is 5 ms."})
        first = session_of(text_of(await client.call_tool("status", {})))
        assert config.state_dir is not None
        assert config.workspace.path is not None
        with anyio.fail_after(10):  # the link is saved off the tool path, right after the turn
            while continuity.load(config.state_dir, config.workspace.path, "claude-1") is None:
                await anyio.sleep(0.02)
    hook(config, "SessionStart", "claude-1", source="resume")  # `claude --resume`: a new server
    async with Client(build_server(fusion(CLAUDE_PID=str(WINDOW)))) as client:
        result = await client.call_tool("reply", {"message": "What budget did I give you?"})
        status = text_of(await client.call_tool("status", {}))
    assert result.is_error is False, text_of(result)
    assert session_of(status) == first
    assert "(restored)" in status
    assert "was restored, with its context" in text_of(result)
    assert "BUDGET-MARK" in mock_model.turn_requests[-1].input_text()  # the model saw the history


async def test_a_clear_gives_the_real_codex_a_fresh_session(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([say("First."), say("Second.")])
    config = fusion(CLAUDE_PID=str(WINDOW))
    hook(config, "SessionStart", "claude-1", source="startup")
    async with Client(build_server(config)) as client:
        await client.call_tool("consult", {"question": "BEFORE-CLEAR"})
        hook(config, "SessionEnd", "claude-1", reason="clear")
        hook(config, "SessionStart", "claude-2", source="clear")
        after = await client.call_tool("consult", {"question": "AFTER-CLEAR"})
    assert text_of(after).startswith("Second."), text_of(after)
    history = mock_model.turn_requests[-1].input_text()
    assert "AFTER-CLEAR" in history
    assert "BEFORE-CLEAR" not in history
