"""Which kind a member is and its launch plan: the dispatch to each kind's module, and the plan's files.

:func:`plan_for` is pure; :func:`plan_member` also finds the program and reads the user's Claude settings
(blocking: call it off the event loop). Codex members are planned in ``boundary.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import codex_fusion.launch.agents.claude as claude
import codex_fusion.launch.agents.gemini as gemini
import codex_fusion.launch.agents.unknown as unknown
from codex_fusion.hookside.private import write_files as _write_private
from codex_fusion.launch.agents.locate import detect, resolve
from codex_fusion.launch.agents.plan import LaunchPlan, MemberEntry, MemberKind, split_command


def kind_of(member: MemberEntry, argv: tuple[str, ...]) -> MemberKind:
    """A member's kind: from its command's package when it has one, else its built-in name."""
    if member.command is not None and member.command.strip():
        return detect(argv)
    return "claude" if member.name == "claude" else "gemini" if member.name == "gemini" else "unknown"


def plan_for(
    kind: MemberKind,
    source: Mapping[str, str],
    member: MemberEntry,
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
    source: Mapping[str, str], member: MemberEntry, *, workspace: Path | None, state_dir: Path | None
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
