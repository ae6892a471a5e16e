"""codex-fusion's MCP tools against the real codex-acp adapters and a scripted mock model.

A scenario is a mock script, a few tool calls and assertions on the results, the workspace and
what the mock received. Both adapters run every scenario.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from e2e_adapters import Adapter
from fusion_fixtures import anyio_backend, fusion
from mcp import Client
from mock_openai import MockResponses, apply_patch, exec_cmd, read_file, say, slow
from tests.results import text_of

from codex_fusion.launch.config import Config
from codex_fusion.launch.planning import configure
from codex_fusion.mcp.server import build_server

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend", "fusion"]  # fixtures, used by name


async def test_consult_answer_comes_back_verbatim(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([say("Prefer a bounded queue here.", chunks=4)])
    async with Client(build_server(fusion())) as client:
        result = await client.call_tool("consult", {"question": "Queue or lock?"})
    text = text_of(result)
    assert result.is_error is False, text
    assert text.startswith("Prefer a bounded queue here.")
    footer = text.splitlines()[-1]
    assert footer.startswith("— codex · ")
    assert "tokens" in footer
    assert "Queue or lock?" in mock_model.turn_requests[0].input_text()


async def test_exec_pauses_and_permit_allow_runs_it(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path
) -> None:
    mock_model.script([exec_cmd("touch created-by-codex.txt"), say("Created it.")])
    async with Client(build_server(fusion())) as client:
        paused = await client.call_tool("consult", {"question": "Create the file."})
        text = text_of(paused)
        assert text.startswith("⏸ Codex is paused"), text
        assert "touch created-by-codex.txt" in text
        assert not (workspace / "created-by-codex.txt").exists()
        done = await client.call_tool("permit", {"decision": "allow"})
    assert done.is_error is False, text_of(done)
    assert text_of(done).startswith("Created it.")
    assert (workspace / "created-by-codex.txt").exists()


async def test_deny_with_note_continues_and_the_note_reaches_the_model(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path
) -> None:
    mock_model.script([exec_cmd("touch never.txt"), say("Understood, I will not create it.")])
    async with Client(build_server(fusion())) as client:
        paused = await client.call_tool("consult", {"question": "Create never.txt."})
        assert text_of(paused).startswith("⏸ Codex is paused"), text_of(paused)
        done = await client.call_tool("permit", {"decision": "deny", "note": "NOTE-7 use a temp dir"})
    text = text_of(done)
    assert done.is_error is False, text
    assert "Understood, I will not create it." in text
    assert "stop: cancelled" not in text
    assert not (workspace / "never.txt").exists()
    assert "NOTE-7 use a temp dir" in mock_model.turn_requests[-1].input_text()


PATCH = """*** Begin Patch
*** Add File: notes.txt
+written by codex
*** End Patch"""


@pytest.mark.parametrize("writes", ["0", "1"])
async def test_apply_patch_asks_unless_writes_are_allowed(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path, writes: str
) -> None:
    mock_model.script([apply_patch(PATCH), say("Patched.")])
    async with Client(build_server(fusion(CODEX_FUSION_ALLOW_WRITES=writes))) as client:
        first = await client.call_tool("consult", {"question": "Add notes.txt."})
        text = text_of(first)
        if writes == "0":
            assert text.startswith("⏸ Codex is paused"), text
            assert "edit" in text
            assert not (workspace / "notes.txt").exists()
            first = await client.call_tool("permit", {"decision": "allow"})
            text = text_of(first)
        status = text_of(await client.call_tool("status", {}))
    assert text.startswith("Patched."), text
    assert (workspace / "notes.txt").read_text() == "written by codex\n"
    if writes == "1":
        assert "auto-allowed (write-inside-flag): 1" in status


async def test_reading_inside_the_workspace_never_pauses(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([read_file("README.md"), say("It says hello.")])
    async with Client(build_server(fusion())) as client:
        result = await client.call_tool("consult", {"question": "What does the README say?"})
    text = text_of(result)
    assert text.startswith("It says hello."), text
    assert "# demo" in mock_model.turn_requests[-1].input_text()  # the read's output went to the model


async def test_cancel_mid_stream_then_the_same_session_answers(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([slow("word " * 200, chunk_delay=0.05), say("After the cancel.")])
    async with Client(build_server(fusion())) as client:
        before = text_of(await client.call_tool("status", {}))
        started = time.monotonic()
        with anyio.move_on_after(2):
            await client.call_tool("consult", {"question": "Talk slowly."})
        assert time.monotonic() - started < 10
        status = text_of(await client.call_tool("status", {}))
        session = next(line for line in status.splitlines() if line.startswith("session:"))
        result = await client.call_tool("consult", {"question": "Again."})
        after = text_of(await client.call_tool("status", {}))
    assert "agent: not started" in before
    assert text_of(result).startswith("After the cancel."), text_of(result)
    assert session in after  # same session, no respawn


async def test_two_consults_share_one_codex_session(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([say("First answer."), say("Second answer.")])
    async with Client(build_server(fusion())) as client:
        await client.call_tool("consult", {"question": "FIRST-QUESTION"})
        second = await client.call_tool("consult", {"question": "SECOND-QUESTION"})
    assert text_of(second).startswith("Second answer.")
    history = mock_model.turn_requests[-1].input_text()
    assert "FIRST-QUESTION" in history
    assert "First answer." in history


async def test_unreachable_model_is_a_clear_answer_within_the_timeout(
    fusion: Callable[..., Config], mock_model: MockResponses, adapter: Adapter
) -> None:
    mock_model.stop()  # nothing listens on the provider port any more
    async with Client(build_server(fusion())) as client:
        started = time.monotonic()
        result = await client.call_tool("consult", {"question": "hello?", "timeout_s": 4})
        elapsed = time.monotonic() - started
    text = text_of(result)
    assert elapsed < 30
    if adapter.name == "rust":  # fails the prompt at once
        assert result.is_error
        assert "stream disconnected" in text
    else:  # retries forever; the idle bound ends it and names the cause
        assert "Timed out" in text
        assert "Reconnecting" in text


async def test_not_logged_in_is_a_clear_error(
    adapter: Adapter, workspace: Path, tmp_path: Path, adapter_env: Callable[..., dict[str, str]]
) -> None:
    empty_home = tmp_path / "empty_codex_home"
    empty_home.mkdir()
    env = adapter_env(adapter, empty_home)
    env.update(CODEX_FUSION_ACP_COMMAND=shlex.join(adapter.argv), CODEX_FUSION_WORKSPACE=str(workspace))
    async with Client(build_server(configure(env))) as client:
        started = time.monotonic()
        result = await client.call_tool("consult", {"question": "hi"})
    assert result.is_error
    assert (
        "Codex is not logged in: run `npx -y @openai/codex login` in a terminal, or set OPENAI_API_KEY"
        in text_of(result)
    )
    assert time.monotonic() - started < 30
