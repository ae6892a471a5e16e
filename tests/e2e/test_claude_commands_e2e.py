# ruff: noqa: F811  (the fixtures imported from test_claude_e2e are parameters here, by name)
"""The plugin's slash commands, skills and debate subagent in the real Claude Code CLI, headless and offline.

Same sandbox as ``test_claude_e2e.py`` (its ``installed`` fixture: the plugin from this repository's
marketplace, the server consulting the scripted fake ACP agent): here the scripted model answers the
*commands'* prompts, reads the skill listing, and drives the ``codex-fusion:codex-debater`` subagent.
A subagent's turns get their own mock queue (``MockAnthropic.script_for``), picked by its system prompt.

Long consults use ``@fake sleep LONG_S`` with ``CLAUDE_AUTO_BACKGROUND_TASKS=1`` and a 1 s
``CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS``, so the mechanism shows in seconds. ``CODEX_FUSION_E2E_LONG_S=150``
replays them past Claude Code's default two minutes; what was seen is in docs/claude-code-behaviour.md.
Times are recorded as test properties, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bench import context_cost
from claude_cli import REPO, TOOL_PREFIX, ClaudeRun, ClaudeSandbox
from mock_anthropic import MockAnthropic, RecordedRequest, ToolResult, call_tool, say, system_contains
from test_claude_e2e import (  # noqa: F401  (fixtures, used by name)
    Installed,
    claude_binary,
    installed,
    record_module_property,
    uv_binary,
)

from codex_fusion.mcp.server import TOOLS

CONSULT = TOOL_PREFIX + "consult"
REVIEW_DIFF = TOOL_PREFIX + "review_diff"
DEBATER = "codex-fusion:codex-debater"
#: The first words of the debater's body, which is its system prompt: how the mock tells its turns apart.
DEBATER_MARK = "You run one consultation with Codex"
CODEX_TOOLS = {TOOL_PREFIX + spec.name for spec in TOOLS}
#: Commands that only show or change codex-fusion's state: the user's to run, never the model's.
USER_ONLY = {"codex-status", "codex-reset", "codex-setup"}
LONG_S = float(os.environ.get("CODEX_FUSION_E2E_LONG_S", "4"))
AUTO_BACKGROUND = {"CLAUDE_AUTO_BACKGROUND_TASKS": "1", "CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS": "1000"}
FINAL = "FINAL-ANSWER"


def _body(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("\n---\n", 1)[1]


def _allowed(fields: dict[str, str]) -> list[str]:
    return [tool.strip() for tool in fields.get("allowed-tools", "").split(",") if tool.strip()]


def _main(request: RecordedRequest) -> bool:
    return DEBATER_MARK not in request.system_text


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict))


def _texts(requests: list[RecordedRequest]) -> str:
    return "\n".join(r.all_text() for r in requests)


def _fake_answer(marker: str, sleep: float = 0) -> str:
    """``@fake`` lines making the fake agent answer with ``marker`` and a consensus verdict."""
    lines = [f"@fake sleep {sleep:g}"] if sleep else []
    lines.append(f"@fake say {marker} is my answer.\\nVERDICT: CONSENSUS — {marker} holds")
    return "\n".join(lines)


def _result_for(mock: MockAnthropic, tool_name: str) -> ToolResult:
    [call] = [c for c in mock.tool_calls if c.name == tool_name]
    [result] = [r for r in mock.tool_results() if r.tool_use_id == call.tool_use_id]
    return result


# --------------------------------------------------------------------------------------------------
# The files (no CLI needed)


def test_commands_and_skills_name_and_preapprove_exact_tools() -> None:
    """Every MCP tool a command or skill pre-approves exists under its full name and is named in the
    body; the state-only commands are user-only."""
    files = sorted((REPO / "commands").glob("*.md")) + sorted((REPO / "skills").glob("*/SKILL.md"))
    assert {p.stem for p in files if p.parent.name == "commands"} >= {
        "second-opinion",
        "review-diff",
        "review-plan",
        "brainstorm",
        "explore",
        *USER_ONLY,
    }
    for path in files:
        fields = context_cost.front_matter(path)
        assert fields.get("description"), f"{path}: no description"
        mcp_tools = [t for t in _allowed(fields) if t.startswith("mcp__")]
        assert set(mcp_tools) <= CODEX_TOOLS, f"{path}: unknown tools {set(mcp_tools) - CODEX_TOOLS}"
        body = _body(path)
        for tool in mcp_tools:
            assert tool in body, f"{path}: pre-approves {tool} but does not name it"
        user_only = fields.get("disable-model-invocation") == "true"
        assert user_only == (path.stem in USER_ONLY), f"{path}: disable-model-invocation is {user_only}"
    agent = context_cost.front_matter(REPO / "agents" / "codex-debater.md")
    assert _body(REPO / "agents" / "codex-debater.md").lstrip().startswith(DEBATER_MARK)
    assert agent["name"] == DEBATER.split(":")[1]


def test_validate_strict_passes_with_commands_skills_and_agent(
    tmp_path: Path, claude_binary: Path, uv_binary: str
) -> None:
    sandbox = ClaudeSandbox(tmp_path, claude_binary, uv_binary)
    done = sandbox.run("plugin", "validate", "--strict", "--json", str(REPO), timeout=60)
    assert done.returncode == 0, f"validate --strict failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout)
    assert report["success"] is True
    # Front matter that does not parse is reported per file here (and loads with no metadata at all).
    assert [c for c in report["contents"] if c["errors"] or c["warnings"]] == []
    provides = report["provides"]
    assert set(provides["commands"]) == {f"codex-fusion:{p.stem}" for p in (REPO / "commands").glob("*.md")}
    assert set(provides["skills"]) == {
        f"codex-fusion:{p.parent.name}" for p in (REPO / "skills").glob("*/SKILL.md")
    }
    assert provides["agents"] == [DEBATER]


# --------------------------------------------------------------------------------------------------
# /codex-fusion:second-opinion, headless, under --permission-mode dontAsk


@dataclass
class Commanded:
    run: ClaudeRun
    mock: MockAnthropic
    marker: str
    question: str

    @property
    def first(self) -> RecordedRequest:
        return self.mock.message_requests(with_tools=True)[0]


QUESTION = "Should the two CLI writers share one per-workspace file lock?"


@pytest.fixture(scope="module")
def second_opinion(installed: Installed) -> Commanded:
    marker = f"OPINION-{uuid.uuid4().hex[:8]}"
    with MockAnthropic() as mock:
        mock.script(
            call_tool(
                "consult", {"question": f"{QUESTION}\n{_fake_answer(marker)}", "context": "Two writers."}
            ),
            say("Codex and I agree."),
        )
        # No --allowedTools: only the command's `allowed-tools` can approve the call.
        run = installed.sandbox.ask(
            f"/codex-fusion:second-opinion {QUESTION}",
            base_url=mock.base_url,
            extra_args=["--permission-mode", "dontAsk"],
        )
    return Commanded(run, mock, marker, QUESTION)


def test_second_opinion_expands_into_a_prompt_naming_consult(second_opinion: Commanded) -> None:
    run = second_opinion.run
    assert run.returncode == 0, run.describe()
    text = _message_text(second_opinion.first.messages[0])  # the command's expanded prompt
    assert "<command-name>/codex-fusion:second-opinion</command-name>" in text
    assert f"Question from the user: {QUESTION}" in text  # $ARGUMENTS substituted
    assert CONSULT in text


def test_second_opinion_consult_is_approved_by_the_commands_allowed_tools(second_opinion: Commanded) -> None:
    run, mock = second_opinion.run, second_opinion.mock
    assert mock.errors == [], mock.errors
    result = _result_for(mock, CONSULT)
    assert result.is_error is False, result.text
    assert f"{second_opinion.marker} is my answer." in result.text
    assert result.text.rstrip().splitlines()[-1].startswith("— codex · round 1/3 · verdict: consensus")
    assert run.result.get("permission_denials") == [], run.result
    assert run.result.get("result") == "Codex and I agree."


PERMIT = TOOL_PREFIX + "permit"


def _paused_second_opinion(
    installed: Installed, permissions: dict[str, list[str]] | None = None
) -> Commanded:
    """``/codex-fusion:second-opinion`` under dontAsk whose Codex asks to run a command; the scripted
    model answers the pause with ``permit`` allow, as the command tells Claude to. ``permissions`` are
    the user's own rules in ``~/.claude/settings.json`` for this run."""
    marker = f"PERMITTED-{uuid.uuid4().hex[:8]}"
    target = f"{marker}.txt"
    question = f"{QUESTION}\n@fake permit execute rust touch {target}\n@fake say {marker} after the run."
    sandbox = installed.sandbox
    before = json.loads(sandbox.settings_path.read_text())
    if permissions is not None:
        sandbox.update_settings(permissions=permissions)
    try:
        with MockAnthropic() as mock:
            mock.script(
                call_tool("consult", {"question": question}),
                call_tool("permit", {"decision": "allow", "request": "r1"}),
                say("Codex ran it and answered."),
            )
            run = sandbox.ask(
                f"/codex-fusion:second-opinion {QUESTION}",
                base_url=mock.base_url,
                extra_args=["--permission-mode", "dontAsk"],
            )
    finally:
        sandbox.settings_path.write_text(json.dumps(before, indent=2) + "\n")
    return Commanded(run, mock, marker, question)


