# ruff: noqa: F811  (the fixtures imported from test_claude_e2e are parameters here, by name)
"""`/codex-fusion:codex-setup` in the real Claude Code CLI: the doctor's python3 line is the interpreter
the hooks ran with (recorded by the SessionStart hook, not the plugin's virtualenv), and every
configured council member has its line, a member that cannot start failing the report."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from claude_cli import ClaudeSandbox
from mock_anthropic import MockAnthropic, say
from test_claude_e2e import claude_binary, uv_binary  # noqa: F401  (fixtures, used by name)

from codex_fusion.hookside import interpreter

FAKE_AGENT = Path(__file__).resolve().parents[1] / "fake_agent.py"


def test_codex_setup_names_the_hooks_python_and_every_member(
    tmp_path: Path, claude_binary: Path, uv_binary: str
) -> None:
    sandbox = ClaudeSandbox(tmp_path, claude_binary, uv_binary)
    fake = shlex.join([sys.executable, str(FAKE_AGENT)])
    members = {"helper": {"command": fake, "env": {"FAKE_ACP": "name=helper"}}, "qwen": {}}
    sandbox.update_settings(
        env={
            "CODEX_FUSION_ACP_COMMAND": fake,
            "CODEX_FUSION_AGENT_ENV": "FAKE_ACP*",
            "CODEX_FUSION_MEMBERS": json.dumps(members),
        }
    )
    sandbox.install_plugin()
    with MockAnthropic() as mock:
        mock.script(say("Setup shown."))
        run = sandbox.ask(
            "/codex-fusion:codex-setup", base_url=mock.base_url, extra_args=["--permission-mode", "dontAsk"]
        )
        assert run.returncode == 0, run.describe()
        first = mock.message_requests(with_tools=True)[0].messages[0]
    content = first["content"]
    prompt = content if isinstance(content, str) else "\n".join(str(b.get("text", "")) for b in content)
    output = prompt.partition("(each line ✓, ! or ✗ with its fix):")[2].partition("Show the user the ✗")[0]
    recorded = interpreter.read(sandbox.plugin_data / "state")
    assert recorded is not None  # the SessionStart hook of this very run wrote it
    hooks_python = str(recorded["executable"])
    assert not hooks_python.startswith(str(sandbox.plugin_data))  # not the plugin's virtualenv
    assert (
        f"✓ python3 for the hooks: Python {recorded['python']} ({hooks_python}), as the hooks ran it"
        in output
    )
    assert "! member helper: helper 9.9.9" in output, output
    assert "a session opens, NOT confined" in output
    assert "✗ member qwen: cannot start" in output
    assert "fix: fix its entry in the `members` option" in output
    assert "All checks passed." not in output
