"""The pure parts of the workspace boundary (boundary.py): the agent's environment allowlist, the Codex
config overrides, adapter detection on fake package trees, the launch plan, and how Config uses them.
No processes; the real adapters are driven in tests/e2e/test_boundary_e2e.py."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_fusion.hookside import gitlock
from codex_fusion.launch import adapters, allowlist, boundary
from codex_fusion.launch.adapters import Launch
from codex_fusion.launch.boundary import RELAY_SPEC, profile_mode
from codex_fusion.launch.planning import configure

PROFILE = "codex-fusion-0123456789abcdef"
WORKSPACE = Path("/home/u/project")

SERVER_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TERM": "xterm",
    "HTTPS_PROXY": "http://proxy:3128",
    "SSL_CERT_FILE": "/etc/ssl/cert.pem",
    "CODEX_HOME": "/home/u/.codex",
    "OPENAI_API_KEY": "sk-proj-abc123",
    "DATABASE_PASSWORD": "hunter2",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "GITHUB_TOKEN": "ghp_token",
    "JAVA_HOME": "/opt/java",
}


def values(args: list[str]) -> dict[str, object]:
    """``-c key=value`` arguments parsed the way Codex parses them (the value as TOML)."""
    assert args[::2] == ["-c"] * (len(args) // 2)
    parsed: dict[str, object] = {}
    for pair in args[1::2]:
        key, _, value = pair.partition("=")
        parsed[key] = tomllib.loads(f"v = {value}")["v"]
    return parsed


# --- the environment -------------------------------------------------------------------------------


def test_agent_env_keeps_only_what_the_agent_needs() -> None:
    env = allowlist.agent_env(SERVER_ENV)
    assert env == {
        name: SERVER_ENV[name]
        for name in ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "HTTPS_PROXY", "SSL_CERT_FILE", "CODEX_HOME")
    }


def test_agent_env_adds_extra_names_prefixes_and_asked_for_keys() -> None:
    source = {**SERVER_ENV, "FAKE_ACP": "x", "FAKE_ACP_LOG": "/l", "FAKEX": "no"}
    env = allowlist.agent_env(source, extra=["JAVA_HOME", "FAKE_ACP*", ""], keys=["OPENAI_API_KEY"])
    assert {"JAVA_HOME", "FAKE_ACP", "FAKE_ACP_LOG", "OPENAI_API_KEY"} <= env.keys()
    assert not {"FAKEX", "DATABASE_PASSWORD", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY"} & env.keys()


def test_command_excludes_name_keys_secrets_and_proxies_with_credentials() -> None:
    excludes = allowlist.command_excludes(
        {"HTTPS_PROXY": "http://user:pw@proxy:3128", "http_proxy": "http://proxy:3128", "NO_PROXY": "x"}
    )
    assert {"OPENAI_API_KEY", "CODEX_API_KEY", "*PASSWORD*", "HTTPS_PROXY"} <= set(excludes)
    assert "http_proxy" not in excludes


def test_provider_key_var_follows_the_selected_provider(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'model_provider = "b"\n[model_providers.a]\nenv_key = "A_KEY"\n[model_providers.b]\nenv_key = "B_KEY"\n'
    )
    assert allowlist.provider_key_var(tmp_path) == "B_KEY"
    (tmp_path / "config.toml").write_text('model_provider = "a"\n[model_providers.a]\nname = "A"\n')
    assert allowlist.provider_key_var(tmp_path) is None
    (tmp_path / "config.toml").write_text("not = [toml")
    assert allowlist.provider_key_var(tmp_path) is None
    assert allowlist.provider_key_var(tmp_path / "missing") is None


# --- the overrides ---------------------------------------------------------------------------------


@given(st.text())
def test_toml_strings_round_trip(text: str) -> None:
    assert tomllib.loads(f"v = {boundary.toml(text)}")["v"] == text


def test_toml_tables_lists_and_booleans() -> None:
    value = {'a "b"\\': ["x", True], ".": {"c": False}}
    assert tomllib.loads(f"v = {boundary.toml(value)}")["v"] == value


def test_overrides_give_the_profile_and_keep_secrets_out_of_commands() -> None:
    helper = Path("/opt/codex/bin/codex")
    args = boundary.overrides(
        profile=PROFILE,
        external_reads=False,
        helper=helper,
        excludes=["OPENAI_API_KEY"],
        ephemeral=False,
        workspace=None,
    )
    parsed = values(args)
    assert parsed["default_permissions"] == PROFILE
    assert parsed[f"permissions.{PROFILE}.filesystem"] == {
        ":minimal": "read",
        ":workspace_roots": {".": "read"},
        str(helper): "read",
    }
    assert parsed[f"permissions.{PROFILE}.network.enabled"] is False
    assert parsed["approval_policy"] == "on-request"
    assert parsed["shell_environment_policy.exclude"] == ["OPENAI_API_KEY"]
    assert parsed["shell_environment_policy.ignore_default_excludes"] is False
    assert parsed["features.shell_snapshot"] is False
    assert "cli_auth_credentials_store" not in parsed
    assert not any(key.startswith("sandbox") for key in parsed)  # sandbox_mode would disable profiles


def test_external_reads_widen_the_profile_to_the_root_and_ephemeral_sets_the_store() -> None:
    parsed = values(
        boundary.overrides(
            profile=PROFILE, external_reads=True, helper=None, excludes=[], ephemeral=True, workspace=None
        )
    )
    assert parsed[f"permissions.{PROFILE}.filesystem"] == {":root": "read", ":workspace_roots": {".": "read"}}
    assert parsed["cli_auth_credentials_store"] == "ephemeral"
    without = values(
        boundary.overrides(
            profile=None, external_reads=False, helper=None, excludes=[], ephemeral=False, workspace=None
        )
    )
    assert "default_permissions" not in without
    assert "shell_environment_policy.inherit" in without


# --- which adapter ---------------------------------------------------------------------------------


def package(root: Path, name: str, files: dict[str, str]) -> Path:
    directory = root / "node_modules" / name
    directory.mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({"name": name}))
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return directory


def test_detect_the_typescript_adapter_and_its_codex(tmp_path: Path) -> None:
    ts = package(tmp_path, adapters.TS_PACKAGE, {"dist/index.js": ""})
    platform = package(
        tmp_path, "@openai/codex-linux-x64", {"vendor/x86_64-unknown-linux-musl/bin/codex": ""}
    )
    vendor = platform / "vendor" / "x86_64-unknown-linux-musl"
    found = adapters.detect(["node", str(ts / "dist" / "index.js")], {"PATH": "/usr/bin"})
    assert found == Launch("ts", vendor / "bin" / "codex", vendor)
    own = adapters.detect(["node", str(ts / "dist" / "index.js")], {"CODEX_PATH": "/opt/codex"})
    assert own == Launch("ts", Path("/opt/codex"), Path("/opt/codex"))


def test_detect_the_rust_adapter_by_launcher_binary_and_link(tmp_path: Path) -> None:
    launcher = package(tmp_path, adapters.RUST_PACKAGE, {"bin/codex-acp.js": ""})
    binary = (
        package(tmp_path, adapters.RUST_PACKAGE + "-linux-x64", {"bin/codex-acp": ""}) / "bin" / "codex-acp"
    )
    link = tmp_path / "bin" / "codex-acp"
    link.parent.mkdir()
    link.symlink_to(launcher / "bin" / "codex-acp.js")
    assert adapters.detect([str(binary)], {}) == Launch("rust", binary, binary)
    assert adapters.detect(["codex-acp"], {"PATH": str(link.parent)}) == Launch("rust", binary, binary)


def test_detect_npx_and_unknown_commands(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/nonexistent"}
    npx = tmp_path / ".npm" / "_npx"
    assert adapters.detect(["npx", "-y", "@agentclientprotocol/codex-acp@2"], env) == Launch("ts", None, npx)
    assert adapters.detect(["npx", "-y", "@zed-industries/codex-acp"], env) == Launch("rust", None, npx)
    assert adapters.detect(["npx", "-y", "cowsay"], env).adapter == "unknown"
    assert adapters.detect(["python3", "fake_agent.py"], env).adapter == "unknown"
    assert adapters.detect([], env).adapter == "unknown"


# --- the plan --------------------------------------------------------------------------------------

TS = Launch("ts", Path("/nm/codex"), Path("/nm/vendor"))
RUST = Launch("rust", Path("/nm/codex-acp"), Path("/nm/codex-acp"))


def make_plan(launch: Launch, env: dict[str, str] | None = None, **kwargs: object) -> boundary.Plan:
    options: dict[str, object] = {
        "mode": None,
        "external_reads": False,
        "logged_in": False,
        "provider_key": None,
        "shim_ok": True,
    }
    options.update(kwargs)
    options.setdefault("profile_name", PROFILE)
    options.setdefault("workspace", WORKSPACE)
    return boundary.plan(SERVER_ENV if env is None else env, ["codex-acp"], launch, **options)  # type: ignore[arg-type]


def test_rust_gets_overrides_on_its_command_line_and_the_key_for_an_ephemeral_login() -> None:
    plan = make_plan(RUST)
    parsed = values(list(plan.argv[1:]))
    assert plan.argv[0] == "codex-acp"
    assert parsed["default_permissions"] == PROFILE
    assert parsed["cli_auth_credentials_store"] == "ephemeral"
    assert plan.env["OPENAI_API_KEY"] == "sk-proj-abc123"
    assert "DATABASE_PASSWORD" not in plan.env
    assert plan.env["INITIAL_AGENT_MODE"] == profile_mode(PROFILE)
    assert (plan.profile, plan.ephemeral_login, plan.note, plan.shim) == (True, True, None, None)
    assert plan.isolated
    assert RELAY_SPEC not in plan.env


def test_typescript_gets_the_shim_and_the_relay_its_overrides() -> None:
    plan = make_plan(TS)
    assert plan.argv == ("codex-acp",)
    assert plan.shim is not None
    assert plan.shim.startswith("#!/bin/sh\n")
    assert plan.shim.endswith(' -I -m codex_fusion.launch.relay "$@"\n')  # the same text for every start
    assert plan.shim == make_plan(TS, profile_name="codex-fusion-another").shim
    spec = json.loads(plan.env[RELAY_SPEC])
    assert spec["codex"] == "/nm/codex"
    assert spec["workspace"] == str(WORKSPACE)
    assert spec["profile"] == PROFILE
    assert spec["args"] == list(plan.overrides)
    assert values(spec["args"])["default_permissions"] == PROFILE
    assert plan.env["INITIAL_AGENT_MODE"] == profile_mode(PROFILE)
    assert plan.note is None


def test_logged_in_users_keys_stay_with_the_server() -> None:
    plan = make_plan(RUST, logged_in=True)
    assert "OPENAI_API_KEY" not in plan.env
    assert "cli_auth_credentials_store" not in values(list(plan.argv[1:]))
    assert not plan.ephemeral_login


def test_the_configured_providers_env_key_is_passed_without_a_login() -> None:
    plan = make_plan(RUST, env={**SERVER_ENV, "AZURE_KEY": "az"}, logged_in=True, provider_key="AZURE_KEY")
    assert plan.env["AZURE_KEY"] == "az"
    assert not plan.ephemeral_login


def test_an_unknown_agent_gets_no_overrides_no_key_and_a_plain_note() -> None:
    plan = make_plan(Launch("unknown"))
    assert plan.argv == ("codex-acp",)
    assert plan.shim is None
    assert "OPENAI_API_KEY" not in plan.env
    assert plan.note is not None
    assert plan.note.startswith("Codex can read outside the workspace with this agent")
    assert "CODEX_FUSION_STORE_API_KEY=1" in plan.note
    opted_in = make_plan(Launch("unknown"), env={**SERVER_ENV, "CODEX_FUSION_STORE_API_KEY": "1"})
    assert opted_in.env["OPENAI_API_KEY"] == "sk-proj-abc123"
    assert opted_in.note is not None
    assert "CODEX_FUSION_STORE_API_KEY" not in opted_in.note


def test_typescript_without_a_shim_is_said_plainly() -> None:
    plan = make_plan(TS, shim_ok=False)
    assert plan.shim is None
    assert not plan.profile
    assert plan.note is not None
    assert "Codex can read outside the workspace with this adapter" in plan.note


@pytest.mark.parametrize("mode", [None, "read-only", profile_mode("codex-fusion"), profile_mode(PROFILE)])
def test_the_default_modes_use_the_profile(mode: str | None) -> None:
    assert make_plan(TS, mode=mode).profile


def test_another_mode_drops_the_profile_but_keeps_the_environment_policy() -> None:
    plan = make_plan(RUST, mode="auto")
    parsed = values(list(plan.argv[1:]))
    assert not plan.profile
    assert "default_permissions" not in parsed
    assert parsed["shell_environment_policy.exclude"]
    assert plan.env["INITIAL_AGENT_MODE"] == "auto"
    assert plan.note is not None
    assert "CODEX_FUSION_AGENT_MODE=auto" in plan.note


def test_external_reads_are_said_too() -> None:
    plan = make_plan(RUST, external_reads=True)
    assert values(list(plan.argv[1:]))[f"permissions.{PROFILE}.filesystem"] == {
        ":root": "read",
        ":workspace_roots": {".": "read"},
        "/nm/codex-acp": "read",
    }
    assert plan.note is not None
    assert "CODEX_FUSION_ALLOW_EXTERNAL_READS" in plan.note


# --- Config ----------------------------------------------------------------------------------------


def test_config_writes_a_private_shim_for_the_typescript_adapter(tmp_path: Path) -> None:
    ts = package(tmp_path, adapters.TS_PACKAGE, {"dist/index.js": ""})
    package(tmp_path, "@openai/codex-linux-x64", {"vendor/t/bin/codex": ""})
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {
        **SERVER_ENV,
        "HOME": str(tmp_path / "home"),
        "CODEX_HOME": str(tmp_path / "codex"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CODEX_FUSION_ACP_COMMAND": f"node {ts / 'dist' / 'index.js'}",
        "CODEX_FUSION_WORKSPACE": str(workspace),
    }
    config = configure(env)
    shim = Path(config.agent_env["CODEX_PATH"])
    assert shim.parent == tmp_path / "state" / "codex-fusion" / "bin"
    assert stat.S_IMODE(shim.stat().st_mode) == 0o700
    assert stat.S_IMODE(shim.parent.stat().st_mode) == 0o700
    assert "codex_fusion.launch.relay" in shim.read_text()
    profile = json.loads(config.agent_env[RELAY_SPEC])["profile"]
    assert (config.adapter, config.agent_mode, config.boundary_enforced) == (
        "ts",
        profile_mode(profile),
        True,
    )
    assert config.boundary_note is None
    assert "DATABASE_PASSWORD" not in config.agent_env
    assert configure(env).agent_env["CODEX_PATH"] == str(shim)  # the same text, the same file


def test_config_for_an_unknown_agent_says_so(tmp_path: Path) -> None:
    env = {**SERVER_ENV, "HOME": str(tmp_path), "CODEX_HOME": str(tmp_path / "codex")}
    config = configure({**env, "CODEX_FUSION_ACP_COMMAND": "python3 my_agent.py"}, cwd=tmp_path)
    assert config.adapter == "unknown"
    assert not config.boundary_enforced
    assert config.boundary_note is not None
    assert "my_agent.py" in config.boundary_note
    git_vars = set(gitlock.lockdown(()).environment())  # the repository's git switched off (ADR 0023)
    assert set(config.agent_env) <= set(SERVER_ENV) | {"INITIAL_AGENT_MODE", "NO_BROWSER"} | git_vars
    assert config.agent_argv[0] == "/usr/bin/python3"  # looked up once, on the PATH entries that count


def test_a_withheld_key_is_not_passed_as_the_providers_key_either() -> None:
    plan = make_plan(Launch("unknown"), provider_key="OPENAI_API_KEY")
    assert "OPENAI_API_KEY" not in plan.env


def test_a_native_codex_acp_binary_is_the_rust_adapter_a_script_is_not(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "my-home"}')  # a package.json above does not matter
    built = tmp_path / "bin" / "codex-acp"
    built.parent.mkdir()
    built.write_bytes(b"\x7fELF\x02\x01\x01")
    assert adapters.detect([str(built)], {}) == Launch("rust", built, built)
    built.write_text("#!/bin/sh\nexec something\n")
    assert adapters.detect([str(built)], {}).adapter == "unknown"


# --- issue 17: the workspace's own configuration, programs from fixed places, npm credentials --------


def test_the_overrides_untrust_the_workspace_and_every_directory_above_it() -> None:
    parsed = values(
        boundary.overrides(
            profile=PROFILE,
            external_reads=False,
            helper=None,
            excludes=[],
            ephemeral=False,
            workspace=WORKSPACE,
        )
    )
    assert parsed["projects"] == {
        str(path): {"trust_level": "untrusted"}
        for path in (WORKSPACE, Path("/home/u"), Path("/home"), Path("/"))
    }
    assert parsed["project_root_markers"] == []


def test_the_profile_has_a_new_name_on_every_start_that_no_file_can_know() -> None:
    first, second = make_plan(RUST, profile_name=None), make_plan(RUST, profile_name=None)
    assert first.profile_name is not None
    assert second.profile_name is not None
    assert first.profile_name != second.profile_name
    assert first.profile_name.startswith("codex-fusion-")
    assert len(first.profile_name) == len("codex-fusion-") + 16
    parsed = values(list(first.argv[1:]))
    assert parsed["default_permissions"] == first.profile_name
    assert f"permissions.{first.profile_name}.filesystem" in parsed
    assert not any(key.startswith("permissions.codex-fusion.") for key in parsed)


def test_the_project_isolation_holds_in_any_mode() -> None:
    parsed = values(list(make_plan(RUST, mode="auto").argv[1:]))
    assert "default_permissions" not in parsed
    assert parsed["project_root_markers"] == []
    assert str(WORKSPACE) in parsed["projects"]  # type: ignore[operator]


NPM = {
    "npm_config_cache": "/home/u/.npm",
    "npm_config_registry": "https://registry.npmjs.org/",
    "npm_config_prefer_offline": "true",
    "npm_config_userconfig": "/home/u/.npmrc",
    "NPM_CONFIG_LOGLEVEL": "error",
    "npm_config__auth": "dXNlcjpwYXNz",
    "npm_config__authToken": "npm_abcdef",
    "NPM_CONFIG__AUTHTOKEN": "npm_abcdef",
    "npm_config_//registry.npmjs.org/:_authToken": "npm_abcdef",
    "npm_config_//npm.corp.example/:_password": "cGFzcw==",
    "npm_config_password": "hunter2",
    "npm_config_username": "me",
    "npm_config_email": "me@example.com",
    "npm_config_otp": "123456",
    "npm_config_certfile": "/home/u/client.crt",
    "npm_config_keyfile": "/home/u/client.key",
    "npm_config_key": "-----BEGIN PRIVATE KEY-----",
    "npm_config_cert": "-----BEGIN CERTIFICATE-----",
    "npm_config_https_proxy": "http://me:hunter2@proxy:3128",
    "NPM_CONFIG_REGISTRY": "https://me:hunter2@npm.corp.example/",
}


def test_npm_credentials_never_reach_the_agent_but_npxs_settings_do() -> None:
    env = allowlist.agent_env({**SERVER_ENV, **NPM})
    npm = {name for name in env if name.lower().startswith("npm_config_")}
    assert npm == {
        "npm_config_cache",
        "npm_config_registry",
        "npm_config_prefer_offline",
        "npm_config_userconfig",
        "NPM_CONFIG_LOGLEVEL",
    }
    assert "hunter2" not in json.dumps(env)
    assert "npm_abcdef" not in json.dumps(env)


def test_the_agents_path_drops_empty_relative_and_workspace_entries(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "node_modules" / ".bin").mkdir(parents=True)
    link = tmp_path / "link-to-ws-bin"
    link.symlink_to(workspace / "node_modules" / ".bin")
    path = ":".join(
        ["", ".", "bin", str(workspace / "node_modules" / ".bin"), str(link), str(workspace), "/usr/bin"]
    )
    assert allowlist.search_path(path, workspace) == "/usr/bin"
    env = allowlist.agent_env({**SERVER_ENV, "PATH": path}, workspace=workspace)
    assert env["PATH"] == "/usr/bin"


def _programs(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("#!/bin/sh\n")
        (directory / name).chmod(0o755)


def test_the_agent_command_never_comes_from_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codex_fusion.launch.planning import resolve_agent_command

    workspace, real = tmp_path / "ws", tmp_path / "real" / "bin"
    _programs(workspace, "codex-acp", "npx", "node")
    _programs(workspace / "node_modules" / ".bin", "codex-acp", "npx", "node")
    _programs(real, "codex-acp")
    monkeypatch.chdir(workspace)  # the server runs in the workspace: "" and "." mean it
    hostile = ":".join(["", ".", str(workspace / "node_modules" / ".bin"), str(real)])
    argv, where = resolve_agent_command({"PATH": hostile, "HOME": str(tmp_path)}, None, workspace)
    assert (argv, where) == ([str(real / "codex-acp")], "PATH")
    argv, where = resolve_agent_command({"PATH": ":/usr/bin", "HOME": str(tmp_path)}, None, workspace)
    assert argv[0] != str(workspace / "codex-acp")
    assert not argv[0].startswith(str(workspace))
    argv, _ = resolve_agent_command(
        {"PATH": hostile, "HOME": str(tmp_path), "CODEX_FUSION_ACP_COMMAND": "codex-acp --x"}, None, workspace
    )
    assert argv == [str(real / "codex-acp"), "--x"]


def test_a_relative_agent_command_is_refused(tmp_path: Path) -> None:
    from codex_fusion.errors import ConfigError
    from codex_fusion.launch.planning import resolve_agent_command

    env = {"PATH": "/usr/bin", "CODEX_FUSION_ACP_COMMAND": "./codex-acp"}
    with pytest.raises(ConfigError, match=r"starts with the relative path '\./codex-acp'"):
        resolve_agent_command(env, None, tmp_path)


def test_detect_looks_programs_up_only_outside_the_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    planted = workspace / "node_modules" / ".bin" / "codex-acp"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"\x7fELF\x02\x01\x01")  # looks like the Rust adapter built with cargo
    planted.chmod(0o755)
    env = {"PATH": str(planted.parent)}
    assert adapters.detect(["codex-acp"], env, workspace).adapter == "unknown"
    assert adapters.detect(["codex-acp"], env).adapter == "rust"  # (without a workspace to keep out)
