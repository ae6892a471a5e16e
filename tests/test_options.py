"""Plugin options: the manifest and .mcp.json agree with options.py, and env > option > default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_fusion.guardian.policy import GuardianFlags
from codex_fusion.hookside import gate, options
from codex_fusion.launch.config import DEFAULT_RESET_ON, Config
from codex_fusion.launch.planning import configure

REPO = Path(__file__).resolve().parents[1]


def config(tmp_path: Path, **env: str) -> Config:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CODEX_FUSION_WORKSPACE": str(tmp_path)}
    return configure({**base, **env})


def test_the_manifest_declares_exactly_the_options_table() -> None:
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["userConfig"] == options.manifest()
    assert [key for key, entry in manifest["userConfig"].items() if entry.get("sensitive")] == [
        "openai_api_key"
    ]


def test_mcp_json_hands_every_option_to_the_server_under_its_hook_name() -> None:
    env = json.loads((REPO / ".mcp.json").read_text())["mcpServers"]["codex"]["env"]
    for option in options.OPTIONS:
        assert env[f"CLAUDE_PLUGIN_OPTION_{option.key.upper()}"] == "${user_config." + option.key + "}"


def test_the_manifest_defaults_are_the_codes_defaults(tmp_path: Path) -> None:
    plain = config(tmp_path)
    declared = {option.key: option.default for option in options.OPTIONS}
    flags = GuardianFlags()
    assert declared["allow_external_reads"] is flags.allow_external_reads is False
    assert declared["allow_writes"] is flags.allow_writes is False
    assert declared["allow_commands"] is flags.allow_commands is False
    assert declared["reset_on_compact"] is ("compact" in DEFAULT_RESET_ON)
    settings = gate.Settings.from_env({})
    assert (declared["review_gate"], declared["review_gate_max_blocks"]) == (
        settings.enabled,
        settings.max_blocks,
    )
    assert (declared["review_gate_severity"], declared["review_gate_timeout"]) == (
        settings.threshold,
        settings.timeout,
    )
    assert plain.model.empty
    assert declared["model"] is None
    assert declared["effort"] is None


def test_an_option_applies_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    by_option = config(
        tmp_path,
        CLAUDE_PLUGIN_OPTION_ALLOW_WRITES="true",
        CLAUDE_PLUGIN_OPTION_RESET_ON_COMPACT="false",
        CLAUDE_PLUGIN_OPTION_MODEL="gpt-5.5",
        CLAUDE_PLUGIN_OPTION_REVIEW_GATE="true",
    )
    assert by_option.flags.allow_writes
    assert by_option.reset_on == frozenset({"clear"})
    assert (by_option.model.model, by_option.model.origin) == ("gpt-5.5", "set by the plugin option model")
    assert by_option.review_gate
    assert by_option.option_sources["allow_writes"] == "option allow_writes"
    by_env = config(
        tmp_path,
        CLAUDE_PLUGIN_OPTION_ALLOW_WRITES="true",
        CODEX_FUSION_ALLOW_WRITES="0",
        CLAUDE_PLUGIN_OPTION_MODEL="gpt-5.5",
        CODEX_FUSION_MODEL="gpt-5.4",
    )
    assert not by_env.flags.allow_writes
    assert (by_env.model.model, by_env.model.origin) == ("gpt-5.4", "set by CODEX_FUSION_MODEL")
    assert by_env.option_sources["allow_writes"] == "env CODEX_FUSION_ALLOW_WRITES"


def test_an_option_left_empty_or_at_its_default_counts_as_the_default(tmp_path: Path) -> None:
    # Claude Code substitutes "" for an unset option without a default, the default otherwise.
    unset = config(tmp_path, CLAUDE_PLUGIN_OPTION_MODEL="", CLAUDE_PLUGIN_OPTION_ALLOW_WRITES="false")
    assert unset.model.empty
    assert not unset.flags.allow_writes
    assert set(unset.option_sources.values()) == {"default"}


def test_the_api_key_option_becomes_openai_api_key_unless_the_environment_has_one() -> None:
    merged = options.effective_env({"CLAUDE_PLUGIN_OPTION_OPENAI_API_KEY": "sk-from-keychain"})
    assert merged["OPENAI_API_KEY"] == "sk-from-keychain"
    kept = options.effective_env({"CLAUDE_PLUGIN_OPTION_OPENAI_API_KEY": "sk-x", "OPENAI_API_KEY": "sk-env"})
    assert kept["OPENAI_API_KEY"] == "sk-env"


def test_members_pass_through_as_codex_fusion_members() -> None:
    members = '{"gemini": {"command": "gemini --acp"}}'
    assert options.effective_env({"CLAUDE_PLUGIN_OPTION_MEMBERS": members})["CODEX_FUSION_MEMBERS"] == members


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_boolean_option_that_is_not_one_is_reported_by_the_setting_it_feeds(
    tmp_path: Path, value: str
) -> None:
    cfg = config(tmp_path, CLAUDE_PLUGIN_OPTION_ALLOW_COMMANDS=value)
    assert not cfg.flags.allow_commands  # anything but a yes is no, as for the variable
