"""Where Codex executes: the sandbox profile, the environment and the login codex-fusion gives its own
Codex session (docs/security.md, ADR 0006).

Commands Codex runs on its own are judged by Codex's sandbox, never by the guardian. codex-fusion hands
that sandbox a permission profile of its own — read the workspace and the system's minimal set, write
nothing, no network — as Codex config overrides (``-c key=value``) for this session only, never through
the user's ``config.toml``. Rust codex-acp takes ``-c`` on its command line; TypeScript codex-acp starts
``codex app-server`` itself, so its ``CODEX_PATH`` points at a shim that starts the adapter's own Codex
behind codex-fusion's relay (``relay.py``) with the same overrides.

The overrides also switch off every configuration the workspace could bring (ADR 0008): each directory
from the workspace up to ``/`` is marked untrusted for this session, which disables the project layers
(``.codex/config.toml``, hooks, exec-policy rules) of the workspace and of any repository around it,
and ``project_root_markers = []`` keeps Codex from walking above the workspace for ``AGENTS.md``. The
profile's name is random per start, so no file can have a ``[permissions.<name>]`` table that merges
into it. Which adapter a command starts is ``adapters.py``'s; what the agent inherits, ``allowlist.py``'s.
Everything here is pure except :func:`write_shim`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codex_fusion.errors import LOGIN_COMMAND
from codex_fusion.launch.adapters import Launch
from codex_fusion.launch.allowlist import KEY_VARS, agent_env, codex_home, command_excludes

PROFILE_PREFIX = "codex-fusion-"
#: The TypeScript adapter's session mode for a permission profile is ``permission-profile:<name>``.
PROFILE_MODE_PREFIX = "permission-profile:"
#: The environment variable that carries the relay's instructions to the TypeScript adapter's Codex.
RELAY_SPEC = "CODEX_FUSION_RELAY"
READ_ONLY = "read-only"


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
    #: The overrides given to Codex (Rust: on its command line; TS: through the relay), for checking.
    overrides: tuple[str, ...] = ()
    #: The permission profile's name (random per start), when the profile is given.
    profile_name: str | None = None
    #: The workspace's project configuration is switched off for this session (ADR 0008).
    isolated: bool = False


def new_profile_name() -> str:
    """A profile name no file can know in advance, so no config layer can merge into the profile."""
    return PROFILE_PREFIX + secrets.token_hex(8)


def profile_mode(name: str) -> str:
    return PROFILE_MODE_PREFIX + name


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


def isolation(workspace: Path) -> list[tuple[str, object]]:
    """The overrides that switch off the workspace's own Codex configuration (ADR 0008): every directory
    from the workspace to ``/`` untrusted for this session (a session flag outranks the user's
    ``[projects]`` trust, so a project they trusted in Codex is untrusted here too), and no walking
    above the workspace for the project root (``AGENTS.md`` of an enclosing repository)."""
    untrusted = {
        str(directory): {"trust_level": "untrusted"} for directory in (workspace, *workspace.parents)
    }
    return [("projects", untrusted), ("project_root_markers", [])]


def overrides(
    *,
    profile: str | None,
    external_reads: bool,
    helper: Path | None,
    excludes: Sequence[str],
    ephemeral: bool,
    workspace: Path | None,
    writes: bool = False,
    command_env: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``-c`` arguments: the permission profile named ``profile`` (if any), the workspace's project
    configuration switched off, the command environment, the login store.

    ``command_env`` is set in every command Codex runs after its excludes apply: the git lockdown's
    ``GIT_CONFIG_KEY_<n>`` would fall to Codex's own ``*KEY*`` exclude and leave ``GIT_CONFIG_COUNT``
    pointing at keys that are not there (git then refuses to run at all).

    ``writes``: the workspace roots are writable — a delegated task's worktree (``tasks/``), never the
    user's workspace; nothing else is, and the network stays off."""
    pairs: list[tuple[str, object]] = []
    if profile is not None:
        filesystem: dict[str, object] = {
            ":root" if external_reads else ":minimal": "read",
            ":workspace_roots": {".": "write" if writes else "read"},
        }
        if helper is not None:
            filesystem[str(helper)] = "read"
        pairs += [
            ("default_permissions", profile),
            (f"permissions.{profile}.filesystem", filesystem),
            (f"permissions.{profile}.network.enabled", False),
            ("approval_policy", "on-request"),  # escalations come to Claude
        ]
    if workspace is not None:
        pairs += isolation(workspace)
    pairs += [
        ("shell_environment_policy.inherit", "all"),  # the agent's environment is already allowlisted
        ("shell_environment_policy.ignore_default_excludes", False),
        ("shell_environment_policy.exclude", list(excludes)),
        *([("shell_environment_policy.set", dict(command_env))] if command_env else []),
        ("features.shell_snapshot", False),  # a snapshot of the login shell would bring ~/.bashrc's exports
    ]
    if ephemeral:
        pairs.append(("cli_auth_credentials_store", "ephemeral"))
    args: list[str] = []
    for key, value in pairs:
        args += ["-c", f"{key}={toml(value)}"]
    return args


