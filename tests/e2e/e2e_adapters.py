"""Locating the provisioned codex-acp adapters and preparing their launch (config, env).

Shared by conftest.py and the e2e tests (kept out of conftest.py so tests can import it by name).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent


TS_PACKAGE = "@agentclientprotocol/codex-acp"
TS_VERSION = "2.6.0"
RUST_PACKAGE = "@zed-industries/codex-acp"
RUST_VERSION = "0.16.0"
ADAPTER_NAMES = ("ts", "rust")

# Works with both adapters (bundled Codex 0.166 in TS; TS with gpt-5.4 offers no apply_patch tool and
# prefixes the answer with a "Model metadata ... not found" warning; gpt-6.x names get no function tools).
MOCK_MODEL = "gpt-5.5"


def adapters_dir() -> Path:
    return Path(os.environ.get("CODEX_FUSION_ADAPTERS_DIR") or "~/.cache/codex-fusion/adapters").expanduser()


@dataclass(frozen=True)
class Adapter:
    """One installed codex-acp adapter and how to drive it."""

    name: str  # "ts" | "rust"
    argv: list[str]
    version: str
    env: dict[str, str] = field(default_factory=dict)  # additions to the launch env
    path_prepend: list[str] = field(default_factory=list)  # dirs to put first on PATH (bwrap)
    # Mode ids (from session/new ``modes``):
    ask_mode: str = ""  # escalated exec -> session/request_permission comes to the client
    write_mode: str = ""  # workspace writes without asking; outside writes ask
    allow_option: str = ""  # optionId of the allow_once option
    reject_option: str = ""  # optionId of the (turn-ending) reject_once option
    exits_on_eof: bool = True  # TS exits ~2 s after stdin EOF; Rust ignores EOF


def _platform_suffix() -> str | None:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system())
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if system is None or machine is None:
        return None
    return f"{system}-{machine}"


def _installed_version(prefix: Path, package: str) -> str | None:
    try:
        return str(json.loads((prefix / "node_modules" / package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def find_bwrap(root: Path | None = None) -> Path | None:
    """The bubblewrap bundled with @openai/codex (pulled in by the TS adapter), else a system one."""
    base = (root or adapters_dir()) / f"ts-{TS_VERSION}" / "node_modules" / "@openai"
    if base.is_dir():
        for candidate in sorted(base.glob("codex-*/vendor/*/codex-resources/bwrap")):
            if os.access(candidate, os.X_OK):
                return candidate
    system = shutil.which("bwrap")
    return Path(system) if system else None


def find_adapters(root: Path | None = None) -> dict[str, Adapter | str]:
    """name -> Adapter, or name -> reason why it is unusable."""
    root = root or adapters_dir()
    hint = f"run scripts/provision-adapters (looked in {root})"
    out: dict[str, Adapter | str] = {}
    bwrap = find_bwrap(root)
    bwrap_dirs = [str(bwrap.parent)] if bwrap else []

    node = shutil.which("node")
    ts_prefix = root / f"ts-{TS_VERSION}"
    ts_entry = ts_prefix / "node_modules" / TS_PACKAGE / "dist" / "index.js"
    ts_version = _installed_version(ts_prefix, TS_PACKAGE)
    if node is None:
        out["ts"] = "node is not on PATH"
    elif ts_version != TS_VERSION or not ts_entry.is_file():
        out["ts"] = f"{TS_PACKAGE}@{TS_VERSION} not installed (found {ts_version}); {hint}"
    else:
        out["ts"] = Adapter(
            name="ts",
            argv=[node, str(ts_entry)],
            version=ts_version,
            # Default mode "agent" routes approvals to Codex's own LLM reviewer, never to the client.
            env={"INITIAL_AGENT_MODE": "workspace-write"},
            # TS falls back to its bundled bwrap anyway, but logs an ERROR line when none is on PATH.
            path_prepend=bwrap_dirs,
            ask_mode="workspace-write",
            write_mode="workspace-write",
            allow_option="allow_once",
            reject_option="cancel",
            exits_on_eof=True,
        )

    suffix = _platform_suffix()
    rust_prefix = root / f"rust-{RUST_VERSION}"
    rust_bin = rust_prefix / "node_modules" / f"{RUST_PACKAGE}-{suffix}" / "bin" / "codex-acp"
    rust_version = _installed_version(rust_prefix, RUST_PACKAGE)
    if suffix is None:
        out["rust"] = f"unsupported platform {platform.system()}/{platform.machine()}"
    elif rust_version != RUST_VERSION or not os.access(rust_bin, os.X_OK):
        out["rust"] = f"{RUST_PACKAGE}@{RUST_VERSION} not installed (found {rust_version}); {hint}"
    elif platform.system() == "Linux" and bwrap is None:
        out["rust"] = f"no bubblewrap found for the Rust adapter; {hint}"
    else:
        out["rust"] = Adapter(
            name="rust",
            argv=[str(rust_bin)],
            version=rust_version,
            env={},
            # Without bwrap on PATH every sandboxed command fails ("bubblewrap is unavailable").
            path_prepend=bwrap_dirs,
            ask_mode="read-only",  # the default for an untrusted project
            write_mode="auto",  # set_mode auto also writes project trust into CODEX_HOME/config.toml
            allow_option="approved",
            reject_option="abort",
            exits_on_eof=False,
        )
    return out


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"e2e adapters unavailable on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def write_codex_config(codex_home: Path, base_url: str, model: str = MOCK_MODEL) -> Path:
    """``config.toml`` selecting a non-OpenAI provider (so no login is needed) pointing at ``base_url``."""
    codex_home.mkdir(parents=True, exist_ok=True)
    config = codex_home / "config.toml"
    config.write_text(
        f"model = {json.dumps(model)}\n"
        'model_provider = "mock"\n'
        "\n"
        "[model_providers.mock]\n"
        'name = "Mock"\n'
        f"base_url = {json.dumps(base_url)}\n"
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    return config


def make_adapter_env(
    adapter: Adapter,
    codex_home: Path,
    home: Path,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A minimal, explicit env: nothing inherited except PATH (and locale basics); no API keys, no
    proxies; sandboxed HOME; CODEX_HOME; NO_BROWSER."""
    home.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([*adapter.path_prepend, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    env = {
        "PATH": path,
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "NO_BROWSER": "1",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SHELL": "/bin/bash",
        "TERM": "dumb",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for key in ("USER", "LOGNAME"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(adapter.env)
    env.update(extra or {})
    for key in ("OPENAI_API_KEY", "CODEX_API_KEY"):
        env.pop(key, None)
    return env
