"""The agents' own git runs none of a hostile repository's programs (issue 25 item 1, ADR 0023).

The workspace's ``.git/config`` and ``.gitattributes`` name a marker program for every key class git
runs (``tests/hostile_git.py``). A council of the real codex-acp (TypeScript and Rust, by the
``adapter`` parameter), claude-agent-acp and Gemini CLI answers a consult against the offline mocks;
the adapters' own ``git status`` and friends run in that workspace with our environment, and no marker
appears.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from fusion_fixtures import anyio_backend
from mcp import Client
from mock_anthropic import say as claude_says
from mock_gemini import say as gemini_says
from mock_openai import say as codex_says
from test_council_e2e import Panel, panel
from tests.hostile_git import fired, hostile_repository, report
from tests.results import text_of

from codex_fusion.mcp.server import build_server

__all__ = ["anyio_backend", "panel"]  # fixtures, used by name


def family(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux ``/proc``)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue += [int(child) for child in (task / "children").read_text().split()]
    return found


def environ(pid: int) -> dict[str, str]:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    return {}


pytestmark = pytest.mark.anyio


async def test_no_member_runs_the_repositorys_git_programs(panel: Panel) -> None:
    workspace, markers = hostile_repository(panel.root / "hostile")
    panel.workspace = workspace
    panel.codex.script([codex_says("CODEX-GIT-1\nVERDICT: CONSENSUS — fine")])
    panel.claude.script(claude_says("CLAUDE-GIT-2\nVERDICT: CONSENSUS — fine"))
    panel.gemini.script(gemini_says("GEMINI-GIT-3\nVERDICT: CONSENSUS — fine"))
    async with Client(build_server(panel.config())) as client:
        result = await client.call_tool(
            "consult", {"question": "Is a.txt fine?", "members": ["all"], "my_take": "It looks fine to me."}
        )
        status = text_of(await client.call_tool("status", {}))
        pid = int(re.search(r"^agent: alive, .*, pid (\d+)$", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
        # Codex's adapter and everything it started (its Codex, whose own git runs from there) carry it
        for process in family(pid):
            env = environ(process)
            assert env.get("GIT_CONFIG_KEY_0") == "core.hookspath", (process, env.get("GIT_CONFIG_COUNT"))
            assert env.get("GIT_ALLOW_PROTOCOL") == "", process
    text = text_of(result)
    assert result.is_error is False, text
    for answer in ("CODEX-GIT-1", "CLAUDE-GIT-2", "GEMINI-GIT-3"):
        assert answer in text, text
    assert fired(markers) == [], report(markers)