def test_second_opinion_lets_claude_answer_a_pause_under_dont_ask(installed: Installed) -> None:
    """The design is that Claude decides: the command pre-approves ``permit``, so in ``-p`` under
    dontAsk a pause is answered and the same turn resumes (without it the pause could not be
    answered at all, and interactively every decision would prompt the person)."""
    done = _paused_second_opinion(installed)
    run, mock = done.run, done.mock
    assert run.returncode == 0, run.describe()
    assert mock.errors == [], mock.errors
    paused = _result_for(mock, CONSULT)
    assert paused.text.startswith("⏸ Codex is paused"), paused.text
    resumed = _result_for(mock, PERMIT)
    assert resumed.is_error is False, resumed.text
    assert f"[ran touch {done.marker}.txt] {done.marker} after the run." in resumed.text
    assert (installed.sandbox.project / f"{done.marker}.txt").exists()
    assert run.result.get("permission_denials") == [], run.result


@pytest.mark.parametrize("rule", ["deny", "ask"])
def test_a_users_own_rule_takes_permit_back_from_the_command(installed: Installed, rule: str) -> None:
    """README: a person who wants to decide puts ``permit`` under ``permissions.deny`` (never) or
    ``ask`` (prompt each time) in their settings; either wins over the command's ``allowed-tools``.
    A denied tool is not even offered to Claude; under dontAsk an ``ask`` is a denial (the command's
    approval did not count)."""
    done = _paused_second_opinion(installed, {rule: [PERMIT]})
    run, mock = done.run, done.mock
    assert run.returncode == 0, run.describe()
    assert _result_for(mock, CONSULT).text.startswith("⏸ Codex is paused")
    assert not (installed.sandbox.project / f"{done.marker}.txt").exists()
    offered = set(mock.message_requests(with_tools=True)[0].tool_names)
    if rule == "deny":
        assert CONSULT in offered
        assert PERMIT not in offered
        assert not [c for c in mock.tool_calls if c.name == PERMIT]
        return
    assert PERMIT in offered
    refused = _result_for(mock, PERMIT)
    assert refused.is_error is True, refused.text
    assert "denied" in refused.text, refused.text
    assert [d.get("tool_name") for d in run.result.get("permission_denials", [])] == [PERMIT], run.result


