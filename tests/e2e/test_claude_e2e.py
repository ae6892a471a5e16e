"""The plugin in the real Claude Code CLI, headless and offline.

A sandboxed HOME gets the plugin from this repository's marketplace (``claude plugin marketplace add
<repo>`` + ``claude plugin install codex-fusion@codex-fusion``); ``claude -p`` runs against a mock
Anthropic API (``mock_anthropic.py``) whose scripted model calls the consult tool; Claude Code starts
our server through ``.mcp.json`` (``uv run`` into ``${CLAUDE_PLUGIN_DATA}/venv``), and the server
consults the scripted fake ACP agent (``tests/fake_agent.py``), configured through the ``env`` of the
sandboxed user's ``~/.claude/settings.json``, the way a user would.

What the model receives from a tool result (observed on Claude Code 2.1.329, asserted below): for a
text-only result, the ``tool_result`` content is exactly one ``text`` block holding the server's text
verbatim (our consult: the answer, then the footer line ``— codex · …``). For a result that also
carries ``structuredContent``, the content is a plain string, the structured content as compact JSON,
and the text blocks are dropped (``test_structured_content_replaces_the_text``, with a two-tool probe
server). Hence ADR 0007: our tools send text only (``structured_output=False``).

Start-up times (Claude Code's "Successfully connected … in N ms") are recorded as test properties
(``mcp_connect_ms_cold`` with a fresh ``UV_PROJECT_ENVIRONMENT``, ``mcp_connect_ms_warm`` after it),
never asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import textwrap
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from claude_cli import (
    REPO,
    SERVER_NAME,
    TOOL_PREFIX,
    ClaudeRun,
    ClaudeSandbox,
    find_claude,
    server_process_envs,
    unavailable,
    which_uv,
)
from mock_anthropic import MockAnthropic, RecordedRequest, ToolResult, call_tool, say

from codex_fusion.hookside import nonce, serverside

FAKE_AGENT = REPO / "tests" / "fake_agent.py"
FOOTER_PREFIX = "— codex · "
CONSULT = TOOL_PREFIX + "consult"
STATUS = TOOL_PREFIX + "status"


# A two-tool MCP server: one result with different text and structured content, one text-only.
PROBE_SERVER = textwrap.dedent(
    """\
    from mcp.server import MCPServer
    from mcp.types import CallToolResult, TextContent

    mcp = MCPServer("probe")


    @mcp.tool()
    async def both(tag: str) -> CallToolResult:
        \"\"\"Text and structured content that differ.\"\"\"
        return CallToolResult(
            content=[TextContent(type="text", text=f"TEXT-{tag}")],
            structuredContent={"verdict": "open", "summary": f"STRUCT-{tag}"},
        )


    @mcp.tool(structured_output=False)
    async def text_only(tag: str) -> str:
        \"\"\"Text only.\"\"\"
        return f"TEXT-{tag}"


    mcp.run()
    """
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def claude_binary() -> Path:
    found = find_claude()
    if isinstance(found, str):
        unavailable(found)
    return found


@pytest.fixture(scope="module")
def uv_binary() -> str:
    uv = which_uv()
    if uv is None:
        unavailable("uv is not on PATH (the plugin's .mcp.json launches the server with it)")
    return uv


@dataclass
class Installed:
    sandbox: ClaudeSandbox
    entry: dict[str, Any]  # `claude plugin list --json` entry
    fake_log: Path
    lock_hash: str

    def fake_received(self, method: str) -> list[dict[str, Any]]:
        if not self.fake_log.exists():
            return []
        messages = [json.loads(line) for line in self.fake_log.read_text().splitlines() if line.strip()]
        return [m for m in messages if m.get("method") == method]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, claude_binary: Path, uv_binary: str) -> Installed:
    """A sandboxed user with the plugin installed from this repository's marketplace."""
    root = tmp_path_factory.mktemp("claude")
    sandbox = ClaudeSandbox(root, claude_binary, uv_binary)
    fake_log = root / "fake-agent.jsonl"
    # Settings before the install: `plugin install` then adds enabledPlugins and the marketplace.
    sandbox.update_settings(
        env={
            "CODEX_FUSION_ACP_COMMAND": shlex.join([sys.executable, str(FAKE_AGENT)]),
            "FAKE_ACP_LOG": str(fake_log),
            # The server hands its agent an allowlisted environment; let the fake agent's log through.
            "CODEX_FUSION_AGENT_ENV": "FAKE_ACP*",
        }
    )
    lock_hash = _sha256(REPO / "uv.lock")
    entry = sandbox.install_plugin(REPO)
    return Installed(sandbox, entry, fake_log, lock_hash)


