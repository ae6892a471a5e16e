"""``codex-fusion doctor``: is everything codex-fusion needs in place? One :class:`Check` per part.

It must see what the server will see: the same configuration (``planning.configure``) over the same
environment and the plugin's data directory (``CLAUDE_PLUGIN_DATA``, which Claude Code gives the server
but not a command's ``!`` shell: ``/codex-fusion:codex-setup`` and ``bin/codex-fusion`` pass it on). It
also looks at what can stop Claude Code from starting the server at all (:func:`check_claude_code`).

Every probe is bounded (the agent's start and login probe together by :data:`AGENT_PROBE`), so the
doctor answers in seconds and never hangs. Each failed check carries the exact fix, phrased for where
the user is: nothing here installs ``codex``, so a login is ``npx -y @openai/codex login``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from codex_fusion.acp.agent import StartOptions
from codex_fusion.acp.start import run_agent
from codex_fusion.cli.checks import Check
from codex_fusion.errors import LOGIN_COMMAND, AuthRequired, FusionError, HandlerError
from codex_fusion.hookside import interpreter, nonce, private, serverside
from codex_fusion.launch import installer
from codex_fusion.launch.config import NPX_FALLBACK, Config
from codex_fusion.launch.confine import Confinement
from codex_fusion.launch.login import OPENAI_KEY_FIX
from codex_fusion.launch.sessions import POLICY

#: Seconds for the agent to start, answer ``initialize`` and open a session.
AGENT_PROBE = 30.0
LOGIN = f"log in once in a terminal with `{LOGIN_COMMAND}`, or {OPENAI_KEY_FIX}"
#: How Claude Code names our MCP server (``plugin:<plugin>:<server key in .mcp.json>``).
SERVER_NAME = "plugin:codex-fusion:codex"
#: Where Claude Code remembers servers that "need authentication": it never starts them again.
AUTH_CACHE = "mcp-needs-auth-cache.json"
#: The plugin's own launcher, which sets the plugin's data directory and virtualenv.
PLUGIN_CLI = "the plugin's `bin/codex-fusion`"


def _version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if done.returncode == 0 and text else None


def check_tools(env: Mapping[str, str], config: Config) -> list[Check]:
    path = env.get("PATH", os.defpath)
    checks = [Check("ok", "python", f"{sys.version.split()[0]} ({sys.executable})")]
    uv = shutil.which("uv", path=path)
    uv_version = _version([uv, "--version"]) if uv else None
    checks.append(
        Check("ok", "uv", f"{uv_version} ({uv})")
        if uv and uv_version
        else Check(
            "fail",
            "uv",
            "not on PATH: Claude Code starts the server with `uv run`",
            "install it: `pip install uv`, or see https://docs.astral.sh/uv/getting-started/installation/",
        )
    )
    node = shutil.which("node", path=path)
    node_version = _version([node, "--version"]) if node else None
    needs_node = config.adapter != "rust"
    if node and node_version:
        major = int(node_version.lstrip("v").split(".")[0]) if node_version.lstrip("v")[:1].isdigit() else 0
        ok = major >= 20
        checks.append(
            Check(
                "ok" if ok else "fail",
                "node",
                f"{node_version} ({node})",
                "" if ok else "codex-acp needs Node.js 20 or newer: upgrade it",
            )
        )
    else:
        checks.append(
            Check(
                "fail" if needs_node else "warn",
                "node",
                "not on PATH",
                "install Node.js 20 or newer (it comes with npm and npx); codex-acp runs on it",
            )
        )
    checks.append(check_hook_python(config.state_dir, path))
    return checks


HOOK_PYTHON = "python3 for the hooks"


def check_hook_python(state: Path | None, path: str) -> Check:
    """The interpreter the hooks ran with, as the hook recorded it (``hookside/interpreter.py``): the
    doctor's own ``python3`` is the plugin's virtualenv, which says nothing about Claude Code's PATH."""
    minimum = ".".join(map(str, interpreter.MINIMUM))
    install = f"install Python {minimum} or newer as `python3` on the PATH Claude Code starts with"
    last = interpreter.read(state) if state is not None else None
    if last is None:
        found = shutil.which("python3", path=path)
        said = f"`python3` on this PATH: {found}" if found else "no `python3` on this PATH either"
        return Check(
            "fail" if found is None else "warn",
            HOOK_PYTHON,
            f"the hooks have not recorded theirs yet ({said})",
            install if found is None else "start a session in Claude Code (or `/clear`), then check again",
        )
    python, executable = str(last["python"]), str(last["executable"])
    age = max(0.0, time.time() - float(str(last["at"])))
    when = f"{age / 60:.0f} min" if age < 7200 else f"{age / 3600:.0f} h"
    said = f"Python {python} ({executable}), as the hooks ran it {when} ago"
    if interpreter.too_old(python):
        return Check("fail", HOOK_PYTHON, said, install)
    return Check("ok", HOOK_PYTHON, said)


