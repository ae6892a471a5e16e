"""The council through codex-fusion's own MCP server, with three real agents offline: codex-acp (both
adapters), claude-agent-acp and Gemini CLI, each against a local mock of its model API.

Configured the way a user would: ``CODEX_FUSION_MEMBERS`` naming the built-in ``claude`` and ``gemini``
members with ``env`` for their base URLs and dummy keys, a ``model`` for each, and a sandboxed HOME
holding a secret (``~/.ssh/id_rsa``) that a symlink in the workspace points at. What "reached a model"
is what its mock recorded. The agents come from ``scripts/provision-agents`` and
``scripts/provision-adapters``; missing ones skip these tests, or fail them under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_adapters import MOCK_MODEL, Adapter, make_adapter_env, unavailable, write_codex_config
from fusion_fixtures import anyio_backend
from mcp import Client
from mock_anthropic import MockAnthropic, call_tool
from mock_anthropic import say as claude_says
from mock_gemini import MockGemini, call_function
from mock_gemini import say as gemini_says
from mock_openai import MockResponses, error, exec_cmd
from mock_openai import say as codex_says
from tests.results import text_of

from codex_fusion.launch import agents
from codex_fusion.launch.config import Config
from codex_fusion.launch.planning import configure
from codex_fusion.mcp.server import build_server

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend"]  # a fixture, used by name

AGENTS_DIR = Path(os.environ.get("CODEX_FUSION_AGENTS_DIR") or "~/.cache/codex-fusion/agents").expanduser()
SECRET = "SECRET-c0a1-ssh-key"
TAKE = "MY-TAKE-4b9e: a bounded queue, because the producer outpaces the consumer"
QUESTION = "Queue or lock for the job runner?"
CLAUDE_MODEL = "claude-mock-7"
GEMINI_MODEL = "gemini-mock-9"
CODEX_SAYS = "CODEX-ANSWER-11: a bounded queue; back-pressure is free.\nVERDICT: CONSENSUS — bounded queue"
CLAUDE_SAYS = "CLAUDE-ANSWER-22: a queue, sized from the p99 burst.\nVERDICT: CONSENSUS — a queue"
GEMINI_SAYS = "GEMINI-ANSWER-33: a lock is simpler.\nVERDICT: OPEN — whether bursts matter"


def require_agents() -> None:
    """Skip (fail on CI) unless the pinned claude-agent-acp and Gemini CLI are provisioned."""
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_FUSION_AGENTS_DIR": str(AGENTS_DIR)}
    for kind in ("claude", "gemini"):
        found = agents.default_command(kind, env, None)
        if found is None or len(found) != 2 or not found[1].startswith(str(AGENTS_DIR)):
            unavailable(f"{kind} agent not provisioned in {AGENTS_DIR}; run scripts/provision-agents")


@dataclass
class Panel:
    """Three mocks, a sandboxed HOME with a secret, a workspace, and the server's configuration."""

    adapter: Adapter
    root: Path
    workspace: Path
    home: Path
    codex: MockResponses
    claude: MockAnthropic
    gemini: MockGemini

    def members(self, **override: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``CODEX_FUSION_MEMBERS`` as a user would write it for these mocks (``override`` by member)."""
        entries: dict[str, dict[str, Any]] = {
            "claude": {
                "env": {"ANTHROPIC_BASE_URL": self.claude.base_url, "ANTHROPIC_API_KEY": "sk-ant-e2e-key"},
                "model": CLAUDE_MODEL,
            },
            "gemini": {
                "env": {"GOOGLE_GEMINI_BASE_URL": self.gemini.base_url, "GEMINI_API_KEY": "gemini-e2e-key"},
                "model": GEMINI_MODEL,
            },
        }
        entries.update(override)
        return entries

    def config(self, members: dict[str, dict[str, Any]] | None = None, **extra: str) -> Config:
        codex_home = self.root / "codex_home"
        write_codex_config(codex_home, self.codex.base_url)
        env = make_adapter_env(self.adapter, codex_home, self.home)
        env.update(
            CODEX_FUSION_ACP_COMMAND=shlex.join(self.adapter.argv),
            CODEX_FUSION_WORKSPACE=str(self.workspace),
            CODEX_FUSION_STARTUP_TIMEOUT_MS="90000",
            CODEX_FUSION_WARM="0",
            CODEX_FUSION_AGENTS_DIR=str(AGENTS_DIR),
            CLAUDE_PLUGIN_DATA=str(self.root / "plugin-data"),
            CODEX_FUSION_MEMBERS=json.dumps(self.members() if members is None else members),
        )
        env.update(extra)
        config = configure(env)
        assert list(config.members) == ["codex", *(members or self.members())], config.members
        return config

    def everything_sent(self) -> str:
        """Every request body each mock received, as text."""
        codex = "\n".join(r.raw.decode(errors="replace") for r in self.codex.requests)
        return "\n".join((codex, self.claude.all_text(), self.gemini.all_text()))


@pytest.fixture
def panel(adapter: Adapter, workspace: Path, tmp_path: Path) -> Iterator[Panel]:
    require_agents()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(SECRET + "\n")
    (workspace / "link").symlink_to(home / ".ssh" / "id_rsa")
    with MockResponses() as codex, MockAnthropic() as claude, MockGemini() as gemini:
        yield Panel(adapter, tmp_path, workspace, home, codex, claude, gemini)


def seat(text: str, name: str) -> str:
    """One member's part of a council result (from its ``━━ name ━━`` line to the next one)."""
    head = f"━━ {name} ━━"
    assert head in text, text
    part = text.split(head, 1)[1]
    return part.split("\n━━ ", 1)[0].split("\nCouncil round ", 1)[0]


def agreement_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("Council round "))