def test_without_the_command_dont_ask_denies_consult(installed: Installed) -> None:
    """The control: the same call from a plain prompt is denied, and Codex never hears of it."""
    marker = f"DENIED-{uuid.uuid4().hex[:8]}"
    with MockAnthropic() as mock:
        mock.script(call_tool("consult", {"question": _fake_answer(marker)}), say("denied, fine"))
        run = installed.sandbox.ask(
            "Ask Codex.", base_url=mock.base_url, extra_args=["--permission-mode", "dontAsk"]
        )
    assert run.returncode == 0, run.describe()
    result = _result_for(mock, CONSULT)
    assert result.is_error is True
    assert "denied" in result.text
    assert not any(marker in json.dumps(p) for p in installed.fake_received("session/prompt"))


def _setup_output(installed: Installed) -> tuple[ClaudeRun, str]:
    """Run ``/codex-fusion:codex-setup`` headless under dontAsk; the doctor's report as the model got it."""
    with MockAnthropic() as mock:
        mock.script(say("Setup shown."))
        run = installed.sandbox.ask(
            "/codex-fusion:codex-setup", base_url=mock.base_url, extra_args=["--permission-mode", "dontAsk"]
        )
    assert run.returncode == 0, run.describe()
    assert run.result.get("result") == "Setup shown.", run.result  # not a permission failure
    prompt = _message_text(mock.message_requests(with_tools=True)[0].messages[0])
    _, found, rest = prompt.partition("(each line ✓, ! or ✗ with its fix):")
    assert found, prompt
    output, _, _ = rest.partition("Show the user the ✗ and ! lines")
    assert "bin/codex-fusion" not in output, output  # the command itself is gone …
    return run, output


