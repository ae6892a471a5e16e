# ruff: noqa: F811  (the fixtures imported from test_claude_e2e are parameters here, by name)
"""``/codex-fusion:delegate`` in the real Claude Code CLI through to ``task`` accept, headless and offline.

The plugin is installed from this repository's marketplace in a sandboxed HOME; its server runs the
real TypeScript codex-acp (the task needs codex-fusion's write profile, which only codex-acp takes)
against the mock OpenAI model, which makes Codex edit a file with ``apply_patch``. The mock Anthropic
model drives the command: ``delegate``, then ``task`` accept. Only the command's ``allowed-tools``
approve the calls (``--permission-mode dontAsk``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from claude_cli import TOOL_PREFIX, ClaudeSandbox
from e2e_adapters import Adapter, write_codex_config
from mock_anthropic import MockAnthropic, call_tool, say
from mock_openai import MockResponses, apply_patch, then
from mock_openai import say as model_say
from test_claude_e2e import claude_binary, uv_binary  # noqa: F401  (fixtures, used by name)

DELEGATE = TOOL_PREFIX + "delegate"
FINAL = "FINAL-ANSWER"
LONG_S = float(os.environ.get("CODEX_FUSION_E2E_LONG_S", "4"))
TASK = TOOL_PREFIX + "task"
CHANGE = "Make greet() say hello, world"
PATCH = """*** Begin Patch
*** Update File: greet.py
@@
 def greet():
-    return "hi"
+    return "hello, world"
*** End Patch
"""


@dataclass
class Delegating:
    sandbox: ClaudeSandbox
    model: MockResponses


GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip


@pytest.fixture(scope="module")
def delegating(
    tmp_path_factory: pytest.TempPathFactory, claude_binary: Path, uv_binary: str, ts_adapter: Adapter
) -> Iterator[Delegating]:
    """A sandboxed user with the plugin installed, its server running the real TypeScript codex-acp
    against one mock OpenAI model for the module; a git project."""
    root = tmp_path_factory.mktemp("claude-delegate")
    sandbox = ClaudeSandbox(root, claude_binary, uv_binary)
    with MockResponses() as model:
        codex_home = root / "codex_home"
        write_codex_config(codex_home, model.base_url)
        sandbox.update_settings(
            env={
                "CODEX_FUSION_ACP_COMMAND": shlex.join(ts_adapter.argv),
                "CODEX_HOME": str(codex_home),
                "CODEX_FUSION_STARTUP_TIMEOUT_MS": "60000",
            }
        )
        sandbox.install_plugin()
        yield Delegating(sandbox, model)


def _project(sandbox: ClaudeSandbox) -> Path:
    project = sandbox.project
    subprocess.run(["rm", "-rf", ".git"], cwd=project, check=True)
    shutil.rmtree(sandbox.plugin_data / "state" / "tasks", ignore_errors=True)  # each test's task is t1
    (project / "greet.py").write_text('def greet():\n    return "hi"\n')
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=project, env=GIT_ENV, check=True, capture_output=True)
    return project


REPORT = (
    "SUMMARY: greet says hello, world\nTESTS: not run (none)\nCRITERIA: 1 met — greet.py\nFILES: greet.py"
)
BRIEF = {"task": CHANGE + " in greet.py.", "paths": ["greet.py"], "criteria": ["greet() returns it"]}


def test_delegate_command_through_to_accept(delegating: Delegating) -> None:
    sandbox, model = delegating.sandbox, delegating.model
    project = _project(sandbox)
    model.script([apply_patch(PATCH), model_say(REPORT)])
    with MockAnthropic() as claude:
        claude.script(
            call_tool("delegate", BRIEF),
            call_tool("task", {"id": "t1", "action": "accept"}),
            say("Applied Codex's patch."),
        )
        run = sandbox.ask(
            f"/codex-fusion:delegate {CHANGE}",
            base_url=claude.base_url,
            extra_args=["--permission-mode", "dontAsk"],
        )
    assert run.returncode == 0, run.describe()
    assert claude.errors == [], claude.errors
    first = claude.message_requests(with_tools=True)[0]
    assert "<command-name>/codex-fusion:delegate</command-name>" in first.all_text()
    results = {r.tool_use_id: r for r in claude.tool_results()}
    calls = {c.name: c for c in claude.tool_calls}
    review = results[calls[DELEGATE].tool_use_id]
    assert review.is_error is False, review.text
    assert review.text.startswith("Task t1 · review · Codex · 1 file +1 −1"), review.text
    assert '+    return "hello, world"' in review.text
    accepted = results[calls[TASK].tool_use_id]
    assert accepted.text.startswith("Task t1 · accepted · 1 file(s) written"), accepted.text
    assert run.result.get("permission_denials") == [], run.result
    assert (project / "greet.py").read_text() == 'def greet():\n    return "hello, world"\n'
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, env=GIT_ENV, capture_output=True, text=True
    )
    assert status.stdout == " M greet.py\n"  # applied, not staged, not committed


def test_a_long_task_comes_back_as_a_task_notification(delegating: Delegating) -> None:
    """``delegate`` returns at once (``wait_s`` 0); ``task`` show with a long ``wait_s`` is moved to
    the background by Claude Code (a 1 s threshold here) and its review arrives as a notification."""
    sandbox, model = delegating.sandbox, delegating.model
    _project(sandbox)
    model.script([then(model_say("Working on it.", delay=LONG_S), apply_patch(PATCH)), model_say(REPORT)])
    with MockAnthropic() as claude:
        claude.script(
            call_tool("delegate", {**BRIEF, "wait_s": 0}),
            call_tool("task", {"id": "t1", "action": "show", "wait_s": 300}),
            say("The task runs in the background; I will review it when it is done."),
        )
        claude.script_for(lambda r: "Task t1 · review" in r.all_text(), say(FINAL))
        run = sandbox.converse(
            f"/codex-fusion:delegate {CHANGE}",
            base_url=claude.base_url,
            until=lambda events: any(e.get("type") == "result" and e.get("result") == FINAL for e in events),
            extra_env={"CLAUDE_AUTO_BACKGROUND_TASKS": "1", "CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS": "1000"},
            extra_args=["--permission-mode", "dontAsk"],
            timeout=LONG_S + 180,
        )
    assert run.returncode == 0, run.describe()
    results = {r.tool_use_id: r for r in claude.tool_results()}
    calls = {c.name: c for c in claude.tool_calls}
    assert results[calls[DELEGATE].tool_use_id].text.startswith("Task t1 · running · Codex")
    shown = results[calls[TASK].tool_use_id]
    assert "moved to the background as task" in shown.text, shown.text
    late = [r for r in claude.message_requests(with_tools=True) if "Task t1 · review" in r.all_text()]
    assert late, "the task's review never reached the model"
    assert "<task-notification>" in late[0].all_text()
    assert '+    return "hello, world"' in late[0].all_text()
    assert run.result.get("result") == FINAL
