"""Codex CLI as the host (issue 28): the real ``codex exec`` consults Claude through codex-fusion.

Codex's model is a scripted Responses mock (``tool_search``, then the call in ``mcp__fusion``, then a
final message quoting the tool's output); the member is the real claude-agent-acp answering from the
mock Anthropic API. What the person would read is Codex's final message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from codex_host import FIRST_WAIT_S, SERVER, codex_cli, host_root, run_exec
from e2e_adapters import Adapter
from mock_anthropic import MockAnthropic, call_tool
from mock_anthropic import say as claude_says
from mock_openai import MockResponses, RecordedRequest, Step, mcp_call, relay, tool_search
from test_council_e2e import AGENTS_DIR, CLAUDE_MODEL, require_agents

__all__ = ["host_root"]  # a fixture, used by name

QUESTION = "HOST-Q-7f: a queue or a lock for the job runner?"
TAKE = "HOST-TAKE-2c: a bounded queue"
CLAUDE_SAYS = (
    "CLAUDE-HOSTED-41: a bounded queue, sized from the p99 burst.\nVERDICT: CONSENSUS — a bounded queue"
)
RELAYED = "CODEX-FINAL: "


@pytest.fixture
def claude_api() -> Iterator[MockAnthropic]:
    require_agents()
    with MockAnthropic() as mock:
        yield mock


@pytest.fixture
def codex_api() -> Iterator[MockResponses]:
    with MockResponses() as mock:
        yield mock


def server_env(
    root: Path, workspace: Path, adapter: Adapter, claude: MockAnthropic, **extra: str
) -> dict[str, str]:
    """codex-fusion's environment as the user registers it (no CODEX_FUSION_HOST: the host is
    recognised from Codex's ``initialize``)."""
    members = {
        "claude": {
            "env": {"ANTHROPIC_BASE_URL": claude.base_url, "ANTHROPIC_API_KEY": "sk-ant-host-e2e"},
            "model": CLAUDE_MODEL,
        }
    }
    return {
        "CODEX_FUSION_WORKSPACE": str(workspace),
        "CODEX_FUSION_ACP_COMMAND": shlex.join(adapter.argv),  # never started: the member is Claude
        "CODEX_FUSION_AGENTS_DIR": str(AGENTS_DIR),
        "CODEX_FUSION_MEMBERS": json.dumps(members),
        "CODEX_FUSION_STARTUP_TIMEOUT_MS": "90000",
        "CODEX_FUSION_WARM": "0",
        "XDG_STATE_HOME": str(root / "state"),
        **extra,
    }


def tool_outputs(rec: RecordedRequest) -> list[str]:
    """Every MCP tool result Codex's model has read so far, in order."""
    return [
        json.dumps(i.get("output"), ensure_ascii=False)
        for i in rec.input_items()
        if i.get("type") == "function_call_output"
    ]


def polled(step: Step) -> Step:
    """``step`` repeated while the newest tool output says the call is still running."""
    return dataclasses.replace(step, again_while=lambda rec: "is still running" in tool_outputs(rec)[-1])


def found(query: str) -> Step:
    """The model's first step: search the deferred tools (after Codex's MCP servers are up)."""
    return tool_search(query, until=f"mcp__{SERVER}", wait=FIRST_WAIT_S)


def test_codex_consults_claude_and_its_final_message_carries_claudes_answer_and_verdict(
    host_root: Path, workspace: Path, ts_adapter: Adapter, claude_api: MockAnthropic, codex_api: MockResponses
) -> None:
    claude_api.script(claude_says(CLAUDE_SAYS))
    arguments = {"question": QUESTION, "members": ["claude"], "my_take": TAKE}
    codex_api.script(
        [found("consult second opinion"), mcp_call(SERVER, "consult", **arguments), relay(RELAYED)]
    )
    env = server_env(host_root, workspace, ts_adapter, claude_api)
    run = run_exec(host_root, codex_api.base_url, env, "Ask Claude: queue or lock?", workspace)

    assert run.returncode == 0, run.stderr[-3000:]
    final = run.final
    assert final.startswith(RELAYED), (run.messages, run.stderr[-3000:])
    assert "CLAUDE-HOSTED-41" in final, final
    assert "VERDICT: CONSENSUS — a bounded queue" in final, final
    assert "Council round 1 — settled" in final, final  # the verdict, parsed into the agreement line
    # The search found codex-fusion's tools in their namespace, and Claude's model got the question.
    call = next(r for r in codex_api.turn_requests if "function_call_output" in r.raw.decode())
    outputs = [i for i in call.input_items() if i.get("type") == "tool_search_output"]
    namespaces = {tool.get("name"): tool for tool in outputs[-1].get("tools", [])}
    assert f"mcp__{SERVER}" in namespaces, list(namespaces)
    described = json.dumps(namespaces[f"mcp__{SERVER}"])
    assert "Second opinion from Claude (Anthropic)" in described  # the tool texts, rendered for Codex
    asked = "\n".join(r.all_text() for r in claude_api.message_requests(with_tools=True))
    assert QUESTION in asked
    assert TAKE not in asked  # round 1 is blind, as in Claude Code
    assert {r.model for r in claude_api.message_requests(with_tools=True)} == {CLAUDE_MODEL}