def check_agent_command(config: Config) -> Check:
    command = f"{config.agent_command} (from {config.agent_source})"
    if shutil.which(config.agent_argv[0], path=config.agent_env.get("PATH", os.defpath)) is None:
        return Check(
            "fail",
            "agent command",
            f"{command}: `{config.agent_argv[0]}` not found",
            "run `codex-fusion setup` to install codex-acp, or set CODEX_FUSION_ACP_COMMAND",
        )
    if config.agent_source == NPX_FALLBACK:
        return Check(
            "warn",
            "agent command",
            f"{command}: npx resolves codex-acp on every start (seconds; minutes on a cold cache)",
            f"run `codex-fusion setup` to install {installer.PACKAGE}@{installer.PINNED} once",
        )
    return Check("ok", "agent command", command)


async def check_agent(config: Config) -> list[Check]:
    """Start the agent, ``initialize``, open a session (the login probe) and close it."""
    workspace = config.workspace.path
    if workspace is None:
        return [Check("fail", "agent", "not probed: no workspace")]
    check = config.launcher.check if config.launcher is not None else None
    options = StartOptions(
        config.agent_argv, workspace, config.agent_env, AGENT_PROBE, check=check, policy=POLICY
    )

    async def refuse(method: str, params: Any) -> Any:
        raise HandlerError(-32601, "the doctor answers nothing")

    started = time.monotonic()
    try:
        with anyio.fail_after(AGENT_PROBE + 5):
            async with run_agent(options, on_request=refuse, on_notification=lambda m, p: None) as agent:
                agent.fast_stop = True
                answered = Check("ok", "agent answers", f"{agent.name}, in {time.monotonic() - started:.1f}s")
                try:
                    opened = await agent.open_session(workspace, mode=config.agent_mode, timeout=AGENT_PROBE)
                except AuthRequired:
                    return [answered, Check("fail", "Codex login", "Codex is not logged in", LOGIN)]
                except FusionError as exc:
                    return [answered, Check("fail", "Codex session", exc.summary, "see the message above")]
                with anyio.move_on_after(5):
                    await agent.close_session(opened.session_id, timeout=5)
                opens = Check("ok", "Codex login", f"a session opens ({opened.mode_note})")
                return [answered, opens, *_confinement(agent.confinement)]
    except TimeoutError:
        return [
            Check(
                "fail",
                "agent answers",
                f"no answer within {AGENT_PROBE:g}s",
                "npx may still be downloading codex-acp: run `codex-fusion setup`, then try again",
            )
        ]
    except FusionError as exc:
        fix = "run `codex-fusion setup` (it installs the pinned codex-acp), or fix CODEX_FUSION_ACP_COMMAND"
        return [Check("fail", "agent answers", exc.summary, fix)]


def _confinement(confined: Confinement | None) -> list[Check]:
    """What the started agent was checked to have (``confine.py``)."""
    if confined is None:
        return []
    said = f"{confined.agent}: {confined.evidence}"
    if confined.enforced:
        return [Check("ok", "boundary check", said)]
    return [Check("warn", "boundary check", said, confined.note or "see the workspace boundary above")]


