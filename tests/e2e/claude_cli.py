"""Driving the real Claude Code CLI in a sandbox: finding the binary, a private HOME, the plugin installed
from this repository's marketplace, and headless runs against a mock Anthropic API.

The CLI comes from ``scripts/provision-claude`` (npm ``@anthropic-ai/claude-code`` at a pinned version,
installed into ``$CODEX_FUSION_CLAUDE_DIR``, default ``~/.cache/codex-fusion/claude``). A missing CLI
skips the tests, or fails them when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

CLAUDE_PACKAGE = "@anthropic-ai/claude-code"
CLAUDE_VERSION = "2.1.329"

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "codex-fusion"
MARKETPLACE = "codex-fusion"
SERVER = "codex"
#: What Claude Code names the MCP server and its tools (``mcp__plugin_<plugin>_<server>__<tool>``).
SERVER_NAME = f"plugin:{PLUGIN}:{SERVER}"
TOOL_PREFIX = f"mcp__plugin_{PLUGIN}_{SERVER}__"
DUMMY_API_KEY = "sk-ant-api03-mock-" + "0" * 40

# Every run: no update checks, telemetry, error reports or other traffic beyond the (mock) API.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
# Environment worth keeping from the caller: the tools' locations and the locale, nothing personal.
PASSED_THROUGH = ("PATH", "USER", "LOGNAME", "TMPDIR", "PYENV_ROOT", "SSL_CERT_FILE", "SSL_CERT_DIR")


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail under ``CI=true`` (CI must install everything the tier needs)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Claude Code e2e prerequisites missing on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def claude_dir() -> Path:
    return Path(os.environ.get("CODEX_FUSION_CLAUDE_DIR") or "~/.cache/codex-fusion/claude").expanduser()


def find_claude(root: Path | None = None) -> Path | str:
    """The provisioned ``claude`` binary, or why there is none. Runs ``--version``: the package ships a
    placeholder stub at the same path until its postinstall has put the native binary there."""
    root = root or claude_dir()
    binary = root / CLAUDE_VERSION / "node_modules" / CLAUDE_PACKAGE / "bin" / "claude.exe"
    hint = f"run scripts/provision-claude (looked in {root})"
    if not os.access(binary, os.X_OK):
        return f"{CLAUDE_PACKAGE}@{CLAUDE_VERSION} is not installed; {hint}"
    try:
        out = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(root), **QUIET_ENV},
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{binary} does not run ({exc}); {hint}"
    if not out.startswith(f"{CLAUDE_VERSION} "):
        return f"{binary} is not Claude Code {CLAUDE_VERSION} (it says {out.strip()!r}); {hint}"
    return binary


def uv_cache_dir(uv: str) -> str:
    """The caller's uv cache (which ``uv sync --locked`` filled), as uv itself resolves it."""
    return subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()


