"""The agents' own git runs none of the repository's programs (ADR 0023): the environment every agent
gets, proven by running git in a repository that names a marker program for every key class."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_fusion.hookside import gitlock, gitsnap
from codex_fusion.launch import gitenv
from codex_fusion.launch.planning import configure

from .conftest import FakeAgentSetup
from .gitrepo import GIT_ENV, git
from .hostile_git import CLASSES, fired, hostile_repository, run_commands


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_hostile_repository_runs_its_programs_without_the_lockdown(tmp_path: Path) -> None:
    workspace, markers = hostile_repository(tmp_path)
    run_commands(workspace, {})
    # the control: the probe finds these classes when nothing switches them off
    assert {"clean", "process", "textconv", "fsmonitor", "hook", "askpass"} <= set(fired(markers))


def test_no_program_of_the_repository_runs_in_an_agents_git(tmp_path: Path) -> None:
    workspace, markers = hostile_repository(tmp_path)
    agent = gitenv.for_workspace(workspace)
    assert agent.refusal is None
    run_commands(workspace, agent.env)
    assert fired(markers) == []


def test_every_agent_of_the_council_gets_the_lockdown(tmp_path: Path) -> None:
    workspace, markers = hostile_repository(tmp_path)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CODEX_HOME": str(tmp_path / "codex"),
        "CODEX_FUSION_WORKSPACE": str(workspace),
        "CODEX_FUSION_ACP_COMMAND": "python3 my_agent.py",
        "CODEX_FUSION_MEMBERS": '{"other": {"command": "python3 other.py"}}',
        "GIT_CONFIG_COUNT": "1",  # the server's own is never what the agents get
        "GIT_CONFIG_KEY_0": "core.fsmonitor",
        "GIT_CONFIG_VALUE_0": "/bin/true",
    }
    config = configure(env)
    for spec in config.members.values():
        assert spec.error is None
        assert spec.env["GIT_CONFIG_KEY_0"] == "core.hookspath"
        run_commands(workspace, spec.env)
    assert fired(markers) == []


def test_an_include_in_the_repositorys_config_is_refused_for_every_agent(tmp_path: Path) -> None:
    workspace, _ = hostile_repository(tmp_path, include=True)
    agent = gitenv.for_workspace(workspace)
    assert agent.refusal is not None
    assert "include.path" in agent.refusal
    assert ".git/config" in agent.refusal
    config = configure(
        {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "CODEX_HOME": str(tmp_path / "codex"),
            "CODEX_FUSION_WORKSPACE": str(workspace),
            "CODEX_FUSION_ACP_COMMAND": "python3 my_agent.py",
        }
    )
    assert config.members["codex"].error == agent.refusal


def test_the_users_own_programs_are_kept(tmp_path: Path) -> None:
    entries = [
        ("global", "filter.lfs.process", "git-lfs filter-process"),
        ("global", "core.pager", "less -R"),
        ("local", "filter.lfs.process", "/tmp/evil"),
        ("local", "filter.lfs.clean", "/tmp/evil"),
        ("local", "core.pager", "/tmp/evil"),
        ("local", "credential.https://example.invalid.helper", "/tmp/evil"),
    ]
    config = dict(gitlock.lockdown(entries).config)
    assert config["filter.lfs.process"] == "git-lfs filter-process"
    assert config["filter.lfs.clean"] == ""
    assert config["core.pager"] == "less -R"
    assert config["credential.helper"] == ""
    assert "/tmp/evil" not in config.values()


def test_the_gate_snapshot_runs_none_of_them_either(tmp_path: Path) -> None:
    workspace, markers = hostile_repository(tmp_path)
    assert len(gitsnap.snapshot(str(workspace), str(tmp_path / "index"))) == 40
    assert fired(markers) == []


def test_every_class_is_probed() -> None:
    assert len(CLASSES) == len(set(CLASSES)) == 16


def test_the_git_wrapper_alone_switches_them_off(tmp_path: Path) -> None:
    # Claude Code drops GIT_CONFIG_* from its git's environment: the wrapper on PATH must be enough
    workspace, markers = hostile_repository(tmp_path)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CODEX_HOME": str(tmp_path / "codex"),
        "CODEX_FUSION_WORKSPACE": str(workspace),
        "CODEX_FUSION_ACP_COMMAND": "python3 my_agent.py",
        "CLAUDE_PLUGIN_DATA": str(tmp_path / "data"),
        "CODEX_FUSION_MEMBERS": '{"other": {"command": "python3 other.py"}}',
    }
    spec = configure(env).members["other"]
    wrapper_dir = spec.env["PATH"].split(":")[0]
    assert (Path(wrapper_dir) / "git").stat().st_mode & 0o777 == 0o700
    run_commands(workspace, {"PATH": spec.env["PATH"]})
    assert fired(markers) == []


@pytest.mark.anyio
async def test_a_consult_in_a_repository_that_includes_says_what_to_do(fake: FakeAgentSetup) -> None:
    from mcp import Client

    from codex_fusion.mcp.server import build_server

    from .test_tools import text_of

    git(fake.workspace, "init", "-q")
    git(fake.workspace, "config", "include.path", "../elsewhere.cfg")
    async with Client(build_server(fake.config("name=codex"), spawn=fake.spawn())) as client:
        result = await client.call_tool("consult", {"question": "q"})
    text = text_of(result)
    assert result.is_error
    assert "include.path" in text
    assert "CODEX_FUSION_MEMBERS" not in text


def test_a_submodules_own_drivers_do_not_run(tmp_path: Path) -> None:
    sub, top, markers = tmp_path / "sub", tmp_path / "top", tmp_path / "markers"
    for directory in (sub, top, markers):
        directory.mkdir()
    (sub / "f.txt").write_text("a\n")
    git(sub, "init", "-q")
    git(sub, "add", "-A")
    git(sub, "commit", "-q", "-m", "s")
    git(top, "init", "-q")
    git(top, "-c", "protocol.file.allow=always", "submodule", "-q", "add", str(sub), "sub")
    git(top, "commit", "-q", "-m", "t")
    program = tmp_path / "clean.sh"
    program.write_text(f"#!/bin/sh\ntouch '{markers / 'subclean'}'\ncat\n")
    program.chmod(0o755)
    with (top / ".git" / "modules" / "sub" / "config").open("a") as handle:
        handle.write(f'[filter "x"]\n\tclean = {program}\n')
    (top / "sub" / ".gitattributes").write_text("f.txt filter=x\n")
    git(top, "config", "--file", ".gitmodules", "submodule.sub.ignore", "none")  # beats diff.ignoreSubmodules
    stamp = (top / "sub" / "f.txt").stat().st_mtime + 100
    os.utime(top / "sub" / "f.txt", (stamp, stamp))  # git must hash it, through the filter
    run_commands(top, {})
    assert fired(markers) == ["subclean"]  # the control
    (markers / "subclean").unlink()
    run_commands(top, gitenv.for_workspace(top).env)
    assert fired(markers) == []


def test_a_driver_named_with_an_equals_sign_is_switched_off_by_the_wrapper_too(tmp_path: Path) -> None:
    # `git -c filter.a=b.clean=` splits at the first `=`: the wrapper must not rely on -c
    workspace, markers = hostile_repository(tmp_path)
    with (workspace / ".git" / "config").open("a") as handle:
        handle.write(f'[filter "a=b"]\n\tclean = {tmp_path / "bin" / "clean.sh"}\n\trequired = true\n')
    (workspace / ".gitattributes").write_text("*.txt filter=a=b\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CODEX_HOME": str(tmp_path / "codex"),
        "CODEX_FUSION_WORKSPACE": str(workspace),
        "CODEX_FUSION_ACP_COMMAND": "python3 my_agent.py",
        "CLAUDE_PLUGIN_DATA": str(tmp_path / "data"),
        "CODEX_FUSION_MEMBERS": '{"other": {"command": "python3 other.py"}}',
    }
    spec = configure(env).members["other"]
    assert spec.error is None
    run_commands(workspace, {"PATH": spec.env["PATH"]})
    assert fired(markers) == []


def _codex_command_env(inherited: dict[str, str], args: list[str]) -> dict[str, str]:
    """The environment Codex gives a command, in the order its shell environment policy documents:
    the inherited variables, less its default ``*KEY*``/``*SECRET*``/``*TOKEN*`` and our excludes,
    then ``set`` inserted."""
    import fnmatch
    import itertools
    import tomllib

    policy = {}
    for flag, value in itertools.pairwise(args):
        if flag == "-c" and value.startswith("shell_environment_policy."):
            key, _, raw = value.partition("=")
            policy[key.split(".", 1)[1]] = tomllib.loads(f"v = {raw}")["v"]
    patterns = ["*KEY*", "*SECRET*", "*TOKEN*", *policy.get("exclude", [])]
    env = {
        k: v for k, v in inherited.items() if not any(fnmatch.fnmatch(k.upper(), p.upper()) for p in patterns)
    }
    env.update(policy.get("set", {}))
    return env


def test_the_commands_codex_runs_get_the_whole_lockdown(tmp_path: Path) -> None:
    """Codex drops ``*KEY*`` variables from its commands: the lockdown's ``GIT_CONFIG_KEY_<n>`` go in
    again through the policy's ``set``, or every git command it runs refuses a half-set config."""
    from codex_fusion.launch import boundary

    workspace, markers = hostile_repository(tmp_path)
    agent = gitenv.for_workspace(workspace)
    args = boundary.overrides(
        profile="p",
        external_reads=False,
        helper=None,
        excludes=("OPENAI_API_KEY",),
        ephemeral=True,
        workspace=workspace,
        command_env=agent.env,
    )
    env = _codex_command_env({**os.environ, **agent.env}, args)
    count = int(env["GIT_CONFIG_COUNT"])
    assert all(f"GIT_CONFIG_KEY_{n}" in env for n in range(count))
    run_commands(workspace, env)
    assert fired(markers) == []
