"""Where Codex executes: the sandbox profile, the environment and the login codex-fusion gives its own
Codex session (docs/security.md, ADR 0006).

Commands Codex runs on its own are judged by Codex's sandbox, never by the guardian. codex-fusion hands
that sandbox a permission profile of its own — read the workspace and the system's minimal set, write
nothing, no network — as Codex config overrides (``-c key=value``) for this session only, never through
the user's ``config.toml``. Rust codex-acp takes ``-c`` on its command line; TypeScript codex-acp starts
``codex app-server`` itself, so its ``CODEX_PATH`` points at a shim that starts the adapter's own Codex
with the same overrides. Everything here is pure except :func:`detect` (reads package files) and
:func:`write_shim`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROFILE = "codex-fusion"
#: The TypeScript adapter's session mode for a permission profile (``permission-profile:<name>``).
PROFILE_MODE = f"permission-profile:{PROFILE}"
TS_PACKAGE = "@agentclientprotocol/codex-acp"
RUST_PACKAGE = "@zed-industries/codex-acp"
KEY_VARS = ("OPENAI_API_KEY", "CODEX_API_KEY")
READ_ONLY = "read-only"

#: What the agent inherits from the server's environment (plus ``LC_*``); nothing else.
_PASSED = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "TMPDIR", "TEMP", "TMP"),
        *("LANG", "LANGUAGE", "CODEX_HOME", "CODEX_PATH", "CODEX_CONFIG", "MODEL_PROVIDER", "RUST_LOG"),
        *("OPENAI_BASE_URL", "OPENAI_ORGANIZATION", "OPENAI_PROJECT", "NO_BROWSER"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
        *("CODEX_CA_CERTIFICATE", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"),  # keyring logins
        *("SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "USERPROFILE", "APPDATA", "LOCALAPPDATA"),
        *(f"{name}{suffix}" for name in ("HTTP", "HTTPS", "ALL", "NO") for suffix in ("_PROXY",)),
        *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
    }
)
_PASSED_PREFIXES = ("LC_", "npm_config_", "NPM_CONFIG_")  # locale; npx's own settings
#: Kept out of every command Codex runs, on top of Codex's own ``*KEY*``/``*SECRET*``/``*TOKEN*``.
_COMMAND_EXCLUDES = (*KEY_VARS, "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*", "*PRIVATE*", "*AUTH*")
_USERINFO = re.compile(r"://[^/@\s]*@")  # a proxy URL with a user name or password in it


@dataclass(frozen=True)
class Launch:
    """Which codex-acp an agent command starts, and what its Codex's sandbox must read to start."""

    adapter: str  # "ts" | "rust" | "unknown"
    codex: Path | None = None  # TS: the adapter's own Codex binary; None: the shim looks on PATH (npx)
    helper: Path | None = None  # Codex re-executes this inside its sandbox (openai/codex#29049)


@dataclass(frozen=True)
class Plan:
    """How codex-fusion launches the agent, and what it could not enforce."""

    launch: Launch
    argv: tuple[str, ...]  # the agent command, with the Rust adapter's ``-c`` overrides
    env: dict[str, str]  # the agent's whole environment
    shim: str | None  # TS: the start-up script to write, its path then going into ``CODEX_PATH``
    profile: bool  # Codex's sandbox gets codex-fusion's permission profile
    ephemeral_login: bool  # an API-key login stays in the agent's memory (no auth.json)
    note: str | None  # for Claude when the boundary is not (fully) enforced


# --- the environment -------------------------------------------------------------------------------


def agent_env(
    source: Mapping[str, str], extra: Iterable[str] = (), keys: Iterable[str] = ()
) -> dict[str, str]:
    """The allowlisted part of ``source``: the names and prefixes above, the ``extra`` names (a trailing
    ``*`` matches a prefix) and the key variables in ``keys``."""
    patterns = [name.strip() for name in extra if name.strip()]
    wanted = set(keys)

    def passed(name: str) -> bool:
        if name in _PASSED or name in wanted or name.startswith(_PASSED_PREFIXES):
            return True
        return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)

    return {name: value for name, value in source.items() if passed(name)}


def command_excludes(env: Mapping[str, str]) -> list[str]:
    """Names Codex must not pass to the commands it runs: keys, secret-looking names, proxies whose URL
    carries credentials."""
    proxies = sorted(
        name for name, value in env.items() if "proxy" in name.lower() and _USERINFO.search(value)
    )
    return [*_COMMAND_EXCLUDES, *proxies]