def codex_round_one(panel: Panel) -> list[str]:
    return [r.input_text() for r in panel.codex.turn_requests]


# --------------------------------------------------------------------------------------------------


async def test_three_real_members_answer_blind_and_a_reply_round_shows_each_the_others(panel: Panel) -> None:
    panel.codex.script([codex_says(CODEX_SAYS), codex_says("CODEX-ROUND-2\nVERDICT: CONSENSUS — queue")])
    panel.claude.script(claude_says(CLAUDE_SAYS), claude_says("CLAUDE-ROUND-2\nVERDICT: CONSENSUS — queue"))
    panel.gemini.script(gemini_says(GEMINI_SAYS), gemini_says("GEMINI-ROUND-2\nVERDICT: CONSENSUS — queue"))
    async with Client(build_server(panel.config())) as client:
        before = text_of(await client.call_tool("status", {}))
        first = await client.call_tool("consult", {"question": QUESTION, "members": ["all"], "my_take": TAKE})
        text = text_of(first)
        assert first.is_error is False, text
        # Round 1 is blind: nobody's model saw Claude's take.
        round_one = panel.everything_sent()
        assert QUESTION in round_one
        assert TAKE not in round_one
        n_codex = len(panel.codex.turn_requests)
        n_claude = len(panel.claude.message_requests(with_tools=True))
        n_gemini = len(panel.gemini.turn_requests())
        status = text_of(await client.call_tool("status", {}))
        second = await client.call_tool("reply", {"message": "REPLY-5e: bursts are 10x the mean."})
        after = text_of(await client.call_tool("status", {}))

    # Each answer, under its member's name, with its VERDICT parsed into the agreement line.
    assert text.startswith("Council · consult · round 1/3 · codex, claude, gemini"), text
    assert TAKE in text  # shown to Claude next to the answers
    assert "CODEX-ANSWER-11" in seat(text, "codex")
    assert "CLAUDE-ANSWER-22" in seat(text, "claude")
    assert "GEMINI-ANSWER-33" in seat(text, "gemini")
    assert agreement_line(text) == (
        "Council round 1 — settled (blind, compare their conclusions): codex, claude · "
        "open: gemini — whether bursts matter"
    )
    # Each mock answered its own member, with the model the user configured.
    assert {r.model for r in panel.claude.message_requests(with_tools=True)} == {CLAUDE_MODEL}
    assert {r.model for r in panel.gemini.turn_requests()} == {GEMINI_MODEL}
    assert {r.body["model"] for r in panel.codex.turn_requests} == {MOCK_MODEL}  # from CODEX_HOME
    assert {r.headers.get("x-api-key") for r in panel.claude.message_requests(with_tools=True)} == {
        "sk-ant-e2e-key"
    }

    # Round 2 to all: each member's own request carries the other two's answers, named, and the take.
    reply = text_of(second)
    assert second.is_error is False, reply
    assert "round 2/3" in reply.splitlines()[0], reply
    asked = {
        "codex": [r.input_text() for r in panel.codex.turn_requests[n_codex:]],
        "claude": [r.all_text() for r in panel.claude.message_requests(with_tools=True)[n_claude:]],
        "gemini": [_gemini_text(r) for r in panel.gemini.turn_requests()[n_gemini:]],
    }
    answers = {"codex": "CODEX-ANSWER-11", "claude": "CLAUDE-ANSWER-22", "gemini": "GEMINI-ANSWER-33"}
    for name, requests in asked.items():
        assert requests, f"{name} was not asked in round 2"
        sent = requests[0]
        assert "REPLY-5e" in sent, (name, sent[-2000:])
        assert TAKE in sent, name
        for other, answer in answers.items():
            if other != name:
                assert f'<answer from="{other}">\n{answer}' in sent, (name, other)
    assert agreement_line(reply).startswith("Council round 2: all 3 agree"), reply

    # status: each member with its agent's name and version, session, boundary and health.
    assert "council members: 3" in before
    lines = {line.split(":", 1)[0]: line for line in status.splitlines() if line.startswith("- ")}
    assert set(lines) == {"- codex", "- claude", "- gemini"}, status
    assert "codex-acp" in lines["- codex"]
    assert panel.adapter.version in lines["- codex"], lines["- codex"]
    assert f"{agents.claude.PACKAGE} {agents.claude.TESTED_VERSION}" in lines["- claude"]
    assert f"gemini-cli {agents.gemini.TESTED_VERSION}" in lines["- gemini"]
    for line in lines.values():
        assert "boundary: confined" in line, line
        assert "session none" not in line, line
        assert "ready" in line, line
    sessions = {line.split(" · ")[1] for line in lines.values()}
    assert len(sessions) == 3  # three sessions of their own
    assert sessions <= set(" · ".join(after.splitlines()).split(" · "))  # round 2 kept each session


