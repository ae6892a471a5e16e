"""The plugin's declarative files agree with each other and with the Python project.

Static checks only (no Claude Code needed); ``tests/e2e/test_claude_e2e.py`` runs the real CLI's
``claude plugin validate --strict`` and installs the plugin.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN_JSON = REPO / ".claude-plugin" / "plugin.json"
MARKETPLACE_JSON = REPO / ".claude-plugin" / "marketplace.json"
MCP_JSON = REPO / ".mcp.json"
HOOKS_JSON = REPO / "hooks" / "hooks.json"

KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Set by Claude Code for every plugin server and hook; any other ${VAR} needs a ${VAR:-default}
# (an unset ${VAR} in a server config makes Claude Code reject the server).
PLUGIN_VARS = {"CLAUDE_PLUGIN_ROOT", "CLAUDE_PLUGIN_DATA"}
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
HOOK_EVENTS = {"SessionStart", "PreCompact", "SessionEnd", "UserPromptSubmit", "Stop"}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def plugin() -> dict[str, Any]:
    return _json(PLUGIN_JSON)


@pytest.fixture(scope="module")
def marketplace() -> dict[str, Any]:
    return _json(MARKETPLACE_JSON)


def _entry(marketplace: dict[str, Any]) -> dict[str, Any]:
    [entry] = [p for p in marketplace["plugins"] if p.get("name") == "codex-fusion"]
    return entry


def _placeholders(value: Any) -> list[str]:
    """Every ``${...}`` body in the strings of a JSON value."""
    if isinstance(value, str):
        return PLACEHOLDER.findall(value)
    if isinstance(value, list):
        return [p for v in value for p in _placeholders(v)]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _placeholders(v)]
    return []


def test_versions_agree(
    pyproject: dict[str, Any], plugin: dict[str, Any], marketplace: dict[str, Any]
) -> None:
    version = pyproject["project"]["version"]
    assert plugin["version"] == version
    assert _entry(marketplace)["version"] == version


def test_uv_lock_is_current_for_this_version(pyproject: dict[str, Any]) -> None:
    """``uv run --frozen`` never re-locks: a lock from another version would start stale code."""
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    [ours] = [p for p in lock["package"] if p["name"] == pyproject["project"]["name"]]
    assert ours["version"] == pyproject["project"]["version"]


def test_plugin_manifest_fields(plugin: dict[str, Any], pyproject: dict[str, Any]) -> None:
    assert plugin["name"] == "codex-fusion"
    assert plugin["license"] == pyproject["project"]["license"] == "MIT"
    assert isinstance(plugin["description"], str)
    assert plugin["description"].strip()
    assert isinstance(plugin["author"]["name"], str)
    assert plugin["repository"].startswith("https://")
    assert isinstance(plugin["keywords"], list)
    assert plugin["keywords"]
    assert all(isinstance(k, str) and k for k in plugin["keywords"])


def test_repository_is_its_own_marketplace(marketplace: dict[str, Any], plugin: dict[str, Any]) -> None:
    assert KEBAB.match(marketplace["name"])
    assert marketplace["owner"]["name"]
    entry = _entry(marketplace)
    assert entry["source"] == "./"  # relative to the marketplace root, i.e. this repository
    assert entry["name"] == plugin["name"]


def test_mcp_server_launch(pyproject: dict[str, Any]) -> None:
    servers = _json(MCP_JSON)["mcpServers"]
    assert set(servers) == {"codex"}  # tools are mcp__plugin_codex-fusion_codex__<tool>
    server = servers["codex"]
    args = server["args"]
    assert server["command"] == "uv"
    assert args[0] == "run"
    assert "--frozen" in args
    assert "--directory" not in args  # it would move the server's cwd away from the user's project
    assert args[args.index("--project") + 1] == "${CLAUDE_PLUGIN_ROOT}"
    assert args[-2:] == ["codex-fusion", "serve"]
    assert "codex-fusion" in pyproject["project"]["scripts"]
    env = server["env"]
    assert env["UV_PROJECT_ENVIRONMENT"].startswith("${CLAUDE_PLUGIN_DATA}/")
    assert env["UV_COMPILE_BYTECODE"] == "1"
    assert (REPO / "pyproject.toml").is_file()
    assert (REPO / "uv.lock").is_file()


@pytest.mark.parametrize("path", [MCP_JSON, HOOKS_JSON], ids=lambda p: p.name)
def test_placeholders_are_plugin_variables_or_have_defaults(path: Path) -> None:
    """An unset ``${VAR}`` makes Claude Code refuse the server; a declared ``${user_config.<key>}`` is
    always substituted (its value, its default, or "" when unset: observed on 2.1.329)."""
    declared = set(_json(PLUGIN_JSON).get("userConfig", {}))
    for body in _placeholders(_json(path)):
        name, _, _ = body.partition(":-")
        if name.startswith("user_config."):
            assert name.removeprefix("user_config.") in declared, (
                f"${{{body}}} in {path.name} is not declared"
            )
            continue
        assert name in PLUGIN_VARS or ":-" in body, f"${{{body}}} in {path.name} may be unset"


def test_hooks_run_files_that_exist() -> None:
    hooks = _json(HOOKS_JSON)["hooks"]
    assert set(hooks) == HOOK_EVENTS
    for event, groups in hooks.items():
        for group in groups:
            for hook in group["hooks"]:
                assert hook["type"] == "command", event
                # exec form: a program plus arguments, no shell to mangle paths with spaces
                assert " " not in hook["command"], event
                assert isinstance(hook["timeout"], int | float)
                assert hook["timeout"] > 0
                scripts = [a for a in hook["args"] if "${CLAUDE_PLUGIN_ROOT}" in a]
                assert scripts, f"{event} runs nothing from the plugin"
                for arg in scripts:
                    target = REPO / arg.replace("${CLAUDE_PLUGIN_ROOT}/", "")
                    assert target.is_file(), f"{event}: {arg} does not exist"