@dataclass
class Consulted:
    """One headless run in which the scripted model calls consult once, then answers."""

    installed: Installed
    run: ClaudeRun
    mock: MockAnthropic
    marker: str
    question: str
    venv_was_fresh: bool
    #: The hook records as they were while Claude Code waited for the model's answer to the tool result.
    records_mid_session: dict[str, Any] = field(default_factory=dict)
    #: The environments of the server processes at that moment (from /proc).
    server_envs: list[dict[str, str]] = field(default_factory=list)

    @property
    def result(self) -> ToolResult:
        [call] = self.mock.tool_calls
        results = [r for r in self.mock.tool_results() if r.tool_use_id == call.tool_use_id]
        assert len(results) == 1, (
            f"expected one tool_result for {call.tool_use_id}: {self.mock.tool_results()}"
        )
        return results[0]


def _read_records(directory: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")):
            out[path.name] = json.loads(path.read_text())
    return out


@pytest.fixture(scope="module")
def consulted(installed: Installed, record_module_property: Callable[[str, object], None]) -> Consulted:
    sandbox = installed.sandbox
    marker = f"FUSION-{uuid.uuid4().hex[:10]}"
    # The fake agent obeys `@fake` directive lines: its answer will be exactly the marker sentence.
    question = (
        f"Is a per-workspace file lock enough to serialise the two writers?\n@fake say {marker} is my answer."
    )
    records_dir = nonce.window_dir(sandbox.plugin_data / "state", sandbox.project)
    venv_was_fresh = not (sandbox.plugin_data / "venv").exists()
    snapshot: dict[str, Any] = {}
    server_envs: list[dict[str, str]] = []

    def look(request: RecordedRequest) -> None:
        if request.tool_results() and not snapshot:
            snapshot.update(_read_records(records_dir))
            server_envs.extend(server_process_envs(sandbox.home))

    with MockAnthropic() as mock:
        mock.on_request = look
        mock.script(
            call_tool("consult", {"question": question, "context": "The writers are two CLI processes."}),
            say("Codex agrees; going ahead."),
        )
        run = sandbox.ask(
            "Get a second opinion from Codex on the locking design.",
            base_url=mock.base_url,
            allowed_tools=[CONSULT],
        )
    connect_ms = run.mcp_connect_ms()
    record_module_property("mcp_connect_ms_cold" if venv_was_fresh else "mcp_connect_ms_warm", connect_ms)
    return Consulted(installed, run, mock, marker, question, venv_was_fresh, snapshot, server_envs)


@pytest.fixture(scope="module")
def record_module_property(request: pytest.FixtureRequest) -> Iterator[Callable[[str, object], None]]:
    """``record_property`` for module fixtures: attached to the module's test reports."""
    properties: list[tuple[str, object]] = []

    def record(name: str, value: object) -> None:
        properties.append((name, value))
        print(f"{name}={value}", file=sys.stderr)

    yield record
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and properties:
        reporter.write_line("claude e2e: " + ", ".join(f"{k}={v}" for k, v in properties))


# --------------------------------------------------------------------------------------------------
# Packaging


@pytest.mark.parametrize("target", [".", ".claude-plugin/plugin.json"])
def test_plugin_validate_strict_passes(
    tmp_path: Path, claude_binary: Path, uv_binary: str, target: str
) -> None:
    sandbox = ClaudeSandbox(tmp_path, claude_binary, uv_binary)
    done = sandbox.run("plugin", "validate", "--strict", "--json", str(REPO / target), timeout=60)
    assert done.returncode == 0, f"validate --strict {target} failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout)
    assert report["success"] is True
    assert report["manifest"]["errors"] == []
    assert report["manifest"]["warnings"] == []
    provides = report["provides"]
    assert [s["name"] for s in provides["mcpServers"]] == ["codex"]
    assert {h["event"] for h in provides["hooks"]} == {
        "SessionStart",
        "PreCompact",
        "SessionEnd",
        "UserPromptSubmit",
        "Stop",
    }


def test_installs_from_the_repository_marketplace(installed: Installed) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    entry = installed.entry
    assert entry["enabled"] is True
    assert entry["version"] == pyproject["project"]["version"]
    assert set(entry["mcpServers"]) == {"codex"}


# --------------------------------------------------------------------------------------------------
# The consult round trip


def test_server_connects_through_mcp_json_and_offers_consult(consulted: Consulted) -> None:
    run = consulted.run
    assert run.returncode == 0, run.describe()
    assert {"name": SERVER_NAME, "status": "connected"}.items() <= next(
        (s for s in run.init["mcp_servers"] if s.get("name") == SERVER_NAME), {}
    ).items(), run.describe()
    first = consulted.mock.message_requests(with_tools=True)[0]
    assert CONSULT in first.tool_names
    assert STATUS in first.tool_names


def test_tool_result_reaching_the_model_is_the_fake_agents_answer_with_footer(consulted: Consulted) -> None:
    run, mock = consulted.run, consulted.mock
    assert mock.errors == [], mock.errors
    [call] = mock.tool_calls
    assert call.name == CONSULT
    result = consulted.result
    assert result.is_error is False, result.content
    # Observed: one text block, the server's text result verbatim; no structured/JSON variant.
    assert [b.get("type") for b in result.blocks] == ["text"], result.content
    text = result.text
    assert f"{consulted.marker} is my answer." in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[-1].startswith(FOOTER_PREFIX), text
    # The model's final answer closed the run.
    assert run.result.get("is_error") is False, run.describe()
    assert run.result.get("result") == "Codex agrees; going ahead."


def test_the_fake_agent_got_the_question_in_the_project_workspace(consulted: Consulted) -> None:
    installed = consulted.installed
    [new] = installed.fake_received("session/new")
    assert os.path.realpath(new["params"]["cwd"]) == os.path.realpath(installed.sandbox.project)
    prompts = installed.fake_received("session/prompt")
    assert any(consulted.marker in json.dumps(p["params"]["prompt"]) for p in prompts)


def test_session_start_hook_wrote_the_record_for_this_session(consulted: Consulted) -> None:
    run = consulted.run
    [started] = run.hook_responses("SessionStart:startup")
    assert started["exit_code"] == 0, started
    assert "codex-fusion hook:" not in started.get("stderr", ""), started
    records = consulted.records_mid_session
    assert "workspace.json" in records, f"no record while the session ran: {records}"
    record = records["workspace.json"]
    assert record["event"] == "startup"
    assert record["session_id"] == run.session_id
    assert os.path.realpath(record["workspace"]) == os.path.realpath(consulted.installed.sandbox.project)
    window = f"pid-{record['claude_pid']}.json"
    assert records.get(window, {}).get("session_id") == run.session_id


def test_session_end_hook_recorded_the_end_of_the_same_session(consulted: Consulted) -> None:
    sandbox = consulted.installed.sandbox
    record = serverside.read_record(
        nonce.record_paths(sandbox.plugin_data / "state", sandbox.project, None).workspace
    )
    assert record is not None
    assert (record.event, record.session_id) == ("end", consulted.run.session_id)


def test_what_reaches_the_server_process(consulted: Consulted) -> None:
    """The server's environment while it ran: Claude Code's plugin variables, the settings ``env`` and
    the virtualenv in the plugin data dir; the repository's lock is untouched (``--frozen``)."""
    if not Path("/proc/self/environ").exists():
        pytest.skip("reads the server's environment from /proc")
    installed = consulted.installed
    sandbox = installed.sandbox
    assert consulted.server_envs, "no running codex-fusion server found while Claude Code waited"
    env = consulted.server_envs[0]
    assert os.path.realpath(env["CLAUDE_PROJECT_DIR"]) == os.path.realpath(sandbox.project)
    assert Path(env["CLAUDE_PLUGIN_DATA"]) == sandbox.plugin_data
    assert Path(env["CLAUDE_PLUGIN_ROOT"]).joinpath(".claude-plugin", "plugin.json").is_file()
    assert env["UV_PROJECT_ENVIRONMENT"] == f"{sandbox.plugin_data}/venv"
    assert env["UV_COMPILE_BYTECODE"] == "1"
    # The session Claude Code started the server in (the reference notes had this unverified).
    assert env["CLAUDE_CODE_SESSION_ID"] == consulted.run.session_id
    assert env["FAKE_ACP_LOG"] == str(installed.fake_log)  # the settings.json `env` reached it
    assert (sandbox.plugin_data / "venv" / "pyvenv.cfg").is_file()
    assert _sha256(REPO / "uv.lock") == installed.lock_hash


def test_status_after_a_warm_restart(
    consulted: Consulted, record_module_property: Callable[[str, object], None]
) -> None:
    """A second Claude Code run reuses the venv in the plugin data dir; `status` reports the project."""
    sandbox = consulted.installed.sandbox
    with MockAnthropic() as mock:
        mock.script(call_tool("status", {}), say("Status read."))
        run = sandbox.ask("Show the Codex status.", base_url=mock.base_url, allowed_tools=[STATUS])
    record_module_property("mcp_connect_ms_warm", run.mcp_connect_ms())
    assert run.returncode == 0, run.describe()
    assert mock.errors == [], mock.errors
    [result] = mock.tool_results()
    assert result.is_error is False
    assert os.path.realpath(sandbox.project) in result.text, result.text


# --------------------------------------------------------------------------------------------------
# Claude Code's own behaviour that ADR 0007 relies on


def test_structured_content_replaces_the_text(tmp_path: Path, claude_binary: Path, uv_binary: str) -> None:
    """A result with ``structuredContent`` reaches the model as that JSON alone, its text dropped; a
    text-only result reaches it as its text block."""
    sandbox = ClaudeSandbox(tmp_path, claude_binary, uv_binary)
    server = tmp_path / "probe_server.py"
    server.write_text(PROBE_SERVER)
    config = tmp_path / "probe.mcp.json"
    config.write_text(
        json.dumps({"mcpServers": {"probe": {"command": sys.executable, "args": [str(server)]}}})
    )
    with MockAnthropic() as mock:
        mock.script(call_tool("both", {"tag": "a1"}), call_tool("text_only", {"tag": "b2"}), say("done"))
        run = sandbox.ask(
            "Call the probe tools.",
            base_url=mock.base_url,
            allowed_tools=["mcp__probe__both", "mcp__probe__text_only"],
            extra_args=["--mcp-config", str(config)],
        )
    assert run.returncode == 0, run.describe()
    assert mock.errors == [], mock.errors
    both, text_only = mock.tool_results()
    assert isinstance(both.content, str)
    assert json.loads(both.content) == {"verdict": "open", "summary": "STRUCT-a1"}
    assert "TEXT-a1" not in both.content
    assert text_only.content == [{"type": "text", "text": "TEXT-b2"}]
