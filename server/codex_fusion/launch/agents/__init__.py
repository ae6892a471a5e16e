"""Council members other than Codex — Claude (claude-agent-acp), Gemini CLI and any other ACP agent —
and how each is launched and confined for codex-fusion's session (docs/agent-behaviour.md, ADR 0016).

    plan = agents.plan_member(os.environ, Member("gemini"), workspace=ws, state_dir=state)
    agents.write_files(plan, state)          # before the launch (Gemini's policy file)
    ...  # spawn plan.argv with plan.env; initialize with plan.client_capabilities
    boundary = agents.checked(plan, agents.recognise(init["agentInfo"]))
    ...  # session/new with _meta=plan.session_meta; plan.mode.request(...); plan.mode.confirmed(...)

:func:`plan_for` is pure; :func:`plan_member` also finds the program and reads the user's Claude settings
(blocking: call it off the event loop). Codex members are planned in ``boundary.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codex_fusion.hookside.private import write_files as _write_private
from codex_fusion.launch.agents import claude, gemini, unknown
from codex_fusion.launch.agents.handshake import KNOWN, Recognised, checked, recognise
from codex_fusion.launch.agents.locate import default_command, detect, resolve
from codex_fusion.launch.agents.plan import (
    CONFINED,
    MEMBER_KINDS,
    NOT_CONFINED,
    AgentKind,
    Boundary,
    Knob,
    LaunchPlan,
    Member,
    MemberKind,
    ModeStep,
    option_value,
    safe_path,
    split_command,
)

__all__ = [
    "CONFINED",
    "KNOWN",
    "MEMBER_KINDS",
    "NOT_CONFINED",
    "AgentKind",
    "Boundary",
    "Knob",
    "LaunchPlan",
    "Member",
    "MemberKind",
    "ModeStep",
    "Recognised",
    "checked",
    "default_command",
    "detect",
    "kind_of",
    "option_value",
    "plan_for",
    "plan_member",
    "recognise",
    "resolve",
    "safe_path",
    "write_files",
]


def kind_of(member: Member, argv: tuple[str, ...]) -> MemberKind:
    """A member's kind: from its command's package when it has one, else its built-in name."""
    if member.command is not None and member.command.strip():
        return detect(argv)
    return "claude" if member.name == "claude" else "gemini" if member.name == "gemini" else "unknown"


def plan_for(
    kind: MemberKind,
    source: Mapping[str, str],
    member: Member,
    argv: tuple[str, ...],
    *,
    workspace: Path | None,
    state_dir: Path | None,
    user_settings: Mapping[str, Any] | None = None,
) -> LaunchPlan:
    """The launch plan for a member of ``kind`` running ``argv`` (absolute). ``source`` is the server's
    environment, ``state_dir`` codex-fusion's private directory (None: there is none),
    ``user_settings`` the user's own Claude settings (for the login only)."""
    if kind == "claude":
        return claude.plan(source, member, argv, workspace=workspace, user_settings=user_settings or {})
    if kind == "gemini":
        return gemini.plan(source, member, argv, workspace=workspace, state_dir=state_dir)
    return unknown.plan(source, member, argv, workspace=workspace)


def plan_member(
    source: Mapping[str, str], member: Member, *, workspace: Path | None, state_dir: Path | None
) -> LaunchPlan:
    """Find the member's program, recognise its kind and plan its launch. Raises ConfigError when the
    member cannot be started as configured. Blocking (stat, package.json, the user's settings file)."""
    argv = resolve(member, split_command(member), source, workspace)
    kind = kind_of(member, argv)
    settings = claude.read_user_settings(source) if kind == "claude" else None
    return plan_for(
        kind, source, member, argv, workspace=workspace, state_dir=state_dir, user_settings=settings
    )


def write_files(plan: LaunchPlan, state_dir: Path) -> None:
    """Write the plan's private files (0600 in 0700 directories, atomically, never through a symlink).
    Raises OSError; then plan again with ``state_dir=None`` (the boundary says what that costs)."""
    for path, text in plan.files:
        _write_private(state_dir, path.parent, [(path.name, text.encode())])
