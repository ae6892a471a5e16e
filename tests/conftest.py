"""Shared fixtures: the anyio backend and the scripted fake agent, in memory or as a subprocess.

``fake.consultant()`` / ``fake.server()`` run the agent in-process through the ``spawn`` seam (fast;
the ACP stack above the process is the real one). ``fake.config()`` with the default spawn runs it as
a real subprocess, for what only a process can show (pipes, signals, process groups).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from codex_fusion.council.council import Council
from codex_fusion.launch.config import Config
from codex_fusion.launch.planning import configure
from codex_fusion.mcp.server import build_server
from codex_fusion.member.conversation import Member

from .memory_host import MemoryHost, memory_spawn

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeAgentSetup:
    """Builds a Config that launches tests/fake_agent.py with the given flags, and reads its log."""

    def __init__(self, tmp_path: Path) -> None:
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir()
        self.log = tmp_path / "fake-agent.jsonl"
        self.pids_file = tmp_path / "fake-agent.pids"
        self.data = tmp_path / "plugin-data"  # CLAUDE_PLUGIN_DATA: records, links, long answers
        self.hosts: list[MemoryHost] = []
        self.gates: dict[str, anyio.Event] = {}

    def env(self, flags: str = "", **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OPENAI_API_KEY", "CODEX_API_KEY", "CLAUDE_PID", "CLAUDE_CODE_SESSION_ID")
        }
        env.update(
            CLAUDE_PLUGIN_DATA=str(self.data),
            CODEX_FUSION_WARM="0",  # tests about warm-up turn it on
            CODEX_FUSION_ACP_COMMAND=shlex.join([sys.executable, str(FAKE_AGENT)]),
            CODEX_FUSION_WORKSPACE=str(self.workspace),
            FAKE_ACP=flags,
            FAKE_ACP_LOG=str(self.log),
            FAKE_ACP_PIDS=str(self.pids_file),
            # The agent gets only an allowlisted environment (allowlist.agent_env): let the fake's
            # settings through, and its API-key login (it stores nothing).
            CODEX_FUSION_AGENT_ENV="FAKE_ACP*",
            CODEX_FUSION_STORE_API_KEY="1",
        )
        env.update(extra)
        return env

    def config(self, flags: str = "", **extra: str) -> Config:
        return configure(self.env(flags, **extra))

    def gate(self, name: str) -> anyio.Event:
        """The gate ``@fake wait NAME`` waits on (in-memory agents only); ``.set()`` opens it."""
        return self.gates.setdefault(name, anyio.Event())

    def consultant(self, flags: str = "", **extra: str) -> Member:
        """A Member whose agent runs in memory."""
        return Member(self.config(flags, **extra), spawn=memory_spawn(self.hosts, _Gates(self)))

    def members_json(self, members: dict[str, dict[str, Any]]) -> str:
        """``CODEX_FUSION_MEMBERS`` for fake-agent members ``{name: {"flags": "...", **entry}}`` (each
        runs the fake agent with ``name=<name>`` plus its flags)."""
        entries = {}
        for name, entry in members.items():
            entry = dict(entry)
            member_flags = ",".join(filter(None, [f"name={name}", entry.pop("flags", "")]))
            entries[name] = {
                "command": shlex.join([sys.executable, str(FAKE_AGENT)]),
                **entry,
                "env": {"FAKE_ACP": member_flags, **entry.get("env", {})},
            }
        return json.dumps(entries)

    def council(self, members: dict[str, dict[str, Any]], flags: str = "name=codex", **extra: str) -> Council:
        """A Council of in-memory fake agents: Codex with ``flags``, the others per :meth:`members_json`."""
        config = self.config(flags, CODEX_FUSION_MEMBERS=self.members_json(members), **extra)
        return Council(config, spawn=self.spawn())

    def spawn(self) -> Any:
        """The in-memory spawn seam, for building a Council or Member from a Config of one's own."""
        return memory_spawn(self.hosts, _Gates(self))

    def server(self, flags: str = "", **extra: str) -> MCPServer[Any]:
        """The MCP server, its agent in memory."""
        return build_server(self.config(flags, **extra), spawn=memory_spawn(self.hosts, _Gates(self)))

    def pids(self) -> list[int]:
        """Pids of subprocess agents started with ``setsid_child`` and of their escaped children."""
        if not self.pids_file.exists():
            return []
        return [int(line) for line in self.pids_file.read_text().split()]

    def received(self, method: str | None = None, agent: str | None = None) -> list[dict[str, Any]]:
        """Messages the fake agent received, optionally only those of one method, or of one named
        agent (``name=`` flag: a council member)."""
        if not self.log.exists():
            return []
        msgs = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [
            m
            for m in msgs
            if (method is None or m.get("method") == method) and (agent is None or m.get("_agent") == agent)
        ]


class _Gates(dict[str, anyio.Event]):
    """Gates created on first use, shared between the test and its agents."""

    def __init__(self, setup: FakeAgentSetup) -> None:
        super().__init__()
        self._setup = setup

    def __getitem__(self, name: str) -> anyio.Event:
        return self._setup.gate(name)


@pytest.fixture
def fake(tmp_path: Path) -> FakeAgentSetup:
    return FakeAgentSetup(tmp_path)


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies excluded)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the command (which is in parentheses and may contain spaces)
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            return True
    return False


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
