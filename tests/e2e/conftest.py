"""Fixtures for the end-to-end tests: the real codex-acp adapters, driven offline against a mock model.

Independent of our own server code. The adapters come from ``scripts/provision-adapters`` (npm packages
installed at pinned versions into ``$CODEX_FUSION_ADAPTERS_DIR``, default
``~/.cache/codex-fusion/adapters``). Missing adapters skip the tests, or fail them when ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_adapters import (
    ADAPTER_NAMES,
    E2E_DIR,
    Adapter,
    find_adapters,
    make_adapter_env,
    unavailable,
    write_codex_config,
)
from mock_openai import MockResponses

__all__ = ["Adapter", "make_adapter_env", "write_codex_config"]


# --------------------------------------------------------------------------------------------------
# Hooks and fixtures


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def installed_adapters() -> dict[str, Adapter | str]:
    return find_adapters()


@pytest.fixture(params=ADAPTER_NAMES)
def adapter(request: pytest.FixtureRequest, installed_adapters: dict[str, Adapter | str]) -> Adapter:
    found = installed_adapters[request.param]
    if isinstance(found, str):
        unavailable(f"{request.param} adapter: {found}")
    assert isinstance(found, Adapter)
    return found


@pytest.fixture(scope="session")
def ts_adapter(installed_adapters: dict[str, Adapter | str]) -> Adapter:
    """The TypeScript adapter alone (the pinned default), for tests that run one real Codex."""
    found = installed_adapters["ts"]
    if isinstance(found, str):
        unavailable(f"ts adapter: {found}")
    assert isinstance(found, Adapter)
    return found


@pytest.fixture
def mock_model() -> Iterator[MockResponses]:
    with MockResponses() as mock:
        yield mock


@pytest.fixture
def codex_home(tmp_path: Path, mock_model: MockResponses) -> Path:
    """A fresh CODEX_HOME whose config.toml points at ``mock_model``."""
    home = tmp_path / "codex_home"
    write_codex_config(home, mock_model.base_url)
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A small git repository with one commit."""
    ws = tmp_path / "workspace"
    (ws / "src").mkdir(parents=True)
    (ws / "README.md").write_text("# demo\nhello\n")
    (ws / "src" / "app.py").write_text("def main():\n    print('hi')\n")
    git_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=ws, env=git_env, check=True, capture_output=True)
    return ws


@pytest.fixture
def adapter_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``adapter_env(adapter, codex_home, home=None, extra=None)`` -> env dict (HOME defaults to a
    per-test sandbox dir)."""

    def build(
        adapter: Adapter,
        codex_home: Path,
        home: Path | None = None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        return make_adapter_env(adapter, codex_home, home or tmp_path / "home", extra)

    return build
