# ruff: noqa: F811  (the fixtures imported from test_claude_e2e are parameters here, by name)
"""``/codex-fusion:delegate`` in the real Claude Code CLI through to ``task`` accept, headless and offline.

The plugin is installed from this repository's marketplace in a sandboxed HOME; its server runs the
real TypeScript codex-acp (the task needs codex-fusion's write profile, which only codex-acp takes)
against the mock OpenAI model, which makes Codex edit a file with ``apply_patch``. The mock Anthropic
model drives the command: ``delegate``, then ``task`` accept. Only the command's ``allowed-tools``
approve the calls (``--permission-mode dontAsk``).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from claude_cli import TOOL_PREFIX, ClaudeSandbox
from e2e_adapters import Adapter, find_adapters, unavailable, write_codex_config
from mock_anthropic import MockAnthropic, call_tool, say
from mock_openai import MockResponses, apply_patch
from mock_openai import say as model_say
from test_claude_e2e import claude_binary, uv_binary  # noqa: F401  (fixtures, used by name)

DELEGATE = TOOL_PREFIX + "delegate"
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


@pytest.fixture(scope="module")
def ts_adapter() -> Adapter:
    found = find_adapters()["ts"]
    if isinstance(found, str):
        unavailable(f"ts adapter: {found}")
    assert isinstance(found, Adapter)
    return found


def test_delegate_command_through_to_accept(
    tmp_path: Path, claude_binary: Path, uv_binary: str, ts_adapter: Adapter
) -> None:
    sandbox = ClaudeSandbox(tmp_path, claude_binary, uv_binary)
    project = sandbox.project
    (project / "greet.py").write_text('def greet():\n    return "hi"\n')
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)
    with MockResponses() as model, MockAnthropic() as claude:
        codex_home = tmp_path / "codex_home"
        write_codex_config(codex_home, model.base_url)
        sandbox.update_settings(
            env={
                "CODEX_FUSION_ACP_COMMAND": shlex.join(ts_adapter.argv),
                "CODEX_HOME": str(codex_home),
                "CODEX_FUSION_STARTUP_TIMEOUT_MS": "60000",
            }
        )
        sandbox.install_plugin()
        model.script(
            [
                apply_patch(PATCH),
                model_say(
                    "SUMMARY: greet says hello, world\nTESTS: not run (none)\nCRITERIA: 1 met — greet.py\n"
                    "FILES: greet.py"
                ),
            ]
        )
        claude.script(
            call_tool(
                "delegate",
                {"task": CHANGE + " in greet.py.", "paths": ["greet.py"], "criteria": ["greet() returns it"]},
            ),
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
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, env=env, capture_output=True, text=True)
    assert status.stdout == " M greet.py\n"  # applied, not staged, not committed
