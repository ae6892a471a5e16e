"""`codex-fusion setup` and `doctor` for real: npm installs the pinned codex-acp into the data directory,
and the doctor starts it against the mock model (offline: npm answers from the cache that
scripts/provision-adapters filled)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_adapters import make_adapter_env, unavailable
from mcp import Client
from mock_openai import MockResponses, say

from codex_fusion.launch import installer
from codex_fusion.launch.planning import configure
from codex_fusion.mcp.server import build_server

pytestmark = pytest.mark.anyio
ENTRY = Path(sys.executable).with_name("codex-fusion")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def npm_cache() -> str:
    return subprocess.run(
        ["npm", "config", "get", "cache"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def setup_env(
    tmp_path: Path, codex_home: Path, workspace: Path, installed_adapters: dict[str, object]
) -> dict[str, str]:
    ts = installed_adapters["ts"]
    if isinstance(ts, str):  # its npm cache is what `setup` installs from, offline
        unavailable(f"setup installs from the TypeScript adapter's npm cache: {ts}")
    env = make_adapter_env(ts, codex_home, tmp_path / "home")  # type: ignore[arg-type]
    env.update(
        CLAUDE_PLUGIN_DATA=str(tmp_path / "plugin-data"),
        CODEX_FUSION_WORKSPACE=str(workspace),
        CODEX_FUSION_WARM="0",
        npm_config_cache=npm_cache(),
    )
    return env


async def test_setup_installs_the_pinned_adapter_and_the_doctor_passes(
    setup_env: dict[str, str], mock_model: MockResponses
) -> None:
    assert configure(setup_env).agent_source == "npx fallback"  # no codex-acp on PATH
    done = subprocess.run([str(ENTRY), "setup"], env=setup_env, capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"Installing {installer.PACKAGE}@{installer.PINNED}" in out
    assert "✓ agent command: " in out
    assert f"(from installed {installer.PACKAGE}@{installer.PINNED})" in out
    assert f"✓ agent answers: {installer.PACKAGE} {installer.PINNED}" in out
    assert "✓ Codex login: a session opens" in out  # the mock provider needs no login
    assert "✓ workspace boundary" in out
    config = configure(setup_env)
    assert config.adapter == "ts"
    mock_model.script([say("Answered by the installed adapter.")])
    async with Client(build_server(config)) as client:
        result = await client.call_tool("consult", {"question": "hello?"})
    assert result.content[0].text.startswith("Answered by the installed adapter.")  # type: ignore[union-attr]
