"""``bin/codex-fusion``: the plugin's own launcher finds the plugin's data directory (and so its
virtualenv) as Claude Code names it, wherever it is run from. ``uv`` is a stub here that prints what
it was given; ``tests/e2e/test_claude_commands_e2e.py`` runs the real one against the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "bin" / "codex-fusion"
STUB = """#!/bin/sh
for a in "$@"; do printf '[%s]' "$a"; done
echo
echo "data=$CLAUDE_PLUGIN_DATA"
echo "root=$CLAUDE_PLUGIN_ROOT"
echo "venv=$UV_PROJECT_ENVIRONMENT"
"""


def _plugin_at(root: Path) -> Path:
    """A copy of the launcher at ``root/bin/codex-fusion``."""
    (root / "bin").mkdir(parents=True)
    shutil.copy2(LAUNCHER, root / "bin" / "codex-fusion")
    return root / "bin" / "codex-fusion"


def _run(launcher: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    stub = home / "stub-bin"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "uv").write_text(STUB)
    (stub / "uv").chmod(0o755)
    return subprocess.run(
        [str(launcher), *args],
        env={"PATH": f"{stub}:/usr/bin:/bin", "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_installed_copy_uses_claude_codes_data_directory_for_it(tmp_path: Path) -> None:
    """``<config>/plugins/cache/<marketplace>/<plugin>/<version>`` → ``<config>/plugins/data/<plugin>-<marketplace>``,
    characters outside ``[A-Za-z0-9_-]`` as ``-``; the arguments pass through unchanged."""
    home = tmp_path / "home"
    root = home / ".claude" / "plugins" / "cache" / "acme.tools" / "codex-fusion" / "0.1.0"
    done = _run(_plugin_at(root), home, "ask", "a question", "--context", "two words")
    data = home / ".claude" / "plugins" / "data" / "codex-fusion-acme-tools"
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"[run][--frozen][--quiet][--no-dev][--project][{root}][codex-fusion][ask][a question]"
        "[--context][two words]"
    )
    assert lines[1:] == [f"data={data}", f"root={root}", f"venv={data}/venv"]


def test_plugin_data_given_by_the_command_wins(tmp_path: Path) -> None:
    """/codex-fusion:codex-setup passes ``--plugin-data "${CLAUDE_PLUGIN_DATA}"``; it is not passed on."""
    home = tmp_path / "home"
    launcher = _plugin_at(tmp_path / "clone")
    given = tmp_path / "the data dir"
    done = _run(launcher, home, "doctor", "--plugin-data", str(given))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith("[codex-fusion][doctor]")
    assert f"data={given}" in done.stdout.splitlines()
    from_env = _run(launcher, home, "doctor", CLAUDE_PLUGIN_DATA=str(given))
    assert f"venv={given}/venv" in from_env.stdout.splitlines()


def test_a_directory_marketplace_uses_the_one_data_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    launcher = _plugin_at(tmp_path / "clone")
    none = _run(launcher, home, "setup")
    assert none.returncode == 2
    assert "the plugin has no data directory" in none.stderr
    data = home / ".claude" / "plugins" / "data"
    (data / "codex-fusion-local").mkdir(parents=True)
    one = _run(launcher, home, "setup")
    assert one.returncode == 0, one.stderr
    assert f"data={data / 'codex-fusion-local'}" in one.stdout.splitlines()
    (data / "codex-fusion-other").mkdir()
    two = _run(launcher, home, "setup")
    assert two.returncode == 2
    assert "several plugin data directories" in two.stderr
    assert "set CLAUDE_PLUGIN_DATA" in two.stderr


def test_claude_config_dir_moves_the_data_directory(tmp_path: Path) -> None:
    config = tmp_path / "claude-config"
    (config / "plugins" / "data" / "codex-fusion-x").mkdir(parents=True)
    done = _run(_plugin_at(tmp_path / "clone"), tmp_path / "home", "doctor", CLAUDE_CONFIG_DIR=str(config))
    assert f"data={config / 'plugins' / 'data' / 'codex-fusion-x'}" in done.stdout.splitlines()


@pytest.mark.skipif(not os.access(LAUNCHER, os.X_OK), reason="the launcher lost its executable bit")
def test_without_uv_it_says_how_to_get_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(LAUNCHER), "doctor", "--plugin-data", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},  # uv lives elsewhere here
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 127
    assert "uv is not on PATH: pip install uv" in done.stderr
