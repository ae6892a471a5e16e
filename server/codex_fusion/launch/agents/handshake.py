"""Which agent answered ``initialize``: its kind from ``agentInfo``, and what that means for a member's
launch plan. Pure.

Seen (docs/agent-behaviour.md): ``@agentclientprotocol/codex-acp`` (TypeScript codex-acp),
``codex-acp`` (Rust), ``@agentclientprotocol/claude-agent-acp``, ``gemini-cli``, ``qwen-code``; goose
sends no ``agentInfo`` at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import codex_fusion.launch.agents.claude as claude
import codex_fusion.launch.agents.gemini as gemini
from codex_fusion.launch import adapters
from codex_fusion.launch.agents.plan import NOT_CONFINED, AgentKind, Boundary, LaunchPlan

#: agentInfo.name -> (kind, a name for people).
KNOWN: dict[str, tuple[AgentKind, str]] = {
    adapters.TS_PACKAGE: ("codex-ts", "Codex (codex-acp, TypeScript)"),
    "codex-acp": ("codex-rust", "Codex (codex-acp, Rust)"),
    claude.AGENT_INFO_NAME: ("claude", "Claude (claude-agent-acp)"),
    gemini.AGENT_INFO_NAME: ("gemini", "Gemini CLI"),
    "qwen-code": ("unknown", "Qwen Code"),
}


@dataclass(frozen=True)
class Recognised:
    kind: AgentKind
    label: str  # for status lines: "Gemini CLI 0.61.0", "an agent that does not name itself"
    name: str | None  # agentInfo.name as sent
    version: str | None


def recognise(agent_info: Any) -> Recognised:
    """The kind of agent behind an ``initialize`` answer's ``agentInfo`` (a dict, or None)."""
    info = agent_info if isinstance(agent_info, Mapping) else {}
    name = info.get("name") if isinstance(info.get("name"), str) else None
    version = info.get("version") if isinstance(info.get("version"), str) else None
    if name is None:
        return Recognised("unknown", "an agent that does not name itself", None, version)
    kind, label = KNOWN.get(name, ("unknown", name))
    return Recognised(kind, f"{label} {version}" if version else label, name, version)


def checked(plan: LaunchPlan, agent: Recognised) -> Boundary:
    """The member's boundary once its agent has answered: the plan's, unless the agent is not the kind
    the plan was made for (its settings would not confine it), or a version the plan was not observed
    with (said, not refused)."""
    if plan.kind == "unknown":
        return plan.boundary
    if agent.kind != plan.kind:
        return Boundary(
            False,
            NOT_CONFINED + f"the member was set up for {plan.kind} but {agent.label} answered, so "
            "codex-fusion's settings for it may not apply; fix the member's `command`.",
        )
    if plan.tested_version and agent.version and agent.version != plan.tested_version:
        return Boundary(
            plan.boundary.confined,
            f"{plan.boundary.note} (observed with version {plan.tested_version}; this is {agent.version})",
        )
    return plan.boundary