# --- the shim for the TypeScript adapter -----------------------------------------------------------

_SHIM = """#!/bin/sh
# Written by codex-fusion (docs/security.md, ADR 0008): the TypeScript codex-acp starts this as its Codex;
# it starts the adapter's own Codex app-server behind codex-fusion's relay, which gives it codex-fusion's
# permission profile and keeps the workspace's own Codex configuration out. Safe to delete.
exec {python} -I -m codex_fusion.launch.relay "$@"
"""


def shim_text(python: str | None = None) -> str:
    """The shim: the same text for every start (what changes travels in :data:`RELAY_SPEC`)."""
    return _SHIM.format(python=shlex.quote(python or sys.executable))


def relay_spec(
    launch: Launch,
    args: Sequence[str],
    *,
    workspace: Path | None,
    home: Path,
    profile: str | None,
    writes: bool = False,
) -> str:
    """What the relay needs (``relay.py``), as the JSON that goes into :data:`RELAY_SPEC`."""
    spec: dict[str, object] = {
        "codex": str(launch.codex) if launch.codex is not None else None,
        "args": list(args),
        "workspace": str(workspace) if workspace is not None else None,
        "codex_home": str(home),
        "profile": profile,
    }
    if writes:
        spec["writes"] = True
    return json.dumps(spec, separators=(",", ":"))


def write_shim(state_dir: Path, text: str) -> Path:
    """Write ``text`` as ``<state_dir>/bin/codex-<hash>`` (0700; the same text, the same file)."""
    from codex_fusion.hookside.private import write_files

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
    workspace: Path | None = None,
    profile_name: str | None = None,
    writes: bool = False,
    command_env: Mapping[str, str] | None = None,
) -> Plan:
    """How to launch the agent. ``mode`` is the user's ``CODEX_FUSION_AGENT_MODE`` (None: unset),
    ``logged_in`` whether ``CODEX_HOME/auth.json`` exists, ``provider_key`` the configured provider's
    ``env_key``, ``shim_ok`` whether a shim can be written and run here, ``workspace`` the directory
    Codex works in (its project configuration is switched off), ``profile_name`` the permission
    profile's name (a new random one when None), ``writes`` whether the profile lets Codex write
    ``workspace`` (a delegated task's worktree)."""
    pname = profile_name or new_profile_name()
    inject = launch.adapter == "rust" or (launch.adapter == "ts" and shim_ok)
    profile, notes = _profile(argv, launch, inject, mode, pname, external_reads)
    keys, ephemeral = _login_keys(
        source, notes, inject=inject, logged_in=logged_in, provider_key=provider_key
    )
    env = _plan_env(source, keys, workspace, mode=profile_mode(pname) if profile else (mode or READ_ONLY))
    args: list[str] = []
    if inject:
        args = overrides(
            profile=pname if profile else None,
            external_reads=external_reads,
            helper=launch.helper,
            excludes=command_excludes(env),
            ephemeral=ephemeral,
            workspace=workspace,
            writes=writes,
            command_env=command_env,
        )
    if inject and launch.adapter == "ts":
        home = codex_home(source)
        env[RELAY_SPEC] = relay_spec(
            launch, args, workspace=workspace, home=home, profile=pname if profile else None, writes=writes
        )
    return Plan(
        launch,
        argv=(*argv, *args) if launch.adapter == "rust" else tuple(argv),
        env=env,
        shim=shim_text() if inject and launch.adapter == "ts" else None,
        profile=profile,
        ephemeral_login=ephemeral,
        note=" ".join(notes) or None,
        overrides=tuple(args),
        profile_name=pname if profile else None,
        isolated=inject and workspace is not None,
    )


