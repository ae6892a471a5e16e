"""A member whose agent codex-fusion does not know (Qwen Code, goose, …): launched as configured, with the
allowlisted environment, and said plainly to be unconfined. Pure."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from codex_fusion.launch.agents.plan import NOT_CONFINED, Boundary, Knob, LaunchPlan, MemberEntry, member_env

#: The guarded reader codex-fusion's client answers ``fs/read_text_file`` with (inside the workspace
#: only): an agent that reads through the client is confined for those reads.
CAPABILITIES = {"fs": {"readTextFile": True, "writeTextFile": False}}


def note(argv: tuple[str, ...]) -> str:
    return (
        NOT_CONFINED + f"codex-fusion does not know how `{shlex.join(argv)}` asks before it acts, so it may "
        "read, run commands or fetch outside the workspace without asking; only the requests it sends "
        "reach the guardian."
    )


def plan(
    source: Mapping[str, str], member: MemberEntry, argv: tuple[str, ...], *, workspace: Path | None
) -> LaunchPlan:
    return LaunchPlan(
        kind="unknown",
        argv=argv,
        env=member_env(source, member, workspace),
        client_capabilities=CAPABILITIES,
        session_meta=None,
        mode=None,
        # If the agent offers `model`/`effort` config options (Qwen and goose offer `model`).
        model=Knob("model", member.model, "config_option", "model", at_launch=False),
        effort=Knob("effort", member.effort, "config_option", "effort", at_launch=False),
        boundary=Boundary(False, note(argv)),
    )
