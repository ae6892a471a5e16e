"""The real Codex CLI as codex-fusion's host: ``codex exec`` with codex-fusion registered as its MCP
server, its model a scripted Responses mock that finds the tools with ``tool_search`` and calls them
in their ``mcp__<server>`` namespace (what Codex 0.166 does; ``docs/adr/0027``).

Codex silently disables stdio MCP servers when ``CODEX_HOME`` lies under the temp dir, so each run
lives under ``$HOME/.cache`` (removed afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_adapters import TS_VERSION, adapters_dir, unavailable, write_codex_config

SERVER = "fusion"
#: The first search waits this long, and searches again until codex-fusion's namespace turns up:
#: Codex starts its MCP servers alongside the first turn and lists their tools only once they answered.
FIRST_WAIT_S = 1.0


def codex_cli() -> Path:
    base = adapters_dir() / f"ts-{TS_VERSION}" / "node_modules" / "@openai"
    for candidate in sorted(base.glob("codex-*/vendor/*/bin/codex")):
        if os.access(candidate, os.X_OK):
            return candidate
    unavailable(f"the Codex CLI inside {base} (run scripts/provision-adapters)")
    raise AssertionError  # unreachable: unavailable() skips or fails


@pytest.fixture
def host_root() -> Iterator[Path]:
    """A private directory outside the temp dir (Codex refuses stdio MCP servers under it)."""
    parent = Path.home() / ".cache" / "codex-fusion-e2e"
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="host-", dir=parent))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def server_command() -> list[str]:
    """codex-fusion as ``uv tool install`` puts it on the PATH: the ``codex-fusion`` script."""
    script = Path(sys.executable).parent / "codex-fusion"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "codex_fusion.cli.main"]


def register(codex_home: Path, env: dict[str, str], *, tool_timeout_s: int = 300) -> None:
    """``[mcp_servers.fusion]`` as the README's ``codex mcp add`` line writes it, plus ``env``."""
    command = server_command()
    lines = [
        "",
        f"[mcp_servers.{SERVER}]",
        f"command = {json.dumps(command[0])}",
        f"args = {json.dumps(command[1:])}",
        "startup_timeout_sec = 60",
        f"tool_timeout_sec = {tool_timeout_s}",
        'default_tools_approval_mode = "approve"',
        f"[mcp_servers.{SERVER}.env]",
        *(f"{key} = {json.dumps(value)}" for key, value in env.items()),
    ]
    with (codex_home / "config.toml").open("a") as config:
        config.write("\n".join(lines) + "\n")


@dataclass
class Run:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    @property
    def messages(self) -> list[str]:
        return [
            str(e["item"].get("text", ""))
            for e in self.events
            if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "agent_message"
        ]

    @property
    def final(self) -> str:
        return self.messages[-1] if self.messages else ""


def run_exec(root: Path, base_url: str, server_env: dict[str, str], prompt: str, workspace: Path) -> Run:
    """One ``codex exec`` turn with codex-fusion registered; Codex's own model is the mock at ``base_url``."""
    codex_home = root / "codex_home"
    write_codex_config(codex_home, base_url)
    register(codex_home, server_env)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "CODEX_HOME": str(codex_home),
        "LANG": "C.UTF-8",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    (root / "home").mkdir(exist_ok=True)
    argv = [str(codex_cli()), "exec", "--skip-git-repo-check", "--json", "-C", str(workspace), prompt]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=400, check=False)
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return Run(done.returncode, events, done.stderr)
