"""The pinned codex-acp in the data directory (installer.py) and the doctor, without the network.

A scripted ``npm`` stands in for the real one here (it lays out what npm would); the real install and
doctor run against the real adapter in ``tests/e2e/test_setup_e2e.py``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from codex_fusion.cli import doctor
from codex_fusion.launch import installer
from codex_fusion.launch.config import NPX_FALLBACK, Config
from codex_fusion.mcp.server import TOOLS, build_server

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio

ENTRY = Path(sys.executable).with_name("codex-fusion")

FAKE_NPM = """#!/bin/sh
# npm install --prefix DIR ... PACKAGE@VERSION: lay out what npm would, or fail on request
echo "$@" >> "$NPM_LOG"
if [ -n "$NPM_FAIL" ]; then echo "npm ERR! 404 Not Found" >&2; exit 1; fi
prefix=$3
package="$prefix/node_modules/@agentclientprotocol/codex-acp"
mkdir -p "$package/dist"
echo '{"name": "@agentclientprotocol/codex-acp", "version": "2.6.0"}' > "$package/package.json"
echo "// codex-acp" > "$package/dist/index.js"
"""


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH directory with a scripted npm and npx and a real node (no codex-acp on it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("npm", FAKE_NPM), ("npx", "#!/bin/sh\nexit 3\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    node = subprocess.run(["sh", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
    (bin_dir / "node").symlink_to(node or "/usr/bin/node")
    return bin_dir


def env_for(tmp_path: Path, tools: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "CLAUDE_PLUGIN_DATA": str(tmp_path / "data"),
        "NPM_LOG": str(tmp_path / "npm.log"),
        "CODEX_FUSION_WORKSPACE": str(tmp_path),
        "CODEX_FUSION_WARM": "0",
    }
    env.update(extra)
    return env


async def test_without_an_install_the_agent_is_npx_and_setup_installs_the_pinned_release(
    tmp_path: Path, tools: Path
) -> None:
    env = env_for(tmp_path, tools)
    before = Config.from_env(env)
    assert before.agent_source == NPX_FALLBACK
    assert before.agent_argv[1:] == ["-y", "@agentclientprotocol/codex-acp@2"]
    assert before.state_dir is not None
    where = await installer.install(before.state_dir, env)
    assert where == before.state_dir / "agent" / f"codex-acp-{installer.PINNED}"
    assert stat.S_IMODE(where.parent.stat().st_mode) == 0o700
    assert f"@agentclientprotocol/codex-acp@{installer.PINNED}" in (tmp_path / "npm.log").read_text()
    after = Config.from_env(env)
    assert after.agent_source == f"installed @agentclientprotocol/codex-acp@{installer.PINNED}"
    assert after.agent_argv[1] == str(where / "node_modules/@agentclientprotocol/codex-acp/dist/index.js")
    assert after.adapter == "ts"  # recognised, so its sandbox gets codex-fusion's profile
    assert await installer.install(before.state_dir, env) == where  # already there: npm is not run again
    assert len((tmp_path / "npm.log").read_text().splitlines()) == 1
    assert [p.name for p in where.parent.iterdir()] == [where.name]  # no temporary or lock left


async def test_a_failed_install_says_why_and_leaves_nothing_half_done(tmp_path: Path, tools: Path) -> None:
    env = env_for(tmp_path, tools, NPM_FAIL="1")
    state = Config.from_env(env).state_dir
    assert state is not None
    with pytest.raises(installer.InstallError, match=r"failed \(exit 1\): npm ERR! 404 Not Found"):
        await installer.install(state, env)
    assert list((state / "agent").iterdir()) == []
    assert Config.from_env(env).agent_source == NPX_FALLBACK


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


async def test_an_install_in_progress_elsewhere_is_never_taken_over_however_old_its_lock(
    tmp_path: Path, tools: Path
) -> None:
    """Another server installing holds the lock: its age says nothing (the old protocol deleted a lock
    older than the install timeout, and two servers could delete each other's fresh lock)."""
    env = env_for(tmp_path, tools)
    state = Config.from_env(env).state_dir
    assert state is not None
    lock = state / "agent" / f".install-{installer.PINNED}.lock"
    lock.parent.mkdir(parents=True, mode=0o700)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        old = time.time() - 7200
        os.utime(lock, (old, old))  # two hours: "stale" by any clock
        with pytest.raises(installer.InstallError, match="another codex-fusion is installing"):
            await installer.install(state, env)
    finally:
        holder.kill()
        holder.wait()
    # the holder died: the kernel released its lock, and the file it left is simply locked again
    assert lock.exists()
    assert (await installer.install(state, env)).is_dir()
    assert not lock.exists()


def test_the_lock_taken_is_the_file_still_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that opened the lock file just before its holder released (and removed) it must not
    think it holds the lock: a third server would then create a new file and install too."""
    lock = tmp_path / "install.lock"
    first = installer.take_lock(lock)
    real = installer._try_lock
    calls = 0

    def release_first_then_lock(fd: int) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            installer.release_lock(lock, first)  # between the second server's open and its flock
        return real(fd)

    monkeypatch.setattr(installer, "_try_lock", release_first_then_lock)
    second = installer.take_lock(lock)
    monkeypatch.setattr(installer, "_try_lock", real)
    try:
        assert calls == 2  # it saw it had locked the removed file, and locked the new one
        with pytest.raises(installer.InstallError, match="another codex-fusion is installing"):
            installer.take_lock(lock)  # the third server
    finally:
        installer.release_lock(lock, second)


async def test_the_first_start_on_npx_installs_the_pinned_release_in_the_background(
    tmp_path: Path, tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(tmp_path, tools)
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # npm is run with the server's own environment
    config = Config.from_env(env)
    assert config.state_dir is not None
    async with Client(build_server(config)) as client:
        assert len((await client.list_tools()).tools) == len(TOOLS)  # not held up by the install
        with anyio.fail_after(300):  # a hang guard, not a speed test: npm under load is slow
            while installer.installed_command(config.state_dir, env["PATH"]) is None:
                await anyio.sleep(0.05)
    assert Config.from_env(env).agent_source.startswith("installed ")


def test_npm_missing_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    with pytest.raises(installer.InstallError, match=r"npm is not on PATH: install Node\.js 20 or newer"):
        anyio.run(installer.install, tmp_path / "state", env)


async def test_doctor_reports_each_part_with_its_fix(fake: FakeAgentSetup) -> None:
    report = await doctor.diagnose(fake.config(), fake.env())
    by_name = {check.what: check for check in report}
    assert by_name["agent answers"].status == "ok"
    assert "fake-acp 9.9.9" in by_name["agent answers"].detail
    assert by_name["Codex login"].status == "ok"
    assert by_name["workspace"].detail == str(fake.workspace.resolve())
    assert by_name["workspace boundary"].status == "warn"  # the fake agent is not codex-acp
    text = doctor.report(report)
    assert text.splitlines()[-1] == "All checks passed."
    not_logged_in = await doctor.diagnose(fake.config("auth=ts"), fake.env())
    login = next(check for check in not_logged_in if check.what == "Codex login")
    assert login.status == "fail"
    assert "npx -y @openai/codex login" in login.fix
    assert "1 problem(s)" in doctor.report(not_logged_in)


async def test_doctor_never_hangs_on_an_agent_that_does_not_answer(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor, "AGENT_PROBE", 0.5)
    report = await doctor.check_agent(fake.config("no_init"))
    assert report[0].status == "fail"
    assert "codex-fusion setup" in report[0].fix


def test_the_doctor_command_exits_non_zero_on_a_problem(fake: FakeAgentSetup) -> None:
    ok = subprocess.run([str(ENTRY), "doctor"], env=fake.env(), capture_output=True, text=True, timeout=60)
    bad = subprocess.run(
        [str(ENTRY), "doctor"], env=fake.env("auth=ts"), capture_output=True, text=True, timeout=60
    )
    assert "✓ agent answers: fake-acp 9.9.9" in ok.stdout
    assert bad.returncode == 1
    assert "✗ Codex login: Codex is not logged in" in bad.stdout


async def test_doctor_checks_the_plugins_data_directory(fake: FakeAgentSetup, tmp_path: Path) -> None:
    """Run as the plugin (CLAUDE_PLUGIN_DATA set) the data directory is the plugin's; without it,
    what the doctor looks at is not what the server uses, and it says so."""
    env = fake.env()
    plugin = {check.what: check for check in doctor.check_places(Config.from_env(env), env)}
    assert plugin["data directory"].status == "ok"
    assert plugin["data directory"].detail.startswith(str(fake.data / "state"))
    bare = {k: v for k, v in env.items() if k != "CLAUDE_PLUGIN_DATA"}
    bare["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    outside = {check.what: check for check in doctor.check_places(Config.from_env(bare), bare)}
    assert outside["data directory"].status == "warn"
    assert "not the plugin's (CLAUDE_PLUGIN_DATA is not set)" in outside["data directory"].detail
    assert "bin/codex-fusion" in outside["data directory"].fix


@pytest.mark.parametrize("where", ["home", "config_dir"])
async def test_doctor_finds_the_server_blocked_by_claude_codes_auth_cache(
    fake: FakeAgentSetup, tmp_path: Path, where: str
) -> None:
    home = tmp_path / "home"
    claude = tmp_path / "claude-config" if where == "config_dir" else home / ".claude"
    claude.mkdir(parents=True)
    env = fake.env(HOME=str(home))
    if where == "config_dir":
        env["CLAUDE_CONFIG_DIR"] = str(claude)
    assert doctor.check_claude_code(env).status == "ok"  # no cache file
    cache = claude / "mcp-needs-auth-cache.json"
    cache.write_text(json.dumps({"plugin:other:thing": {"timestamp": 1}}))
    assert doctor.check_claude_code(env).status == "ok"  # another server's entry
    cache.write_text(json.dumps({"plugin:codex-fusion:codex": {"timestamp": 1}}))
    report = await doctor.diagnose(fake.config(HOME=str(home)), env)
    [blocked] = [check for check in report if check.what == "Claude Code"]
    assert blocked.status == "fail"
    assert "will not start the server again" in blocked.detail
    assert f"`rm {cache}`" in blocked.fix
    assert "restart Claude Code" in blocked.fix
    assert "All checks passed." not in doctor.report(report)