def test_codex_setup_runs_doctor_in_its_preamble_under_dont_ask(installed: Installed) -> None:
    """The command's shell preamble (the plugin's ``bin/codex-fusion doctor``) is approved by its
    ``allowed-tools``; its report replaces the ``!`` line, and it looked where the server looks: the
    plugin's data directory (Claude Code does not export CLAUDE_PLUGIN_DATA to that shell), where the
    SessionStart hook has just written this workspace's record."""
    _, output = _setup_output(installed)
    state = installed.sandbox.plugin_data / "state"
    assert "✓ python:" in output  # … and the doctor's report is there
    assert "✓ agent answers: fake-acp 9.9.9" in output
    assert f"✓ data directory: {state} (private, 0700)" in output, output
    assert "✓ hooks: last record: startup" in output, output
    assert "✓ Claude Code: plugin:codex-fusion:codex is not blocked" in output, output
    assert (installed.sandbox.plugin_data / "venv").is_dir()  # the server's venv, not a second one


def test_the_plugins_cli_from_a_terminal_sees_what_the_server_sees(installed: Installed) -> None:
    """``bin/codex-fusion`` of the installed copy, run from a terminal (no CLAUDE_PLUGIN_* variables):
    the data directory it checks, and ``setup`` installs into, is the one Claude Code gave the plugin;
    and a "needs authentication" entry Claude Code left for the server is found, with its fix.
    (Headless 2.1.329 clears such an entry when it starts the server, so a ``/codex-fusion:codex-setup``
    run never sees one: see docs/claude-code-behaviour.md.)"""
    sandbox = installed.sandbox
    listed = json.loads(sandbox.check("plugin", "list", "--json"))
    [entry] = [p for p in listed if p.get("id") == "codex-fusion@codex-fusion"]
    cli = Path(entry["installPath"]) / "bin" / "codex-fusion"
    # The terminal has what the sandboxed user's settings give Claude Code (the fake agent), no more.
    env = sandbox.env(json.loads(sandbox.settings_path.read_text())["env"])
    assert not {"CLAUDE_PLUGIN_DATA", "CLAUDE_PLUGIN_ROOT", "CLAUDE_PROJECT_DIR"} & set(env)
    cache = sandbox.home / ".claude" / "mcp-needs-auth-cache.json"

    def doctor() -> str:
        done = subprocess.run(
            [str(cli), "doctor"], env=env, cwd=sandbox.project, capture_output=True, text=True, timeout=300
        )
        return done.stdout + done.stderr

    clean = doctor()
    cache.write_text(json.dumps({"plugin:codex-fusion:codex": {"timestamp": int(time.time() * 1000)}}))
    try:
        blocked = doctor()
    finally:
        cache.unlink(missing_ok=True)
    assert f"✓ data directory: {sandbox.plugin_data / 'state'} (private, 0700)" in clean, clean
    assert "✓ hooks: last record:" in clean, clean
    assert "All checks passed." in clean, clean
    assert f"✗ Claude Code: {cache} lists plugin:codex-fusion:codex as needing authentication" in blocked
    assert f"fix: delete it (`rm {cache}`), then restart Claude Code" in blocked
    assert "All checks passed." not in blocked