def provider_key_var(codex_home: Path) -> str | None:
    """The ``env_key`` of the model provider the user's ``config.toml`` selects, if it names one."""
    import tomllib

    try:
        config = tomllib.loads((codex_home / "config.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    provider = config.get("model_provider")  # (Codex 0.166 refuses the legacy `profile = …` key)
    providers = config.get("model_providers")
    entry = providers.get(provider) if isinstance(providers, dict) and isinstance(provider, str) else None
    key = entry.get("env_key") if isinstance(entry, dict) else None
    return key if isinstance(key, str) and key else None


def codex_home(env: Mapping[str, str]) -> Path:
    value = env.get("CODEX_HOME", "").strip()
    return Path(value).expanduser() if value else Path(env.get("HOME") or Path.home()) / ".codex"


# --- the overrides ---------------------------------------------------------------------------------


def toml(value: object) -> str:
    """``value`` as a TOML value (strings, booleans, lists and tables of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = "".join(
            {"\\": "\\\\", '"': '\\"'}.get(ch, ch) if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}"
            for ch in value
        )
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def overrides(
    *,
    profile: bool,
    external_reads: bool,
    helper: Path | None,
    excludes: Sequence[str],
    ephemeral: bool,
    writes: bool = False,
) -> list[str]:
    """The ``-c`` arguments: the profile (if ``profile``), the command environment, the login store.

    ``writes``: the workspace roots are writable (a delegated task's worktree, ``tasks/``); nothing
    else is, and the network stays off."""
    pairs: list[tuple[str, object]] = []
    if profile:
        filesystem: dict[str, object] = {
            ":root" if external_reads else ":minimal": "read",
            ":workspace_roots": {".": "write" if writes else "read"},
        }
        if helper is not None:
            filesystem[str(helper)] = "read"
        pairs += [
            ("default_permissions", PROFILE),
            (f"permissions.{PROFILE}.filesystem", filesystem),
            (f"permissions.{PROFILE}.network.enabled", False),
            ("approval_policy", "on-request"),  # escalations come to Claude
        ]
    pairs += [
        ("shell_environment_policy.inherit", "all"),  # the agent's environment is already allowlisted
        ("shell_environment_policy.ignore_default_excludes", False),
        ("shell_environment_policy.exclude", list(excludes)),
        ("features.shell_snapshot", False),  # a snapshot of the login shell would bring ~/.bashrc's exports
    ]
    if ephemeral:
        pairs.append(("cli_auth_credentials_store", "ephemeral"))
    args: list[str] = []
    for key, value in pairs:
        args += ["-c", f"{key}={toml(value)}"]
    return args


# --- which adapter ---------------------------------------------------------------------------------


def _package(path: Path) -> tuple[str, Path] | None:
    """The npm package ``path`` belongs to: its name and directory."""
    for parent in list(path.parents)[:4]:
        try:
            data = json.loads((parent / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return (str(data.get("name", "")), parent) if isinstance(data, dict) else None
    return None


def _find_below(package_dir: Path, pattern: str) -> Path | None:
    """The first ``pattern`` match in the ``node_modules`` Node would resolve from ``package_dir``."""
    for base in (package_dir, *package_dir.parents):
        modules = base if base.name == "node_modules" else base / "node_modules"
        for match in sorted(modules.glob(pattern)):
            if os.access(match, os.X_OK):
                return match
    return None


def _npx_dir(env: Mapping[str, str]) -> Path:
    cache = env.get("npm_config_cache") or str(Path(env.get("HOME") or Path.home()) / ".npm")
    return Path(cache) / "_npx"


def _ts(env: Mapping[str, str], codex: Path | None, helper: Path | None) -> Launch:
    user = env.get("CODEX_PATH", "").strip()  # the adapter starts this Codex instead of its own
    return Launch("ts", Path(user), Path(user).resolve()) if user else Launch("ts", codex, helper)


def detect(argv: Sequence[str], env: Mapping[str, str]) -> Launch:
    """Recognise the TypeScript or Rust codex-acp behind ``argv`` (a path, ``node`` + script, npx)."""
    if not argv:
        return Launch("unknown")
    program = shutil.which(argv[0], path=env.get("PATH", os.defpath)) or argv[0]
    name = Path(program).name.lower()
    if name.startswith(("npx", "npm", "pnpm", "bunx")):  # the install is not there yet
        for arg in argv[1:]:
            if arg.startswith(TS_PACKAGE):
                return _ts(env, None, _npx_dir(env))
            if arg.startswith(RUST_PACKAGE):
                return Launch("rust", None, _npx_dir(env))
        return Launch("unknown")
    target = Path(program)
    if name.startswith("node"):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script is None:
            return Launch("unknown")
        target = Path(script)
    target = target.resolve()
    found = _package(target)
    package, where = found if found else ("", target.parent)
    if package == TS_PACKAGE:
        codex = _find_below(where, "@openai/codex-*/vendor/*/bin/codex")
        return _ts(env, codex, codex.parent.parent if codex else None)
    if package == RUST_PACKAGE:
        binary = _find_below(where, f"{RUST_PACKAGE}-*/bin/codex-acp")
        return Launch("rust", binary, binary) if binary else Launch("unknown")
    if package.startswith(RUST_PACKAGE + "-") or (target.stem == "codex-acp" and _native(target)):
        return Launch("rust", target, target)  # the platform package, or a binary built with cargo
    return Launch("unknown")


def _native(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"MZ\x90\x00")
    except OSError:
        return False


# --- the shim for the TypeScript adapter -----------------------------------------------------------

_SHIM = """#!/bin/sh
# Written by codex-fusion (docs/security.md): starts the Codex app-server of the codex-acp adapter with
# codex-fusion's sandbox profile, command environment and login store. Safe to delete.
codex={codex}
if [ -z "$codex" ]; then
    # npx puts the adapter's own node_modules/.bin first on PATH; its codex is the one to start.
    set -f; IFS=:
    for dir in $PATH; do
        if [ -x "$dir/codex-acp" ] && [ -x "$dir/codex" ]; then codex=$dir/codex; break; fi
    done
    unset IFS; set +f
fi
if [ -z "$codex" ]; then
    echo "codex-fusion: cannot find the Codex of the codex-acp adapter; set CODEX_PATH to it" >&2
    exit 127
fi
exec "$codex" "$@" {args}
"""


def shim_text(codex: Path | None, args: Sequence[str]) -> str:
    return _SHIM.format(codex=shlex.quote(str(codex)) if codex else "''", args=shlex.join(args))


def write_shim(state_dir: Path, text: str) -> Path:
    """Write ``text`` as ``<state_dir>/bin/codex-<hash>`` (0700; the same text, the same file)."""
    from .private import write_files

    directory = state_dir / "bin"
    name = "codex-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    write_files(state_dir, directory, [(name, text.encode())])  # private dirs, atomic, no symlinks
    fd = os.open(directory / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return directory / name


# --- the plan --------------------------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def plan(
    source: Mapping[str, str],
    argv: Sequence[str],
    launch: Launch,
    *,
    mode: str | None,
    external_reads: bool,
    logged_in: bool,
    provider_key: str | None,
    shim_ok: bool,
    writes: bool = False,
) -> Plan:
    """How to launch the agent. ``mode`` is the user's ``CODEX_FUSION_AGENT_MODE`` (None: unset),
    ``logged_in`` whether ``CODEX_HOME/auth.json`` exists, ``provider_key`` the configured provider's
    ``env_key``, ``shim_ok`` whether a shim can be written and run here, ``writes`` whether the
    profile lets Codex write its workspace roots (a delegated task's worktree; never the workspace)."""
    notes: list[str] = []
    inject = launch.adapter == "rust" or (launch.adapter == "ts" and shim_ok)
    if launch.adapter == "unknown":
        notes.append(
            "Codex can read outside the workspace with this agent: codex-fusion does not recognise "
            f"`{shlex.join(argv)}` as codex-acp, so it cannot give Codex's sandbox its permission profile."
        )
    elif not inject:
        notes.append(
            "Codex can read outside the workspace with this adapter: the TypeScript codex-acp gets its "
            "permission profile through a start-up script, and there is no private directory to write it "
            "in or no POSIX shell to run it (set CLAUDE_PLUGIN_DATA or HOME)."
        )
    # read-only is the documented default: codex-fusion's profile is a stricter read-only.
    profile = inject and mode in (None, READ_ONLY, PROFILE_MODE)
    if inject and not profile:
        notes.append(
            f"Codex can read outside the workspace: CODEX_FUSION_AGENT_MODE={mode} selects codex-acp's own "
            "sandbox mode, which lets Codex's commands read any file you can; unset it to confine them."
        )
    if profile and external_reads:
        notes.append(
            "Codex can read outside the workspace: CODEX_FUSION_ALLOW_EXTERNAL_READS is set, so its sandbox "
            "may read every file you can (it still writes nothing and has no network)."
        )
    keys = [] if logged_in else [name for name in KEY_VARS if source.get(name)]
    withheld: list[str] = []
    if keys and not inject and not _truthy(source.get("CODEX_FUSION_STORE_API_KEY")):
        notes.append(
            f"{' and '.join(keys)} is set but not given to this agent: codex-fusion cannot keep it from "
            "storing a key it logs in with (codex-acp writes CODEX_HOME/auth.json). Log in with "
            "`codex login`, or set CODEX_FUSION_STORE_API_KEY=1 to let it store the key."
        )
        keys, withheld = [], keys
    ephemeral = bool(keys) and inject
    if provider_key and source.get(provider_key) and provider_key not in (*keys, *withheld):
        keys.append(provider_key)  # the configured provider reads it on each request; nothing stores it
    env = agent_env(source, re.split(r"[,\s]+", source.get("CODEX_FUSION_AGENT_ENV", "")), keys)
    env["INITIAL_AGENT_MODE"] = PROFILE_MODE if profile else (mode or READ_ONLY)
    env.setdefault("NO_BROWSER", "1")  # nobody can finish a browser login inside an MCP server
    args: list[str] = []
    if inject:
        excludes = command_excludes(env)
        args = overrides(
            profile=profile,
            external_reads=external_reads,
            helper=launch.helper,
            excludes=excludes,
            ephemeral=ephemeral,
            writes=writes,
        )
    return Plan(
        launch,
        argv=(*argv, *args) if launch.adapter == "rust" else tuple(argv),
        env=env,
        shim=shim_text(launch.codex, args) if inject and launch.adapter == "ts" else None,
        profile=profile,
        ephemeral_login=ephemeral,
        note=" ".join(notes) or None,
    )
