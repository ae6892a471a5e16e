"""The agents' own git runs none of a hostile repository's programs (issue 25 item 1, ADR 0023).

The workspace's ``.git/config`` and ``.gitattributes`` name a marker program for every key class git
runs (``tests/hostile_git.py``). A council of the real codex-acp (TypeScript and Rust, by the
``adapter`` parameter), claude-agent-acp and Gemini CLI answers a consult against the offline mocks;
the adapters' own ``git status`` and friends run in that workspace with our environment, and no marker
appears.
"""

from __future__ import annotations

import pytest
from fusion_fixtures import anyio_backend, text_of
from mcp import Client
from mock_anthropic import say as claude_says
from mock_gemini import say as gemini_says
from mock_openai import say as codex_says
from test_council_e2e import Panel, panel
from tests.hostile_git import fired, hostile_repository, report

from codex_fusion.mcp.server import build_server

__all__ = ["anyio_backend", "panel"]  # fixtures, used by name
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
    text = text_of(result)
    assert result.is_error is False, text
    for answer in ("CODEX-GIT-1", "CLAUDE-GIT-2", "GEMINI-GIT-3"):
        assert answer in text, text
    assert fired(markers) == [], report(markers)