def base_python() -> str:
    """The interpreter our own test venv was made from (the cached wheels were resolved for it)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


# --------------------------------------------------------------------------------------------------
# One headless run


@dataclass
class ClaudeRun:
    """A finished ``claude -p --output-format stream-json --verbose`` run."""

    returncode: int
    stdout: str
    stderr: str
    debug_log: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, returncode: int, stdout: str, stderr: str, debug_log: str) -> ClaudeRun:
        events = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
        return cls(returncode, stdout, stderr, debug_log, events)

    def of(self, type_: str, subtype: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == type_ and (subtype is None or e.get("subtype") == subtype)
        ]

    @property
    def init(self) -> dict[str, Any]:
        found = self.of("system", "init")
        assert found, f"no init event in the stream-json output:\n{self.describe()}"
        return found[0]

    @property
    def session_id(self) -> str:
        return str(self.init["session_id"])

    @property
    def result(self) -> dict[str, Any]:
        found = self.of("result")
        assert found, f"no result event in the stream-json output:\n{self.describe()}"
        return found[-1]

    def hook_responses(self, hook_name: str) -> list[dict[str, Any]]:
        """``hook_response`` events of one hook, e.g. ``SessionStart:startup``."""
        return [e for e in self.of("system", "hook_response") if e.get("hook_name") == hook_name]

    def mcp_connect_ms(self, server: str = SERVER_NAME) -> float | None:
        """How long Claude Code took to connect the server, from its debug log."""
        pattern = re.escape(f'MCP server "{server}": Successfully connected') + r".*? in (\d+)ms"
        match = re.search(pattern, self.debug_log)
        return float(match.group(1)) if match else None

    def describe(self) -> str:
        lines = [x for x in self.debug_log.splitlines() if "MCP" in x or "Hook" in x or "rror" in x]
        return (
            f"exit {self.returncode}\n--- stdout (tail)\n{self.stdout[-4000:]}\n--- stderr (tail)\n"
            f"{self.stderr[-2000:]}\n--- debug log (MCP, hooks, errors)\n" + "\n".join(lines[-60:])
        )


# --------------------------------------------------------------------------------------------------
# The sandbox


class ClaudeSandbox:
    """A private HOME and project directory for the real CLI (``install_plugin`` adds this repository's
    plugin).

    Nothing is inherited that could reach the caller's own Claude Code setup: HOME is the sandbox, and
    only ``PASSED_THROUGH`` variables survive. uv gets the caller's cache and interpreter explicitly
    (``UV_CACHE_DIR``, ``UV_PYTHON``) and ``UV_OFFLINE=1``: its default cache lives under HOME, so with a
    sandboxed HOME the server's first ``uv run`` would otherwise find an empty cache and go to PyPI.
    """

    def __init__(self, root: Path, claude: Path, uv: str) -> None:
        self.root = root
        self.claude = claude
        self.uv = uv
        self.home = root / "home"
        self.project = root / "project"
        self.logs = root / "logs"
        for directory in (self.home, self.project, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        self._uv_cache = uv_cache_dir(uv)
        self._runs = 0

    @property
    def settings_path(self) -> Path:
        return self.home / ".claude" / "settings.json"

    @property
    def plugin_data(self) -> Path:
        """``${CLAUDE_PLUGIN_DATA}`` of the installed plugin (``<plugin>-<marketplace>``)."""
        return self.home / ".claude" / "plugins" / "data" / f"{PLUGIN}-{MARKETPLACE}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        uv_dir = str(Path(self.uv).parent)
        env["PATH"] = os.pathsep.join([uv_dir, env.get("PATH", os.defpath)])
        env.update(
            HOME=str(self.home),
            LANG="C.UTF-8",
            LC_ALL="C.UTF-8",
            TERM="dumb",
            SHELL="/bin/bash",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            UV_CACHE_DIR=self._uv_cache,
            UV_PYTHON=base_python(),
            UV_OFFLINE="1",
            **QUIET_ENV,
        )
        env.update(extra or {})
        return env

    def update_settings(self, **fields: Any) -> None:
        """Merge top-level fields into the sandboxed user's ``~/.claude/settings.json``. (Merge, never
        overwrite: ``plugin install`` keeps ``enabledPlugins`` and the marketplace there.)"""
        self.settings_path.parent.mkdir(parents=True, exist_ok=True)
        current = json.loads(self.settings_path.read_text()) if self.settings_path.exists() else {}
        current.update(fields)
        self.settings_path.write_text(json.dumps(current, indent=2) + "\n")

    def run(
        self, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.claude), *args],
            cwd=self.project,
            env=self.env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def check(self, *args: str, timeout: float = 120) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, (
            f"claude {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout

    def install_plugin(self, source: Path = REPO, config: Sequence[str] = ()) -> dict[str, Any]:
        """``plugin marketplace add <source>`` + ``plugin install codex-fusion@<marketplace>`` (with
        ``--config k=v`` for each of ``config``); returns the ``plugin list --json`` entry."""
        self.check("plugin", "marketplace", "add", str(source))
        options = [arg for item in config for arg in ("--config", item)]
        self.check("plugin", "install", f"{PLUGIN}@{MARKETPLACE}", *options)
        listed = json.loads(self.check("plugin", "list", "--json"))
        entry = next((p for p in listed if p.get("id") == f"{PLUGIN}@{MARKETPLACE}"), None)
        assert entry is not None, f"{PLUGIN}@{MARKETPLACE} not in plugin list: {listed}"
        return entry

    def _headless(
        self,
        base_url: str,
        allowed_tools: Sequence[str],
        extra_env: Mapping[str, str] | None,
        extra_args: Sequence[str],
    ) -> tuple[list[str], dict[str, str], Path]:
        """The arguments after ``-p …``, the environment and the debug log of a run against the mock."""
        self._runs += 1
        debug_file = self.logs / f"debug-{self._runs}.log"
        env = {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": DUMMY_API_KEY,
            # MCP tools in turn 1: no tool search (tools offered directly) and wait for the servers,
            # up to MCP_CONNECT_TIMEOUT_MS (default 5 s, less than a cold `uv run`).
            "ENABLE_TOOL_SEARCH": "false",
            "MCP_CONNECTION_NONBLOCKING": "0",
            "MCP_CONNECT_TIMEOUT_MS": "120000",
            # Claude Code's connect bound (30 s by default); generous so a slow CI box does not flake.
            "MCP_TIMEOUT": "120000",
            **(extra_env or {}),
        }
        args = ["--output-format", "stream-json", "--verbose", "--debug-file", str(debug_file)]
        if allowed_tools:
            args += ["--allowedTools", ",".join(allowed_tools)]
        args += list(extra_args)
        return args, self.env(env), debug_file

    def ask(
        self,
        prompt: str,
        *,
        base_url: str,
        allowed_tools: list[str] | tuple[str, ...] = (),
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 240,
    ) -> ClaudeRun:
        """``claude -p <prompt> --output-format stream-json --verbose`` against the mock at ``base_url``."""
        args, env, debug_file = self._headless(base_url, allowed_tools, extra_env, extra_args)
        done = subprocess.run(
            [str(self.claude), "-p", prompt, *args],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        debug_log = debug_file.read_text(errors="replace") if debug_file.exists() else ""
        return ClaudeRun.parse(done.returncode, done.stdout, done.stderr, debug_log)

    def converse(
        self,
        prompt: str,
        *,
        base_url: str,
        until: Callable[[list[dict[str, Any]]], bool],
        allowed_tools: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 240,
    ) -> ClaudeRun:
        """Like :meth:`ask`, but the prompt goes in as ``--input-format stream-json`` and stdin stays
        open until ``until(events so far)`` is true (or ``timeout``): the session lives on after the
        model's turn, as an interactive one does, so background tasks can still report back. ``-p``
        alone winds down a few seconds after the model's last turn and drops them."""
        args, env, debug_file = self._headless(base_url, allowed_tools, extra_env, extra_args)
        args = ["-p", "--input-format", "stream-json", *args]
        process = subprocess.Popen(
            [str(self.claude), *args],
            cwd=self.project,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stdin, stdout, stderr_pipe = process.stdin, process.stdout, process.stderr
        assert stdin is not None
        assert stdout is not None
        assert stderr_pipe is not None
        lines: list[str] = []
        events: list[dict[str, Any]] = []
        changed = threading.Condition()
        stderr: list[str] = []

        def read_stdout() -> None:
            for line in stdout:
                with changed:
                    lines.append(line)
                    if line.lstrip().startswith("{"):
                        with contextlib.suppress(ValueError):
                            events.append(json.loads(line))
                    changed.notify_all()
            with changed:
                changed.notify_all()

        readers = [
            threading.Thread(target=read_stdout, daemon=True),
            threading.Thread(target=lambda: stderr.extend(stderr_pipe), daemon=True),
        ]
        for reader in readers:
            reader.start()
        message = {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": prompt}]}}
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        deadline = time.monotonic() + timeout
        with changed:
            while not until(list(events)) and process.poll() is None and time.monotonic() < deadline:
                changed.wait(timeout=0.5)
        stdin.close()
        try:
            returncode = process.wait(timeout=max(5.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            returncode = process.wait()
        for reader in readers:
            reader.join(timeout=5)
        debug_log = debug_file.read_text(errors="replace") if debug_file.exists() else ""
        return ClaudeRun.parse(returncode, "".join(lines), "".join(stderr), debug_log)


def which_uv() -> str | None:
    return shutil.which("uv")


def server_process_envs(home: Path) -> list[dict[str, str]]:
    """The environments of the running ``codex-fusion serve`` processes (``uv run`` and its Python)
    started by a Claude Code whose HOME is ``home``, read from ``/proc`` (Linux; ``[]`` elsewhere)."""
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"codex-fusion" not in argv or b"serve" not in argv:
                continue
            raw = (entry / "environ").read_bytes()
        except OSError:
            continue
        env = dict(
            item.decode("utf-8", "replace").partition("=")[::2] for item in raw.split(b"\0") if b"=" in item
        )
        if env.get("HOME") == str(home):
            found.append(env)
    return found
