"""The doctor's council lines: one per configured member besides Codex, as ``status`` would see it.

Each member is started as the server starts it (:class:`~codex_fusion.member.conversation.Member`,
confined the same way), its session opened — the login probe: an agent that needs a key refuses the
session — and stopped. All at once, each bounded by :data:`~codex_fusion.cli.doctor.AGENT_PROBE`. A
line says where the agent was found, what it says it is, whether a session opened and whether it is
confined, and carries its fix when something is wrong. Nothing is sent as a prompt (no tokens spent):
an agent that checks its key only when it answers is reported as "a session opens", not more.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import anyio

from codex_fusion.cli.checks import Check
from codex_fusion.launch.login import not_logged_in
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.names import CODEX
from codex_fusion.member.conversation import Member

if TYPE_CHECKING:
    from codex_fusion.launch.config import Config

FIX_ENTRY = "fix its entry in the `members` option (or CODEX_FUSION_MEMBERS), then restart Claude Code"


def _found(config: Config, spec: MemberSpec) -> str | None:
    """Where the member's program is (its command starts with an absolute path once planned)."""
    program = spec.argv[0] if spec.argv else ""
    return shutil.which(program, path=config.agent_env.get("PATH", os.defpath)) if program else None


async def probe(config: Config, spec: MemberSpec, bound: float) -> Check:
    """Start one member, open a session, stop it: its doctor line."""
    what = f"member {spec.name}"
    if spec.error is not None:
        return Check("fail", what, f"cannot start: {spec.error}", FIX_ENTRY)
    found = _found(config, spec)
    if found is None:
        program = spec.argv[0] if spec.argv else "(no command)"
        return Check(
            "fail", what, f"`{program}` not found", f"install the {spec.display} agent, or {FIX_ENTRY}"
        )
    async with Member(config, member=spec) as member:
        with anyio.move_on_after(bound) as scope:
            await member.warm()
        state = member.status()
        session = member.session
        checked = session.checked_boundary if session is not None else None
    agent = state.agent_name or found
    if scope.cancelled_caught:
        return Check(
            "fail", what, f"{agent}: no session within {bound:g}s", f"start `{spec.command}` once by hand"
        )
    if state.session_id is None:
        error = state.last_error or "no session"
        if "not logged in" in error:
            return Check("fail", what, f"{agent}: not logged in", not_logged_in(spec.display))
        return Check("fail", what, f"{agent}: {error}", FIX_ENTRY)
    confined = checked.confined if checked is not None else spec.boundary_enforced
    said = f"{agent} ({found}), a session opens, " + ("confined" if confined else "NOT confined")
    if not confined:
        note = checked.note if checked is not None else spec.boundary_note
        return Check(
            "warn", what, said, note or "it can act outside the workspace: see docs/agent-behaviour.md"
        )
    return Check("ok", what, said)


async def check_members(config: Config, bound: float) -> list[Check]:
    """One line per configured member besides Codex, probed at once (none: no lines)."""
    specs = [spec for name, spec in config.members.items() if name != CODEX]
    if not specs or config.workspace.path is None:
        return []
    results: list[Check | None] = [None] * len(specs)

    async def one(index: int, spec: MemberSpec) -> None:
        results[index] = await probe(config, spec, bound)

    async with anyio.create_task_group() as tg:
        for index, spec in enumerate(specs):
            tg.start_soon(one, index, spec)
    return [check for check in results if check is not None]