async def test_reads_outside_by_each_member_are_refused_or_paused_never_answered(panel: Panel) -> None:
    """Each member tries the secret by its absolute path and through the workspace's symlink: the file
    tools refuse (Codex's sandbox, Gemini's workspace check) or the request pauses for Claude, naming
    its member (Claude's Read outside, any shell command), and ``permit`` answers each by its id."""
    secret = str(panel.home / ".ssh" / "id_rsa")
    panel.codex.script(
        [
            exec_cmd(f"cat {secret}", escalate=False),  # the sandbox hides it
            exec_cmd("cat link"),  # asks for the sandbox to be lifted: Claude decides
            codex_says("CODEX-NO-SECRET\nVERDICT: CONSENSUS — nothing read"),
        ]
    )
    panel.claude.script(
        call_tool("Read", {"file_path": secret}),
        call_tool("Read", {"file_path": str(panel.workspace / "link")}),
        claude_says("CLAUDE-NO-SECRET\nVERDICT: CONSENSUS — nothing read"),
    )
    panel.gemini.script(
        call_function("read_file", {"file_path": secret}),
        call_function("read_file", {"file_path": str(panel.workspace / "link")}),
        call_function("run_shell_command", {"command": "cat link"}),
        gemini_says("GEMINI-NO-SECRET\nVERDICT: CONSENSUS — nothing read"),
    )
    shown: list[str] = []
    async with Client(build_server(panel.config())) as client:
        first = text_of(
            await client.call_tool(
                "consult", {"question": "Read the key.", "members": ["all"], "my_take": TAKE}
            )
        )
        shown.append(first)
        pending = {name: seat(first, name) for name in ("codex", "claude", "gemini")}
        assert all("is paused" in text for text in pending.values()), first
        refs = {name: _request_ref(text) for name, text in pending.items()}
        assert len(set(refs.values())) == 3  # unique across members
        # Without `request`, the answer could reach any of them: refused, naming each.
        ambiguous = await client.call_tool("permit", {"decision": "deny"})
        assert ambiguous.is_error
        assert "Several members are paused" in text_of(ambiguous)
        pauses: dict[str, list[str]] = {name: [] for name in pending}
        done: dict[str, str] = {}
        while pending:
            name, text = next(iter(pending.items()))
            pauses[name].append(text)
            answer = await client.call_tool(
                "permit", {"decision": "deny", "request": _request_ref(text), "note": "outside the workspace"}
            )
            result = text_of(answer)
            shown.append(result)
            assert answer.is_error is False, result
            mine = seat(result, name)
            if "is paused" in mine:
                pending[name] = mine
            else:
                done[name] = result
                del pending[name]
            assert len(shown) < 10, shown  # a member that keeps asking
    for name, display in (("codex", "Codex"), ("claude", "Claude"), ("gemini", "Gemini")):
        assert all(p.lstrip().startswith(f"⏸ {display} is paused") for p in pauses[name]), pauses[name]
    assert len(pauses["codex"]) == 1  # the escalated `cat link`; the sandboxed read found nothing
    assert len(pauses["claude"]) == 2  # both reads outside asked
    assert len(pauses["gemini"]) == 1  # the command asked; its file tool refused both reads
    assert "cat link" in pauses["gemini"][0]
    for name, text in done.items():
        assert f"{name.upper()}-NO-SECRET" in seat(text, name)
    last = shown[-1]
    assert agreement_line(last).startswith("Council round 1 — settled"), last
    gemini_results = panel.gemini.function_results()
    assert [r.name for r in gemini_results[:2]] == ["read_file", "read_file"]
    assert all("Path not in workspace" in r.text for r in gemini_results[:2])
    assert SECRET not in panel.everything_sent()
    assert SECRET not in "".join(shown)