# --------------------------------------------------------------------------------------------------
# What is always in the model's context


def test_listing_shows_model_invocable_commands_skills_and_the_agent(second_opinion: Commanded) -> None:
    """Each listing line the context-cost script counts is in the request verbatim; user-only
    commands are not listed at all."""
    seen = second_opinion.first.all_text()
    items = context_cost.markdown_items(REPO)
    assert {i.part for i in items} == {"commands", "skills", "agents"}
    for item in items:
        if item.listed:
            assert item.text.rstrip("\n") in seen, f"not in the model's context: {item.text!r}"
        else:
            assert f"- codex-fusion:{item.name}:" not in seen, f"user-only but listed: {item.name}"
    assert {i.name for i in items if not i.listed} == USER_ONLY


def test_context_cost_counts_what_claude_code_sends(second_opinion: Commanded) -> None:
    """The tools and instructions the script measures are exactly those in the request."""
    request = second_opinion.first
    sent = {t["name"]: t for t in request.tools if t.get("name", "").startswith(TOOL_PREFIX)}
    measured = {(item.part, item.name): item for item in context_cost.measure(REPO)}
    assert set(sent) == {TOOL_PREFIX + spec.name for spec in TOOLS}
    for name, tool in sent.items():
        mine = json.loads(measured["tools", name.removeprefix(TOOL_PREFIX)].loaded)
        assert {k: tool[k] for k in ("name", "description", "input_schema")} == mine
    assert measured["instructions", "server instructions"].text in request.all_text()


def test_by_default_the_tools_are_deferred_names_only(installed: Installed) -> None:
    """With tool search on (Claude Code's default) no schema of ours is sent: the model sees one line
    per tool in the deferred-tools list, which is what the context-cost script counts as always on."""
    with MockAnthropic() as mock:
        mock.script(say("ok"))
        run = installed.sandbox.ask("hello", base_url=mock.base_url, extra_env={"ENABLE_TOOL_SEARCH": ""})
        assert run.returncode == 0, run.stderr
        first = mock.message_requests(with_tools=True)[0]
    assert not [t for t in first.tools if t.get("name", "").startswith(TOOL_PREFIX)]
    seen = first.all_text()
    assert "deferred tools" in seen
    for item in context_cost.measure(REPO):
        if item.part == "tools":
            assert "\n" + item.text in seen, f"not in the deferred list: {item.text!r}"


# --------------------------------------------------------------------------------------------------
# The debate subagent


@dataclass
class Session:
    """A stream-json session kept open until the main conversation answered with ``FINAL``."""

    run: ClaudeRun
    mock: MockAnthropic
    #: What Codex answered (the fake agent's marker).
    answer: str
    #: (seconds since the prompt was sent, request) for every ``/v1/messages`` request.
    stamps: list[tuple[float, RecordedRequest]] = field(default_factory=list)

    def main_requests(self) -> list[RecordedRequest]:
        return [r for r in self.mock.message_requests(with_tools=True) if _main(r)]

    def sub_requests(self) -> list[RecordedRequest]:
        return [r for r in self.mock.message_requests(with_tools=True) if not _main(r)]

    def first_with(self, text: str, *, main: bool = True) -> float | None:
        for at, request in self.stamps:
            if request.tools and _main(request) == main and text in request.all_text():
                return at
        return None


def _converse(
    sandbox: ClaudeSandbox, mock: MockAnthropic, prompt: str, marker: str, answer: str, **kwargs: Any
) -> Session:
    """Run ``prompt`` and keep the session open until the main conversation has been answered
    ``FINAL``: scripted for the first main request that carries ``marker``."""
    mock.script_for(lambda r: _main(r) and marker in r.all_text(), say(FINAL))
    stamps: list[tuple[float, RecordedRequest]] = []
    started = time.monotonic()
    mock.on_request = lambda r: stamps.append((time.monotonic() - started, r))
    run = sandbox.converse(
        prompt,
        base_url=mock.base_url,
        until=lambda events: any(e.get("type") == "result" and e.get("result") == FINAL for e in events),
        timeout=LONG_S + 180,
        **kwargs,
    )
    return Session(run, mock, answer, stamps)


