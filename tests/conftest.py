"""Shared fixtures: the anyio backend and a factory for configs that run the scripted fake agent."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codex_fusion.config import Config

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

    def env(self, flags: str = "", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY")}
        env.update(
            CODEX_FUSION_ACP_COMMAND=shlex.join([sys.executable, str(FAKE_AGENT)]),
            CODEX_FUSION_WORKSPACE=str(self.workspace),
            FAKE_ACP=flags,
            FAKE_ACP_LOG=str(self.log),
        )
        env.update(extra)
        return env

    def config(self, flags: str = "", **extra: str) -> Config:
        return Config.from_env(self.env(flags, **extra))

    def received(self, method: str | None = None) -> list[dict[str, Any]]:
        """Messages the fake agent received, optionally only those of one method."""
        if not self.log.exists():
            return []
        msgs = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [m for m in msgs if method is None or m.get("method") == method]


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


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
