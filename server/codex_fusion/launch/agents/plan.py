"""What a launch plan for a council member says: the types every agent kind fills in, and the environment
and ``PATH`` helpers they share. Pure.

A member is one ACP agent codex-fusion consults. Codex (``codex-ts``, ``codex-rust``) is planned in
``boundary.py``; the other kinds (``claude``, ``gemini``, ``unknown``) are planned in this package, each
in its own module, for codex-fusion's session only: nothing here writes to the user's or the
workspace's own settings (docs/agent-behaviour.md, ADR 0016).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

from codex_fusion.errors import ConfigError
from codex_fusion.launch import allowlist

#: Every agent kind codex-fusion tells apart. Codex's two are planned by ``boundary.py``.
AgentKind = Literal["codex-ts", "codex-rust", "claude", "gemini", "unknown"]
#: The kinds this package plans.
MemberKind = Literal["claude", "gemini", "unknown"]
MEMBER_KINDS: tuple[MemberKind, ...] = ("claude", "gemini", "unknown")

CONFINED = "confined: "
NOT_CONFINED = "not confined: "


@dataclass(frozen=True)
class MemberEntry:
    """One member's configuration, as the user wrote it (``CODEX_FUSION_MEMBERS`` or settings)."""

    name: str
    command: str | None = None  # shell syntax; None: the built-in default for the kind
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the allowlisted environment
    model: str | None = None
    effort: str | None = None


@dataclass(frozen=True)
class ModeStep:
    """The permission mode the session must be in before the first prompt, and how to get it there.

    ``via``: ``config_option`` — send ``session/set_config_option {configId, value}``; its answer lists
    the config options, and the one with ``configId`` must have ``currentValue == mode``.
    ``launch`` — the launch already selects it: ``session/new``'s ``modes.currentModeId`` must be
    ``mode``; if not, send ``session/set_mode`` and expect a ``current_mode_update`` to it.
    """

    mode: str
    via: Literal["config_option", "launch"]
    config_id: str = "mode"

    def request(self, session_id: str) -> tuple[str, dict[str, Any]]:
        """The call that selects the mode."""
        if self.via == "config_option":
            return "session/set_config_option", {
                "sessionId": session_id,
                "configId": self.config_id,
                "value": self.mode,
            }
        return "session/set_mode", {"sessionId": session_id, "modeId": self.mode}

    def confirmed(self, answer: Any) -> bool:
        """Whether ``answer`` (session/new's, or the mode call's) shows the session in ``mode``."""
        if not isinstance(answer, Mapping):
            return False
        if self.via == "config_option":
            return bool(option_value(answer, self.config_id) == self.mode)
        modes = answer.get("modes")
        return isinstance(modes, Mapping) and bool(modes.get("currentModeId") == self.mode)


@dataclass(frozen=True)
class Knob:
    """How one of model/effort is chosen: the configured value, and how a session is given a value.

    ``at_launch``: the launch already selects ``value`` (in the argv or ``_meta``); when False and a
    value is configured, send :meth:`request` once after session/new. ``per_call``:
    ``config_option`` (``session/set_config_option {configId: config_id}``, values from the session's
    config options), ``set_model`` (``session/set_model {modelId}``, any model id), or None when the
    agent offers no way to change it in a session.
    """

    name: Literal["model", "effort"]
    value: str | None  # the configured value; None: the agent's own default
    per_call: Literal["config_option", "set_model"] | None
    config_id: str | None = None
    at_launch: bool = True

    def request(self, session_id: str, value: str) -> tuple[str, dict[str, Any]] | None:
        """The call that changes it to ``value`` in a running session, or None if there is none."""
        if self.per_call == "set_model":
            return "session/set_model", {"sessionId": session_id, "modelId": value}
        if self.per_call == "config_option" and self.config_id:
            return "session/set_config_option", {
                "sessionId": session_id,
                "configId": self.config_id,
                "value": value,
            }
        return None


@dataclass(frozen=True)
class Boundary:
    """What ``status`` and the member's first answer say about where the member can act."""

    confined: bool
    note: str  # starts with "confined: " or "not confined: "