def test_inside_codex_a_consult_goes_to_claude_a_pause_reaches_codex_and_permit_resumes_it(
    host_root: Path, workspace: Path, ts_adapter: Adapter, claude_api: MockAnthropic, codex_api: MockResponses
) -> None:
    marker = workspace / "MARKER-9d"
    claude_api.script(
        call_tool("Bash", {"command": f"touch {marker}", "description": "make the marker"}),
        claude_says("CLAUDE-RESUMED-63: the marker is there.\nVERDICT: CONSENSUS — done"),
    )
    codex_api.script(
        [
            found("consult second opinion"),
            mcp_call(SERVER, "consult", question="Make the marker file, then say so."),  # no members
            mcp_call(SERVER, "permit", decision="allow"),
            relay(RELAYED),
        ]
    )
    env = server_env(host_root, workspace, ts_adapter, claude_api)
    run = run_exec(host_root, codex_api.base_url, env, "Have Claude make the marker.", workspace)

    assert run.returncode == 0, run.stderr[-3000:]
    # The consult went to Claude (the default member inside Codex) and paused; Codex's model read
    # the pause as the tool's output, then answered it with `permit`.
    paused = tool_outputs(codex_api.last_request())[0]
    assert "⏸ Claude is paused" in paused, paused
    assert f"touch {marker}" in paused
    final = run.final
    assert final.startswith(RELAYED), (run.messages, run.stderr[-3000:])
    assert "CLAUDE-RESUMED-63" in final, final
    assert marker.exists()  # what was approved ran


def test_a_consult_longer_than_the_hosts_limit_comes_back_as_a_handle_and_is_collected(
    host_root: Path, workspace: Path, ts_adapter: Adapter, claude_api: MockAnthropic, codex_api: MockResponses
) -> None:
    claude_api.latency = 6.0  # Claude's model takes longer than the limit below
    claude_api.script(claude_says("CLAUDE-LATE-85: a queue.\nVERDICT: CONSENSUS — a queue"))
    codex_api.script(
        [
            found("consult second opinion"),
            mcp_call(SERVER, "consult", question=QUESTION),
            polled(mcp_call(SERVER, "task", id="c1", action="show", wait_s=120)),
            relay(RELAYED),
        ]
    )
    env = server_env(host_root, workspace, ts_adapter, claude_api, CODEX_FUSION_HANDLE_AFTER_S="2")
    run = run_exec(host_root, codex_api.base_url, env, "Ask Claude, it may take a while.", workspace)

    assert run.returncode == 0, run.stderr[-3000:]
    handle, *polls, collected = tool_outputs(codex_api.last_request())
    assert "is still running" in handle, handle
    assert all("is still running" in poll for poll in polls), polls
    assert "handle c1" in handle
    assert "CLAUDE-LATE-85" not in handle
    assert "CLAUDE-LATE-85" in collected, collected
    assert "CLAUDE-LATE-85" in run.final


def test_the_real_codex_reads_the_readmes_registration(host_root: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("### Codex CLI as the host", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    codex_home = host_root / "codex_home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(block)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(host_root), "CODEX_HOME": str(codex_home)}
    listed = subprocess.run(
        [str(codex_cli()), "mcp", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (server,) = json.loads(listed.stdout)
    assert (server["name"], server["enabled"]) == ("codex-fusion", True)
    assert server["transport"]["command"] == "codex-fusion"
    assert server["transport"]["env"] == {"CODEX_FUSION_HOST": "codex"}
    assert (server["startup_timeout_sec"], server["tool_timeout_sec"]) == (60, 300)