def _profile(
    argv: Sequence[str], launch: Launch, inject: bool, mode: str | None, pname: str, external_reads: bool
) -> tuple[bool, list[str]]:
    """Whether Codex's sandbox gets codex-fusion's permission profile, and the notes on what is not
    enforced (for Claude)."""
    notes: list[str] = []
    if launch.adapter == "unknown":
        notes.append(
            "Codex can read outside the workspace with this agent: codex-fusion does not recognise "
            f"`{shlex.join(argv)}` as codex-acp, so it cannot give Codex's sandbox its permission profile "
            "or keep the workspace's own Codex configuration out."
        )
    elif not inject:
        notes.append(
            "Codex can read outside the workspace with this adapter: the TypeScript codex-acp gets its "
            "permission profile through a start-up script, and there is no private directory to write it "
            "in or no POSIX shell to run it (set CLAUDE_PLUGIN_DATA or HOME)."
        )
    # read-only is the documented default: codex-fusion's profile is a stricter read-only.
    profile = inject and mode in (None, READ_ONLY, PROFILE_MODE_PREFIX + "codex-fusion", profile_mode(pname))
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
    return profile, notes


def _login_keys(
    source: Mapping[str, str], notes: list[str], *, inject: bool, logged_in: bool, provider_key: str | None
) -> tuple[list[str], bool]:
    """The key variables the agent gets, and whether its login with them stays in its memory; a key
    it could store is withheld (with a note) unless the user allows it."""
    keys = [] if logged_in else [name for name in KEY_VARS if source.get(name)]
    withheld: list[str] = []
    if keys and not inject and not _truthy(source.get("CODEX_FUSION_STORE_API_KEY")):
        notes.append(
            f"{' and '.join(keys)} is set but not given to this agent: codex-fusion cannot keep it from "
            "storing a key it logs in with (codex-acp writes CODEX_HOME/auth.json). Log in with "
            f"`{LOGIN_COMMAND}`, or set CODEX_FUSION_STORE_API_KEY=1 to let it store the key."
        )
        keys, withheld = [], keys
    ephemeral = bool(keys) and inject
    if provider_key and source.get(provider_key) and provider_key not in (*keys, *withheld):
        keys.append(provider_key)  # the configured provider reads it on each request; nothing stores it
    return keys, ephemeral


def _plan_env(
    source: Mapping[str, str], keys: list[str], workspace: Path | None, *, mode: str
) -> dict[str, str]:
    """The agent's whole environment: the allowlist, the keys, ``CODEX_FUSION_AGENT_ENV``'s names."""
    extra = re.split(r"[,\s]+", source.get("CODEX_FUSION_AGENT_ENV", ""))
    env = agent_env(source, extra, keys, workspace=workspace)
    env.pop(RELAY_SPEC, None)
    env["INITIAL_AGENT_MODE"] = mode
    env.setdefault("NO_BROWSER", "1")  # nobody can finish a browser login inside an MCP server
    return env