@pytest.fixture(scope="module")
def debated(installed: Installed, record_module_property: Callable[[str, object], None]) -> Session:
    """The main conversation hands a brief to the debater; the debater's consult takes LONG_S."""
    codex_marker = f"CODEX-{uuid.uuid4().hex[:8]}"
    conclusion = f"CONCLUSION-{uuid.uuid4().hex[:8]}"
    brief = f"Decide: {QUESTION} The writers are two CLI processes on one machine."
    with MockAnthropic() as mock:
        mock.script_for(
            system_contains(DEBATER_MARK),
            call_tool("consult", {"question": f"{QUESTION}\n{_fake_answer(codex_marker, LONG_S)}"}),
            say(
                f"Conclusion: {conclusion} one lock is enough.\nVerdict: consensus (round 1/3)\nOpen points: none"
            ),
        )
        mock.script(
            call_tool(
                "Agent",
                {
                    "subagent_type": DEBATER,
                    "description": "Debate the lock design",
                    "prompt": brief,
                    "run_in_background": False,
                },
            ),
            say("The debater is still working."),  # only if Claude Code moves the agent itself
        )
        session = _converse(
            installed.sandbox,
            mock,
            "Have the Codex debater settle the locking design.",
            conclusion,
            codex_marker,
            allowed_tools=[CONSULT],  # the user's permission rule; an agent's `tools` approves nothing
            extra_env=AUTO_BACKGROUND,
            extra_args=["--permission-mode", "dontAsk"],
        )
    called = next(at for at, r in session.stamps if r.tools and _main(r))
    arrived = session.first_with(conclusion)
    record_module_property("subagent_conclusion_after_s", arrived and round(arrived - called, 1))
    # Observed: a foreground agent still running after 120 s is itself moved to the background.
    moved_agent = "Async agent launched" in _texts(session.main_requests())
    record_module_property("subagent_itself_moved_to_background", moved_agent)
    return session


def test_debater_runs_with_the_codex_tools_only(debated: Session) -> None:
    run = debated.run
    assert run.returncode == 0, run.describe()
    assert debated.mock.errors == [], debated.mock.errors
    subs = debated.sub_requests()
    assert subs, "the debater never called the model"
    offered = set(subs[0].tool_names)
    assert CONSULT in offered
    assert TOOL_PREFIX + "permit" in offered
    assert TOOL_PREFIX + "reset" not in offered  # disallowedTools
    assert {"Bash", "Edit", "Write", "Agent"}.isdisjoint(offered)
    assert _message_text(subs[0].messages[0]).startswith("Decide:")  # the brief, nothing else


def test_debaters_long_consult_is_not_moved_to_the_background(debated: Session) -> None:
    """With a 1 s auto-background threshold, the subagent still gets Codex's answer as its tool result."""
    result = _result_for(debated.mock, CONSULT)
    assert result.is_error is False, result.text
    assert f"{debated.answer} is my answer." in result.text
    assert "moved to the background" not in result.text
    assert "verdict: consensus" in result.text.splitlines()[-1]


def test_only_the_debaters_conclusion_reaches_the_main_conversation(debated: Session) -> None:
    main = _texts(debated.main_requests())
    assert "Conclusion: CONCLUSION-" in main
    assert debated.answer not in main  # Codex's own answer stayed in the subagent's context
    assert debated.run.result.get("result") == FINAL


# --------------------------------------------------------------------------------------------------
# A long consult in the main conversation (observation: docs/claude-code-behaviour.md)