def check_places(config: Config, env: Mapping[str, str]) -> list[Check]:
    checks: list[Check] = []
    workspace = config.workspace
    checks.append(
        Check("ok", "workspace", str(workspace.path))
        if workspace.path is not None
        else Check("fail", "workspace", workspace.error or "none", "set CODEX_FUSION_WORKSPACE")
    )
    state = config.state_dir
    if state is None:
        checks.append(Check("fail", "data directory", "none", "set CLAUDE_PLUGIN_DATA or HOME"))
        return checks
    try:
        private.write_files(state, state, [])
    except OSError as exc:
        checks.append(
            Check("fail", "data directory", f"{state}: {exc}", "make it writable by you, or remove it")
        )
        return checks
    if env.get("CLAUDE_PLUGIN_DATA"):
        checks.append(Check("ok", "data directory", f"{state} (private, 0700)"))
    else:
        checks.append(
            Check(
                "warn",
                "data directory",
                f"{state}: not the plugin's (CLAUDE_PLUGIN_DATA is not set), so what is checked or "
                "installed here is not what the plugin's server uses",
                f"run {PLUGIN_CLI} (`! codex-fusion doctor` in Claude Code's prompt), or "
                "`/codex-fusion:codex-setup`",
            )
        )
    if workspace.path is None:
        return checks
    records = nonce.record_paths(state, workspace.path, None)
    latest = serverside.read_record(records.workspace)
    if latest is not None:
        age = max(0.0, time.time() - latest.at)
        checks.append(Check("ok", "hooks", f"last record: {latest.event}, {age / 60:.0f} min ago"))
    elif env.get("CLAUDE_PLUGIN_ROOT"):
        checks.append(
            Check(
                "fail",
                "hooks",
                f"no SessionStart record for this workspace in {state}",
                "check that the plugin is enabled (`/plugin`), then start a new session or `/clear`",
            )
        )
    else:
        checks.append(Check("warn", "hooks", "not run as the plugin: the hooks cannot be checked here"))
    return checks


def claude_config_dir(env: Mapping[str, str]) -> Path | None:
    """Claude Code's own directory: ``CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    configured = env.get("CLAUDE_CONFIG_DIR", "")
    if configured and os.path.isabs(configured):
        return Path(configured)
    home = env.get("HOME", "")
    return Path(home) / ".claude" if home and os.path.isabs(home) else None


def check_claude_code(env: Mapping[str, str]) -> Check:
    """After a failed first start Claude Code may list the server in its "needs authentication"
    cache, and then silently never starts it again (docs/claude-code-behaviour.md)."""
    directory = claude_config_dir(env)
    if directory is None:
        return Check("warn", "Claude Code", "no HOME: its settings cannot be checked")
    cache = directory / AUTH_CACHE
    try:
        raw = cache.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return Check("ok", "Claude Code", f"{SERVER_NAME} is not blocked ({cache} lists no server)")
    except OSError as exc:
        return Check("warn", "Claude Code", f"cannot read {cache}: {exc}")
    if not _names_server(raw):
        return Check("ok", "Claude Code", f"{SERVER_NAME} is not blocked by {cache}")
    return Check(
        "fail",
        "Claude Code",
        f"{cache} lists {SERVER_NAME} as needing authentication (left by a failed start): Claude Code "
        "will not start the server again",
        f"delete it (`rm {cache}`), then restart Claude Code; `/mcp` should then show "
        f"{SERVER_NAME} connected",
    )


def _names_server(raw: str) -> bool:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return SERVER_NAME in raw
    if isinstance(data, dict):
        return SERVER_NAME in data or SERVER_NAME in json.dumps(list(data.values()))
    return SERVER_NAME in json.dumps(data)


def check_boundary(config: Config) -> Check:
    if config.boundary_enforced:
        return Check(
            "ok",
            "workspace boundary",
            "planned: Codex's sandbox reads only the workspace and system files, and no Codex "
            "configuration from the workspace applies (checked when the agent starts)",
        )
    return Check(
        "warn",
        "workspace boundary",
        config.boundary_note or "not enforced",
        "use the codex-acp codex-fusion installs (`codex-fusion setup`) and its default mode",
    )


async def diagnose(config: Config, env: Mapping[str, str]) -> list[Check]:
    from codex_fusion.cli import doctor_members  # it builds on Check

    tools = await anyio.to_thread.run_sync(check_tools, env, config)
    places = await anyio.to_thread.run_sync(check_places, config, env)
    return [
        *tools,
        check_agent_command(config),
        *places,
        await anyio.to_thread.run_sync(check_claude_code, env),
        check_boundary(config),
        *await check_agent(config),
        *await doctor_members.check_members(config, AGENT_PROBE),
    ]


_MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


def report(checks: list[Check]) -> str:
    """The doctor's report: one line per check, the fix indented under each that is not ✓."""
    lines = []
    for check in checks:
        lines.append(f"{_MARKS[check.status]} {check.what}: {check.detail}")
        if check.fix and check.status != "ok":
            lines.append(f"    fix: {check.fix}")
    failed = sum(check.status == "fail" for check in checks)
    lines.append(
        "All checks passed."
        if not failed
        else f"{failed} problem(s): fix them, then check again with `/codex-fusion:codex-setup` in Claude "
        "Code (in a terminal: the plugin's `bin/codex-fusion doctor`)."
    )
    return "\n".join(lines)
