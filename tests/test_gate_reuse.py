"""With the gate on and the window's server watching the workspace, a prompt reuses the last stop's
snapshot when nothing changed since it began (issue 26.3): no git runs. A change seen by the watch,
or no watching server, and the prompt snapshots as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_fusion.hookside import nonce

from .conftest import FakeAgentSetup
from .test_gate_hook import WINDOW, hook, hook_env, repo
from .test_gate_slow import _logged_git

__all__ = ["repo"]  # the fixture, used by name

pytestmark = pytest.mark.anyio


def _record(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(next(directory.glob("gate-*.json")).read_text())
    return loaded


def _descriptor(directory: Path) -> dict[str, Any] | None:
    found = list(directory.glob("server-*.json"))
    if not found:
        return None
    loaded: dict[str, Any] = json.loads(found[0].read_text())
    return loaded


async def _until(predicate: Any) -> None:
    with anyio.fail_after(20):
        while not predicate():
            await anyio.sleep(0.02)


async def test_a_prompt_after_a_quiet_stop_reuses_its_snapshot(repo: FakeAgentSetup, tmp_path: Path) -> None:
    path, started = _logged_git(tmp_path)
    env = hook_env(repo, PATH=path, CODEX_FUSION_GATE_COMMAND="false")
    directory = nonce.window_dir(nonce.state_dir(env), repo.workspace)
    async with Client(repo.server("", CODEX_FUSION_REVIEW_GATE="1", CLAUDE_PID=str(WINDOW))):
        await _until(lambda: (_descriptor(directory) or {}).get("watch_since") is not None)
        assert await anyio.to_thread.run_sync(lambda: hook(env, "UserPromptSubmit", prompt="go")) is None
        assert await anyio.to_thread.run_sync(lambda: hook(env, "Stop", stop_hook_active=False)) is None
        stop_tree = _record(directory)["stop_tree"]
        assert isinstance(stop_tree, str)
        started.unlink()

        assert await anyio.to_thread.run_sync(lambda: hook(env, "UserPromptSubmit", prompt="again")) is None
        assert not started.exists(), "nothing changed since the stop: the prompt must not run git"
        assert _record(directory)["baseline"] == stop_tree

        # a change the watch sees: the next prompt snapshots again, and sees the change
        assert await anyio.to_thread.run_sync(lambda: hook(env, "Stop", stop_hook_active=False)) is None
        began = _record(directory)["stop_began"]
        (repo.workspace / "src" / "calc.py").write_text("changed = True\n")
        await _until(lambda: ((_descriptor(directory) or {}).get("changed") or 0) > began)
        assert await anyio.to_thread.run_sync(lambda: hook(env, "UserPromptSubmit", prompt="more")) is None
        assert started.exists()
        assert _record(directory)["baseline"] != stop_tree


async def test_without_a_watching_server_every_prompt_snapshots(repo: FakeAgentSetup, tmp_path: Path) -> None:
    path, started = _logged_git(tmp_path)
    env = hook_env(repo, PATH=path)
    assert hook(env, "UserPromptSubmit", prompt="go") is None
    assert hook(env, "Stop", stop_hook_active=False) is None
    started.unlink()
    assert hook(env, "UserPromptSubmit", prompt="again") is None
    assert started.exists()
