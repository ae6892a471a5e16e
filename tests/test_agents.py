"""The council members' launch plans (``codex_fusion.launch.agents``): what each kind is started with, what it
is told in session/new, how its mode is checked, and what ``status`` says about its boundary. The real
agents run against these plans in tests/e2e/test_agents_raw.py."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from codex_fusion.errors import ConfigError
from codex_fusion.launch import agents
from codex_fusion.launch.agents import MemberEntry, claude, gemini, unknown
from codex_fusion.launch.agents.locate import PROVISIONED

SOURCE = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "ANTHROPIC_API_KEY": "sk-ant-user",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    "GEMINI_API_KEY": "gem-user",
    "OPENAI_API_KEY": "sk-openai",
    "DATABASE_PASSWORD": "hunter2",
    "IS_SANDBOX": "yes",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
}
CLAUDE_ARGV = ("/usr/bin/node", "/opt/agents/claude/dist/index.js")
GEMINI_ARGV = ("/usr/bin/node", "/opt/agents/gemini/bundle/gemini.js")


def claude_plan(member: MemberEntry | None = None, **kw: Any) -> agents.LaunchPlan:
    return claude.plan(
        kw.pop("source", SOURCE),
        member or MemberEntry("claude"),
        CLAUDE_ARGV,
        workspace=kw.pop("workspace", None),
        user_settings=kw.pop("user_settings", {}),
    )


def gemini_plan(
    member: MemberEntry | None = None, argv: tuple[str, ...] = GEMINI_ARGV, **kw: Any
) -> agents.LaunchPlan:
    return gemini.plan(
        kw.pop("source", SOURCE),
        member or MemberEntry("gemini"),
        argv,
        workspace=kw.pop("workspace", None),
        state_dir=kw.pop("state_dir", Path("/state")),
    )


def options_of(plan: agents.LaunchPlan) -> dict[str, Any]:
    assert plan.session_meta is not None
    options = plan.session_meta["claudeCode"]["options"]
    assert isinstance(options, dict)
    return options


# --- claude ----------------------------------------------------------------------------------------


def test_claude_session_loads_no_settings_file_no_mcp_config_and_no_bypass() -> None:
    options = options_of(claude_plan())
    assert options["settingSources"] == []  # neither the workspace's .claude/ nor the user's settings
    assert options["strictMcpConfig"] is True  # no .mcp.json, no user or plugin MCP servers
    assert options["allowDangerouslySkipPermissions"] is False
    settings = options["settings"]
    assert set(settings["permissions"]["ask"]) >= {"Bash", "WebFetch", "WebSearch"}
    assert settings["permissions"]["disableBypassPermissionsMode"] == "disable"
    assert settings["disableAutoMode"] == "disable"
    assert {"EnterPlanMode", "ExitPlanMode", "Agent", "Monitor", "ScheduleWakeup"} <= set(
        options["disallowedTools"]
    )
    assert "model" not in options
    assert "effort" not in options


def test_claude_mode_is_manual_set_by_config_option_and_checked_in_its_answer() -> None:
    plan = claude_plan()
    assert plan.mode is not None
    assert plan.mode.request("s1") == (
        "session/set_config_option",
        {"sessionId": "s1", "configId": "mode", "value": "default"},
    )
    answer = {
        "configOptions": [
            {"id": "model", "currentValue": "default"},
            {"id": "mode", "currentValue": "default"},
        ]
    }
    assert plan.mode.confirmed(answer)
    assert not plan.mode.confirmed({"configOptions": [{"id": "mode", "currentValue": "auto"}]})
    assert not plan.mode.confirmed({"modes": {"currentModeId": "default"}})  # not how this one answers
    assert not plan.mode.confirmed(None)


def test_claude_model_and_effort_go_in_the_session_options_and_change_by_config_option() -> None:
    plan = claude_plan(MemberEntry("claude", model="claude-opus-4-1", effort="high"))
    options = options_of(plan)
    assert options["model"] == "claude-opus-4-1"
    assert options["effort"] == "high"
    assert plan.model.at_launch
    assert plan.effort.request("s", "max") == (
        "session/set_config_option",
        {"sessionId": "s", "configId": "effort", "value": "max"},
    )
    assert plan.model.request("s", "sonnet") == (
        "session/set_config_option",
        {"sessionId": "s", "configId": "model", "value": "sonnet"},
    )


def test_claude_effort_outside_its_choices_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"effort 'extreme' is not one of low, medium, high, xhigh, max"):
        claude_plan(MemberEntry("claude", effort="extreme"))


def test_claude_env_passes_its_login_and_nothing_secret_else() -> None:
    plan = claude_plan(MemberEntry("claude", env={"MY_FLAG": "1", "DISABLE_AUTOUPDATER": "0"}))
    env = plan.env
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-user"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1"
    assert env["MY_FLAG"] == "1"  # the member's own env
    assert env["DISABLE_AUTOUPDATER"] == "1"  # fixed: the member's env cannot change it
    for name in (
        "DATABASE_PASSWORD",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "IS_SANDBOX",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert name not in env
    assert plan.client_capabilities == {}


def test_claude_cloud_credentials_pass_only_with_their_switch() -> None:
    plain = claude_plan()
    bedrock = claude_plan(source={**SOURCE, "CLAUDE_CODE_USE_BEDROCK": "1"})
    assert "AWS_SECRET_ACCESS_KEY" not in plain.env
    assert bedrock.env["AWS_SECRET_ACCESS_KEY"] == "aws-secret"


def test_claude_keeps_only_the_users_login_from_their_settings() -> None:
    user = {
        "apiKeyHelper": "~/bin/get-key",
        "env": {"ANTHROPIC_BASE_URL": "https://gw.example", "EDITOR": "vi", "ANTHROPIC_AUTH_TOKEN": "tok"},
        "permissions": {"allow": ["Bash(*)", "Read(//**)"], "defaultMode": "bypassPermissions"},
        "hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "x"}]}]},
        "mcpServers": {"s": {"command": "x"}},
    }
    settings = options_of(claude_plan(user_settings=user))["settings"]
    assert settings["apiKeyHelper"] == "~/bin/get-key"
    assert settings["env"] == {"ANTHROPIC_BASE_URL": "https://gw.example", "ANTHROPIC_AUTH_TOKEN": "tok"}
    assert settings["permissions"]["ask"] == list(claude.ASK_TOOLS)  # the user's allow list is not there
    assert "allow" not in settings["permissions"]
    assert "hooks" not in settings
    assert "mcpServers" not in settings


def test_read_user_settings_is_tolerant(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert claude.read_user_settings(env) == {}
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text("{not json")
    assert claude.read_user_settings(env) == {}
    path.write_text("[1, 2]")
    assert claude.read_user_settings(env) == {}
    path.write_text(json.dumps({"apiKeyHelper": "k"}))
    assert claude.read_user_settings(env) == {"apiKeyHelper": "k"}
    assert claude.read_user_settings(env, max_bytes=5) == {}
    other = tmp_path / "cfg"
    other.mkdir()
    (other / "settings.json").write_text(json.dumps({"apiKeyHelper": "from-config-dir"}))
    assert claude.read_user_settings({**env, "CLAUDE_CONFIG_DIR": str(other)}) == {
        "apiKeyHelper": "from-config-dir"
    }
    assert claude.read_user_settings({}) == {}


def test_session_params_carry_the_meta_for_new_and_resume_alike() -> None:
    plan = claude_plan()
    new = plan.session_params(Path("/ws"))
    resume = plan.session_params(Path("/ws"), sessionId="s1")
    assert new == {"cwd": "/ws", "mcpServers": [], "_meta": plan.session_meta}
    assert resume == {**new, "sessionId": "s1"}
    assert "_meta" not in gemini_plan().session_params(Path("/ws"))


def test_claude_boundary_says_confined() -> None:
    plan = claude_plan()
    assert plan.boundary.confined
    assert plan.boundary.note.startswith(agents.CONFINED)
    assert ".claude/" in plan.boundary.note
    assert plan.tested_version == "0.101.0"


# --- gemini ----------------------------------------------------------------------------------------


def test_gemini_is_started_in_acp_default_mode_with_no_extensions_and_our_admin_policy() -> None:
    plan = gemini_plan(MemberEntry("gemini", model="gemini-2.5-pro"))
    path = gemini.policy_path(Path("/state"))
    assert plan.argv == (
        *GEMINI_ARGV,
        "--acp",
        "--approval-mode",
        "default",
        "--extensions",
        "none",
        "--admin-policy",
        str(path),
        "--model",
        "gemini-2.5-pro",
    )
    assert plan.files == ((path, gemini.POLICY),)
    assert path.parent == Path("/state/gemini")
    assert plan.client_capabilities == {}  # no fs: its write_file breaks on the client's reads
    assert plan.session_meta is None
    assert plan.boundary.confined


def test_gemini_flags_already_in_the_command_are_not_repeated() -> None:
    argv = ("/usr/bin/gemini", "--experimental-acp", "--approval-mode=default", "-e", "none", "-m", "x")
    plan = gemini_plan(MemberEntry("gemini", model="y"), argv=argv)
    assert plan.argv == (*argv, "--admin-policy", str(gemini.policy_path(Path("/state"))))
    assert plan.boundary.confined


@pytest.mark.parametrize(
    "flags",
    [("--yolo",), ("-y",), ("--skip-trust",), ("--approval-mode", "yolo"), ("--approval-mode=auto_edit",)],
)
def test_gemini_command_flags_that_widen_it_make_it_not_confined(flags: tuple[str, ...]) -> None:
    plan = gemini_plan(argv=("/usr/bin/gemini", "--acp", *flags))
    assert not plan.boundary.confined
    assert plan.boundary.note.startswith(agents.NOT_CONFINED)
    assert " ".join(flags).replace("=", " ") in plan.boundary.note.replace("=", " ")


def test_gemini_without_a_private_directory_is_not_confined_and_says_why() -> None:
    plan = gemini_plan(state_dir=None)
    assert "--admin-policy" not in plan.argv
    assert plan.files == ()
    assert not plan.boundary.confined
    assert "without asking" in plan.boundary.note
    assert "CLAUDE_PLUGIN_DATA" in plan.boundary.note


def test_gemini_env_untrusts_the_workspace_whatever_the_member_says() -> None:
    plan = gemini_plan(
        MemberEntry("gemini", env={"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": ""})
    )
    assert plan.env["GEMINI_CLI_TRUST_WORKSPACE"] == "false"
    assert plan.env["GEMINI_CLI_NO_RELAUNCH"] == ""  # a default the member may change
    assert gemini_plan().env["GEMINI_CLI_NO_RELAUNCH"] == "true"
    assert plan.env["GEMINI_API_KEY"] == "gem-user"
    for name in ("ANTHROPIC_API_KEY", "DATABASE_PASSWORD", "OPENAI_API_KEY"):
        assert name not in plan.env


def test_gemini_mode_is_chosen_at_launch_and_checked_in_session_new() -> None:
    plan = gemini_plan()
    assert plan.mode is not None
    assert plan.mode.confirmed({"modes": {"currentModeId": "default", "availableModes": []}})
    assert not plan.mode.confirmed({"modes": {"currentModeId": "yolo"}})
    assert plan.mode.request("s") == ("session/set_mode", {"sessionId": "s", "modeId": "default"})


def test_gemini_model_changes_with_set_model_and_offers_no_effort() -> None:
    plan = gemini_plan(MemberEntry("gemini", model="gemini-2.5-pro"))
    assert plan.model.request("s", "gemini-3.8-flash") == (
        "session/set_model",
        {"sessionId": "s", "modelId": "gemini-3.8-flash"},
    )
    assert plan.effort.per_call is None
    assert plan.effort.request("s", "high") is None


def test_gemini_policy_asks_for_every_command_and_removes_mode_changes() -> None:
    rules = tomllib.loads(gemini.POLICY)["rule"]
    by_decision: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        by_decision.setdefault(rule["decision"], []).append(rule)
    shell = next(r for r in rules if r["toolName"] == "run_shell_command")
    assert shell["decision"] == "ask_user"
    assert shell["argsPattern"] == ".*"  # turns Gemini's "known safe command" heuristic off
    denied = by_decision["deny"][0]["toolName"]
    assert {"enter_plan_mode", "exit_plan_mode", "invoke_agent"} <= set(denied)
    allowed = by_decision["allow"][0]["toolName"]
    assert "run_shell_command" not in allowed
    assert "web_fetch" not in allowed
    assert "write_file" not in allowed
    catch_all = next(r for r in rules if r["toolName"] == "*")
    assert catch_all["decision"] == "ask_user"
    # The first matching rule by priority wins: the shell and deny rules outrank the allow rule, and
    # everything outranks the catch-all.
    assert shell["priority"] > by_decision["allow"][0]["priority"] > catch_all["priority"]


def test_gemini_policy_file_is_written_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    plan = gemini_plan(state_dir=state)
    agents.write_files(plan, state)
    ((path, text),) = plan.files
    assert path.read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    agents.write_files(plan, state)  # idempotent


# --- unknown ---------------------------------------------------------------------------------------


def test_unknown_agent_is_not_confined_and_reads_through_the_guarded_client() -> None:
    plan = unknown.plan(
        SOURCE, MemberEntry("qwen", model="qwen3-coder"), ("/usr/bin/qwen", "--acp"), workspace=None
    )
    assert not plan.boundary.confined
    assert "`/usr/bin/qwen --acp`" in plan.boundary.note
    assert plan.client_capabilities == {"fs": {"readTextFile": True, "writeTextFile": False}}
    assert plan.mode is None
    assert plan.session_meta is None
    assert not plan.model.at_launch
    assert plan.model.request("s", "qwen3-coder") == (
        "session/set_config_option",
        {"sessionId": "s", "configId": "model", "value": "qwen3-coder"},
    )
    assert "ANTHROPIC_API_KEY" not in plan.env


# --- the environment and the program ---------------------------------------------------------------


def test_safe_path_drops_relative_empty_and_workspace_entries(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    value = os.pathsep.join(["", ".", "bin", str(ws / "node_modules" / ".bin"), str(ws), "/usr/bin", "/bin"])
    assert agents.safe_path(value, ws) == os.pathsep.join(["/usr/bin", "/bin"])
    assert agents.safe_path(value, None) == os.pathsep.join(
        [str(ws / "node_modules" / ".bin"), str(ws), "/usr/bin", "/bin"]
    )


def test_member_env_path_never_reaches_into_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    source = {**SOURCE, "PATH": os.pathsep.join([str(ws / "bin"), ".", "/usr/bin"])}
    plan = claude.plan(source, MemberEntry("claude"), CLAUDE_ARGV, workspace=ws, user_settings={})
    assert plan.env["PATH"] == "/usr/bin"


def _executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _provision(root: Path, kind: agents.MemberKind) -> Path:
    prefix, package, entry = PROVISIONED[kind]
    package_dir = root / prefix / "node_modules" / package
    script = package_dir / entry
    script.parent.mkdir(parents=True)
    script.write_text("// agent\n")
    (package_dir / "package.json").write_text(json.dumps({"name": package, "version": "x"}))
    return script


def test_default_command_prefers_the_provisioned_release_then_path_never_the_workspace(
    tmp_path: Path,
) -> None:
    node = _executable(tmp_path / "sys" / "node")
    on_path = _executable(tmp_path / "sys" / "gemini")
    planted = _executable(tmp_path / "ws" / "bin" / "claude-agent-acp")
    ws = tmp_path / "ws"
    env = {
        "PATH": os.pathsep.join([str(planted.parent), str(node.parent)]),
        "CODEX_FUSION_AGENTS_DIR": str(tmp_path / "agents"),
    }
    assert agents.default_command("claude", env, ws) is None  # only the workspace has one
    assert agents.default_command("gemini", env, ws) == (str(on_path),)
    script = _provision(tmp_path / "agents", "gemini")
    assert agents.default_command("gemini", env, ws) == (str(node), str(script))
    assert agents.default_command("unknown", env, ws) is None


def test_resolve_refuses_relative_programs_unknown_names_and_missing_agents(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "sys"), "HOME": str(tmp_path)}
    tool = _executable(tmp_path / "sys" / "qwen")
    assert agents.resolve(MemberEntry("q", "qwen --acp"), ["qwen", "--acp"], env, tmp_path / "ws") == (
        str(tool),
        "--acp",
    )
    with pytest.raises(ConfigError, match=r"relative path '\./agent'"):
        agents.resolve(MemberEntry("q", "./agent"), ["./agent"], env, None)
    with pytest.raises(ConfigError, match="only the built-in members"):
        agents.resolve(MemberEntry("mine"), None, env, None)
    with pytest.raises(
        ConfigError, match=r"claude-agent-acp is not installed; install it with `npm install -g"
    ):
        agents.resolve(MemberEntry("claude"), None, env, None)
    with pytest.raises(ConfigError, match="cannot find 'nope'"):
        agents.resolve(MemberEntry("q", "nope"), ["nope"], env, None)


def test_detect_the_kind_from_the_package_npx_or_nothing(tmp_path: Path) -> None:
    script = _provision(tmp_path / "agents", "claude")
    assert agents.detect(("/usr/bin/node", str(script))) == "claude"
    assert agents.detect(("/usr/bin/npx", "-y", "@google/gemini-cli@0.61.0", "--acp")) == "gemini"
    assert agents.detect(("/usr/bin/npx", "@qwen-code/qwen-code", "--acp")) == "unknown"
    assert agents.detect(("/usr/bin/node", "relative.js")) == "unknown"
    assert agents.detect(("/usr/bin/goose", "acp")) == "unknown"
    assert agents.detect(()) == "unknown"


def test_plan_member_finds_plans_and_carries_the_users_login(tmp_path: Path) -> None:
    node = _executable(tmp_path / "sys" / "node")
    script = _provision(tmp_path / "agents", "claude")
    (tmp_path / "home" / ".claude").mkdir(parents=True)
    (tmp_path / "home" / ".claude" / "settings.json").write_text(json.dumps({"apiKeyHelper": "get-key"}))
    source = {
        "PATH": str(node.parent),
        "HOME": str(tmp_path / "home"),
        "CODEX_FUSION_AGENTS_DIR": str(tmp_path / "agents"),
    }
    plan = agents.plan_member(source, MemberEntry("claude"), workspace=tmp_path / "ws", state_dir=None)
    assert plan.kind == "claude"
    assert plan.argv == (str(node), str(script))
    assert options_of(plan)["settings"]["apiKeyHelper"] == "get-key"
    # A member under another name whose command is claude-agent-acp is a Claude member.
    mine = agents.plan_member(
        source, MemberEntry("opus", f"{node} {script}"), workspace=tmp_path / "ws", state_dir=None
    )
    assert mine.kind == "claude"


# --- the handshake ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "kind"),
    [
        ({"name": "@agentclientprotocol/codex-acp", "version": "2.6.0"}, "codex-ts"),
        ({"name": "codex-acp", "version": "0.16.0"}, "codex-rust"),
        ({"name": "@agentclientprotocol/claude-agent-acp", "version": "0.101.0"}, "claude"),
        ({"name": "gemini-cli", "title": "Gemini CLI", "version": "0.61.0"}, "gemini"),
        ({"name": "qwen-code", "version": "0.24.4"}, "unknown"),
        (None, "unknown"),  # goose
        ({"name": 3}, "unknown"),
    ],
)
def test_recognise_agent_info(info: Any, kind: str) -> None:
    assert agents.recognise(info).kind == kind


def test_recognised_labels() -> None:
    assert agents.recognise({"name": "gemini-cli", "version": "0.61.0"}).label == "Gemini CLI 0.61.0"
    assert agents.recognise({"name": "qwen-code"}).label == "Qwen Code"
    assert agents.recognise(None).label == "an agent that does not name itself"


def test_checked_boundary_after_the_handshake() -> None:
    plan = claude_plan()
    same = agents.recognise({"name": claude.AGENT_INFO_NAME, "version": claude.TESTED_VERSION})
    newer = agents.recognise({"name": claude.AGENT_INFO_NAME, "version": "0.102.0"})
    other = agents.recognise({"name": "gemini-cli", "version": "0.61.0"})
    assert agents.checked(plan, same) == plan.boundary
    assert agents.checked(plan, newer).confined
    assert "observed with version 0.101.0; this is 0.102.0" in agents.checked(plan, newer).note
    mismatch = agents.checked(plan, other)
    assert not mismatch.confined
    assert "set up for claude but Gemini CLI 0.61.0 answered" in mismatch.note
    loose = unknown.plan(SOURCE, MemberEntry("x", "x"), ("/x",), workspace=None)
    assert agents.checked(loose, same) == loose.boundary
