"""Council members other than Codex — Claude (claude-agent-acp), Gemini CLI and any other ACP agent —
and how each is launched and confined for codex-fusion's session (docs/agent-behaviour.md, ADR 0016).

    plan = agents.plan_member(os.environ, MemberEntry("gemini"), workspace=ws, state_dir=state)
    agents.write_files(plan, state)          # before the launch (Gemini's policy file)
    ...  # spawn plan.argv with plan.env; initialize with plan.client_capabilities
    boundary = agents.checked(plan, agents.recognise(init["agentInfo"]))
    ...  # session/new with _meta=plan.session_meta; plan.mode.request(...); plan.mode.confirmed(...)

:func:`plan_for` is pure; :func:`plan_member` also finds the program and reads the user's Claude settings
(blocking: call it off the event loop). Codex members are planned in ``boundary.py``.
"""

from codex_fusion.launch.agents.handshake import KNOWN, Recognised, checked, recognise
from codex_fusion.launch.agents.kinds import kind_of, plan_for, plan_member, write_files
from codex_fusion.launch.agents.locate import default_command, detect, resolve
from codex_fusion.launch.agents.plan import (
    CONFINED,
    MEMBER_KINDS,
    NOT_CONFINED,
    AgentKind,
    Boundary,
    Knob,
    LaunchPlan,
    MemberEntry,
    MemberKind,
    ModeStep,
    option_value,
    safe_path,
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
    "MemberEntry",
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