@pytest.fixture(scope="module")
def moved(installed: Installed, record_module_property: Callable[[str, object], None]) -> Session:
    marker = f"LATE-{uuid.uuid4().hex[:8]}"
    with MockAnthropic() as mock:
        mock.script(
            call_tool("consult", {"question": f"{QUESTION}\n{_fake_answer(marker, LONG_S)}"}),
            say("Codex is still thinking; I will read its answer when it arrives."),
        )
        session = _converse(
            installed.sandbox,
            mock,
            "Get a second opinion from Codex on the lock.",
            marker,
            marker,
            allowed_tools=[CONSULT],
            extra_env=AUTO_BACKGROUND,
        )
    called = next(at for at, r in session.stamps if r.tools and _main(r))
    moved_at = session.first_with("moved to the background as task")
    arrived_at = session.first_with(f"{marker} is my answer.")
    record_module_property("main_consult_moved_after_s", moved_at and round(moved_at - called, 1))
    record_module_property("main_consult_result_after_s", arrived_at and round(arrived_at - called, 1))
    return session


def test_a_long_main_conversation_consult_moves_to_the_background(moved: Session) -> None:
    run = moved.run
    assert run.returncode == 0, run.describe()
    result = _result_for(moved.mock, CONSULT)
    assert result.is_error is False
    assert result.text.startswith('MCP tool "plugin:codex-fusion:codex/consult" is still running after')
    assert "moved to the background as task" in result.text
    assert moved.answer not in result.text


def test_its_answer_arrives_later_as_a_task_notification(moved: Session) -> None:
    late = [r for r in moved.main_requests() if f"{moved.answer} is my answer." in r.all_text()]
    assert late, "the backgrounded consult's answer never reached the model"
    text = late[0].all_text()
    assert "<task-notification>" in text
    assert "<status>completed</status>" in text
    assert "— codex · round 1/3 · verdict: consensus" in text  # the whole result, footer included
    assert moved.run.result.get("result") == FINAL


# --------------------------------------------------------------------------------------------------
# /codex-fusion:review-diff runs forked into the debater


def _git(project: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(project),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
    }
    subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)


def test_review_diff_forks_into_the_debater_with_its_allowed_tools(installed: Installed) -> None:
    """``context: fork`` + ``agent``: the command body is the debater's whole task, its
    ``allowed-tools`` approve review_diff under dontAsk, and the debater's report is the answer."""
    project = installed.sandbox.project
    (project / "lock.py").write_text("LOCK = None\n")
    _git(project, "init", "-q")
    _git(project, "add", "lock.py")
    _git(project, "commit", "-q", "-m", "initial")
    (project / "lock.py").write_text("LOCK = 'workspace.lock'\n")
    marker = f"REVIEW-{uuid.uuid4().hex[:8]}"
    with MockAnthropic() as mock:
        mock.script_for(
            system_contains(DEBATER_MARK),
            # The focus block puts the directive at the start of a line of the prompt.
            call_tool("review_diff", {"focus": _fake_answer(marker)}),
            say(f"Accepted: none. Verdict: consensus (round 1/3). {marker}"),
        )
        mock.script(say("(the main conversation was not needed)"))
        run = installed.sandbox.ask(
            "/codex-fusion:review-diff lock naming",
            base_url=mock.base_url,
            extra_args=["--permission-mode", "dontAsk"],
        )
    assert run.returncode == 0, run.describe()
    assert mock.errors == [], mock.errors
    [forked] = [r for r in mock.message_requests(with_tools=True) if not _main(r)][:1]
    task_text = _message_text(forked.messages[0])
    assert "Arguments: lock naming" in task_text  # the command body, with $ARGUMENTS and $0
    assert '`{"base": "lock"}`' in task_text
    result = _result_for(mock, REVIEW_DIFF)
    assert result.is_error is False, result.text
    assert f"{marker} is my answer." in result.text  # what the model receives: the answer, …
    footer = result.text.splitlines()[-1]  # … and the footer with the round and the parsed verdict
    assert footer.startswith(f"— codex · round 1/3 · verdict: consensus — {marker} holds · "), footer
    assert run.result.get("permission_denials") == [], run.result
    assert run.result.get("result") == f"Accepted: none. Verdict: consensus (round 1/3). {marker}"
    prompts = installed.fake_received("session/prompt")
    assert any("lock.py" in json.dumps(p) and marker in json.dumps(p) for p in prompts)