@dataclass(frozen=True)
class LaunchPlan:
    """How to start one member and open its session. Pure data; nothing has been written or run."""

    kind: MemberKind
    argv: tuple[str, ...]  # argv[0] absolute
    env: dict[str, str]  # the agent's whole environment
    client_capabilities: dict[str, Any]  # ``initialize``'s ``clientCapabilities``
    session_meta: dict[str, Any] | None  # ``_meta`` for session/new — and for resume, load and fork
    mode: ModeStep | None  # None: codex-fusion selects no mode (unknown agents)
    model: Knob
    effort: Knob
    boundary: Boundary
    #: Private files the caller writes (0600, in codex-fusion's state directory) before the launch;
    #: ``argv`` names them. Empty for most kinds.
    files: tuple[tuple[Path, str], ...] = ()
    tested_version: str | None = None  # the agent version the confinement was observed with

    def session_params(self, cwd: Path, **extra: Any) -> dict[str, Any]:
        """Params for session/new — and resume, load and fork, which need the same ``_meta``:
        claude-agent-acp rebuilds a resumed session with its defaults (the workspace's own settings and
        hooks) when ``_meta`` is left out. ``extra``: ``sessionId``, ``systemPrompt``, …"""
        params: dict[str, Any] = {"cwd": str(cwd), "mcpServers": [], **extra}
        if self.session_meta is not None:
            params["_meta"] = self.session_meta
        return params


def option_value(answer: Mapping[str, Any], config_id: str) -> Any:
    """``currentValue`` of config option ``config_id`` in an ACP answer carrying ``configOptions``."""
    for option in answer.get("configOptions") or []:
        if isinstance(option, Mapping) and option.get("id") == config_id:
            return option.get("currentValue")
    return None


# --- the environment -------------------------------------------------------------------------------


def _inside(path: PurePath, root: PurePath) -> bool:
    return path == root or root in path.parents


def safe_path(value: str, workspace: Path | None) -> str:
    """``PATH`` without the entries that would find programs in the workspace: empty and relative entries
    (they resolve against the agent's working directory, the workspace) and any inside it."""
    root = Path(os.path.normpath(workspace)) if workspace is not None else None
    kept: list[str] = []
    for entry in value.split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        if root is not None and _inside(Path(os.path.normpath(entry)), root):
            continue
        kept.append(entry)
    return os.pathsep.join(kept)


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def member_env(
    source: Mapping[str, str],
    member: MemberEntry,
    workspace: Path | None,
    *,
    passed: Iterable[str] = (),
    defaults: Mapping[str, str] | None = None,
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The member's environment: the allowlist (``allowlist.agent_env``, ``CODEX_FUSION_AGENT_ENV``), the
    kind's own variables in ``passed`` that are set, its ``defaults``, the member's configured ``env``,
    then ``fixed`` — the variables that confine it, which nothing above may change — and a ``PATH`` that
    cannot reach into the workspace."""
    extra = re.split(r"[,\s]+", source.get("CODEX_FUSION_AGENT_ENV", ""))
    env = allowlist.agent_env(source, extra, [name for name in passed if source.get(name)])
    env.update(defaults or {})
    env.update({str(k): str(v) for k, v in member.env.items()})
    env.update(fixed or {})
    env["PATH"] = safe_path(env.get("PATH", os.defpath), workspace)
    return env


def split_command(member: MemberEntry) -> list[str] | None:
    """The member's ``command`` as an argv (None when it has none)."""
    if member.command is None or not member.command.strip():
        return None
    try:
        argv = shlex.split(member.command)
    except ValueError as exc:
        raise ConfigError(f"member {member.name!r}: `command` is not a valid command line: {exc}") from None
    return argv


def check_choice(member: MemberEntry, what: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """``value`` if it is one of ``allowed`` (or None), else a ConfigError naming the choices."""
    if value is None or value in allowed:
        return value
    raise ConfigError(
        f"member {member.name!r}: {what} {value!r} is not one of {', '.join(allowed)}; "
        f"fix `{what}` in the member's configuration or leave it out"
    )