def _gemini_text(request: Any) -> str:
    """Every text part of a Gemini request's conversation, as the model reads it."""
    return "\n".join(
        str(part.get("text", ""))
        for content in request.contents
        for part in content.get("parts") or []
        if isinstance(part, dict)
    )


def _request_ref(pause: str) -> str:
    marker = "Request id: "
    assert marker in pause, pause
    return pause.split(marker, 1)[1].split(".", 1)[0].strip()


async def test_one_member_down_never_sinks_the_others(panel: Panel) -> None:
    """Gemini's command is missing, Claude is not logged in: Codex still answers, and each seat says
    what happened and what to do."""
    panel.codex.script([codex_says(CODEX_SAYS)])
    members = panel.members(
        gemini={"command": str(panel.root / "no-such-gemini") + " --acp"},
        claude={"env": {"ANTHROPIC_BASE_URL": panel.claude.base_url}, "model": CLAUDE_MODEL},
    )
    async with Client(build_server(panel.config(members))) as client:
        result = await client.call_tool(
            "consult", {"question": QUESTION, "members": ["all"], "my_take": TAKE}
        )
        text = text_of(result)
        status = text_of(await client.call_tool("status", {}))
    assert result.is_error is False, text
    assert "CODEX-ANSWER-11" in seat(text, "codex")
    gemini = seat(text, "gemini")
    assert "could not answer" in gemini, gemini
    assert "no-such-gemini" in gemini
    assert "CODEX_FUSION_MEMBERS" in gemini  # what to fix
    claude = seat(text, "claude")
    assert "✗ Claude could not answer: Claude is not logged in" in claude, claude
    assert "ANTHROPIC_API_KEY" in claude  # what to do
    assert "Codex" not in claude  # the seat names its own member, not the default one
    line = agreement_line(text)
    assert line.startswith("Council round 1 — settled (blind, compare their conclusions): codex"), line
    # issue 27: not being logged in is being unavailable, never a failed (or any) verdict
    assert "no answer: gemini (failed)" in line, line
    assert "unavailable, not counted: claude (not logged in)" in line, line
    assert "gemini: cannot start" in status, status
    assert TAKE not in panel.everything_sent()


async def test_a_member_whose_model_fails_while_the_others_answer(panel: Panel) -> None:
    panel.codex.script([error(500, "mock: the model is down")] * 4)
    panel.claude.script(claude_says(CLAUDE_SAYS))
    panel.gemini.script(gemini_says(GEMINI_SAYS))
    async with Client(build_server(panel.config())) as client:
        result = await client.call_tool(
            "consult", {"question": QUESTION, "members": ["all"], "my_take": TAKE, "timeout_s": 20}
        )
    text = text_of(result)
    assert result.is_error is False, text
    assert "CLAUDE-ANSWER-22" in seat(text, "claude")
    assert "GEMINI-ANSWER-33" in seat(text, "gemini")
    codex = seat(text, "codex")
    assert "✗ Codex could not answer:" in codex, codex  # a failure, not an answer without a verdict
    assert "high demand" in codex  # what the model service said
    assert "no answer: codex (failed)" in agreement_line(text), text


async def test_a_member_without_its_login_says_what_to_set(panel: Panel) -> None:
    """Gemini CLI without a key (it calls the API with an empty one, refused like Google's): the seat names
    Gemini and what to set, not Codex's login."""
    panel.gemini.api_key = "gemini-e2e-key"
    panel.codex.script([codex_says(CODEX_SAYS)])
    panel.claude.script(claude_says(CLAUDE_SAYS))
    members = panel.members(gemini={"env": {"GOOGLE_GEMINI_BASE_URL": panel.gemini.base_url}})
    async with Client(build_server(panel.config(members))) as client:
        result = await client.call_tool(
            "consult", {"question": QUESTION, "members": ["all"], "my_take": TAKE}
        )
    text = text_of(result)
    assert result.is_error is False, text
    gemini = seat(text, "gemini")
    assert "✗ Gemini could not answer: Gemini is not logged in" in gemini, gemini
    assert "GEMINI_API_KEY" in gemini
    assert "codex login" not in gemini
    assert "CLAUDE-ANSWER-22" in seat(text, "claude")
    # issue 27: not logged in is unavailable, never a failed (or any) verdict
    assert "unavailable, not counted: gemini (not logged in)" in agreement_line(text), text
