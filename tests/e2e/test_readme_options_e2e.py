# ruff: noqa: F811  (the fixtures imported from test_claude_e2e are parameters here, by name)
"""The README's examples for setting options, run as written in the real Claude Code CLI: each
`--values-stdin` line of the README is taken from the README itself and run by a shell, and what
Claude Code stored is what the README says (a boolean, a number, the members JSON as a string)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from claude_cli import REPO, ClaudeSandbox
from test_claude_e2e import claude_binary, uv_binary  # noqa: F401  (fixtures, used by name)

LINE = re.compile(r"^echo '.*' \| claude plugin configure codex-fusion@codex-fusion --values-stdin$", re.M)


def readme_examples() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("**Plugin options**") :].split("```", 2)[1]
    return LINE.findall(block)


def test_the_readmes_option_examples_work_as_written(
    tmp_path: Path, claude_binary: Path, uv_binary: str
) -> None:
    examples = readme_examples()
    assert len(examples) == 2
    sandbox = ClaudeSandbox(tmp_path, claude_binary, uv_binary)
    sandbox.install_plugin()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").symlink_to(claude_binary)
    env = sandbox.env({"PATH": os.pathsep.join([str(bin_dir), sandbox.env()["PATH"]])})
    for line in examples:
        done = subprocess.run(
            ["bash", "-c", line], cwd=sandbox.project, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    stored = json.loads(sandbox.settings_path.read_text())["pluginConfigs"]["codex-fusion@codex-fusion"][
        "options"
    ]
    assert stored["review_gate"] is True
    assert stored["review_gate_max_blocks"] == 3
    assert json.loads(stored["members"]) == {"gemini": {}, "claude": {"model": "claude-opus-4-5"}}
    refused = subprocess.run(
        [
            "bash",
            "-c",
            "echo '{\"review_gate\": true}' | claude plugin configure codex-fusion@codex-fusion --values-stdin",
        ],
        cwd=sandbox.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "isn't a JSON object of strings" in refused.stdout + refused.stderr
