"""The codex-fusion side of the end-to-end tests: a Config that runs a real adapter in the workspace.

Imported by the test modules that drive our MCP tools (the fixtures are used by name).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_adapters import Adapter

from codex_fusion.launch.config import Config
from codex_fusion.launch.planning import configure


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fusion(
    adapter: Adapter, codex_home: Path, workspace: Path, adapter_env: Callable[..., dict[str, str]]
) -> Callable[..., Config]:
    """``fusion(**env)`` -> a Config that runs the adapter in the workspace, plus env overrides."""

    def make(**extra: str) -> Config:
        env = adapter_env(adapter, codex_home)
        env.update(
            CODEX_FUSION_ACP_COMMAND=shlex.join(adapter.argv),
            CODEX_FUSION_WORKSPACE=str(workspace),
            CODEX_FUSION_STARTUP_TIMEOUT_MS="60000",
            CODEX_FUSION_WARM="0",  # tests about warm-up turn it on
            CLAUDE_PLUGIN_DATA=str(codex_home.parent / "plugin-data"),
        )
        env.update(extra)
        return configure(env)

    return make
