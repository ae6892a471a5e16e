"""The ``claude`` member: claude-agent-acp (Claude Code over ACP), confined for codex-fusion's session.

Observed with claude-agent-acp 0.101.0 (docs/agent-behaviour.md, ADR 0016). Its built-in mode *auto*
lets a model classifier allow reads outside the workspace, and it reads the workspace's own
``.claude/settings.json`` (hooks, ``permissions.allow``, ``apiKeyHelper``), ``.mcp.json``, ``CLAUDE.md``
and skills. Everything that narrows it is passed per session, in ``session/new``'s
``_meta.claudeCode.options`` (Claude Agent SDK options, spread after the adapter's defaults):

- ``settingSources: []`` — no settings file applies: not the workspace's, not the user's (whose
  ``permissions.allow`` would let reads through without asking). The login survives: Claude Code reads
  ``~/.claude/.credentials.json`` and the key variables whatever the sources; a user's ``apiKeyHelper``
  is carried over into the session's own settings (:func:`login_settings`).
- ``strictMcpConfig: true`` — only the (empty) MCP servers codex-fusion passes start.
- ``settings`` — the session's own settings (the SDK's flag layer): ``permissions.ask`` for every shell
  command and web access (Manual mode runs "read-only" commands such as ``cat``/``grep -R`` silently,
  and they follow symlinks out of the workspace), bypass and auto modes off.
- ``disallowedTools`` — the tools that change the permission mode (``EnterPlanMode``: plan mode reads
  outside silently while auto is on offer), start work that outlives the prompt's turn, or reach past
  the session (``SendMessage``/``ListAgents`` to the user's other Claude Code sessions, the host's too).
- ``allowDangerouslySkipPermissions: false`` — no bypass mode (and no ``bypass_root`` failure as root
  with ``IS_SANDBOX`` set).

The mode is not taken from ``_meta``: the session starts in the adapter's default (*auto*) and is put
in ``default`` ("Manual") with ``session/set_config_option``, whose answer shows the current value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codex_fusion.launch.agents.plan import (
    CONFINED,
    Boundary,
    Knob,
    LaunchPlan,
    MemberEntry,
    ModeStep,
    check_choice,
    member_env,
    truthy,
)

PACKAGE = "@agentclientprotocol/claude-agent-acp"
TESTED_VERSION = "0.101.0"
AGENT_INFO_NAME = PACKAGE
#: ``effort`` values the adapter's ``effort`` config option offers (besides ``default``).
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MODE = "default"  # "Manual": reads inside the workspace unasked, everything else asks

#: How Claude Code logs in or reaches its model; passed when set.
LOGIN_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)
#: Cloud credentials, passed only when the matching ``CLAUDE_CODE_USE_*`` switch is on.
BEDROCK_VARS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "ANTHROPIC_BEDROCK_BASE_URL",
)
VERTEX_VARS = ("ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION", "GOOGLE_APPLICATION_CREDENTIALS")
#: Set for every Claude member: an agent must not update itself in the middle of a session.
FIXED_ENV = {"DISABLE_AUTOUPDATER": "1"}

#: Tools removed from the session: mode changes, and work that runs after the prompt's turn has ended
#: (background subagents, schedules, monitors) or in another working tree.
DISALLOWED_TOOLS = (
    "EnterPlanMode",
    "ExitPlanMode",
    "Agent",
    "Workflow",
    "ScheduleWakeup",
    "CronCreate",
    "CronDelete",
    "CronList",
    "RemoteTrigger",
    "Monitor",
    "EnterWorktree",
    "ExitWorktree",
    # tools that reach past the member's own session: the user's other Claude Code sessions (the host's
    # included), the user, other agents, the user's claude.ai design projects (ADR 0023)
    *("SendMessage", "ListAgents", "ListPeers", "SendUserMessage", "PushNotification"),
    *("TeamCreate", "TeamDelete", "DesignSync"),
)
#: Always asked, whatever the mode decides (rule names of Claude Code's ``permissions.ask``).
ASK_TOOLS = ("Bash", "WebFetch", "WebSearch")

NOTE = (
    CONFINED + "Claude reads inside the workspace on its own; reads outside it, every shell command, edits "
    "and web access ask (Manual mode and codex-fusion's own session settings). The workspace's .claude/ "
    "settings and hooks, .mcp.json and CLAUDE.md, and your own ~/.claude settings, do not apply to it."
)


def login_settings(user_settings: Mapping[str, Any]) -> dict[str, Any]:
    """What of the user's own Claude settings keeps their login once no settings file applies: the
    ``apiKeyHelper`` command and the login variables of its ``env``. Nothing else (no permissions, hooks,
    MCP servers)."""
    out: dict[str, Any] = {}
    helper = user_settings.get("apiKeyHelper")
    if isinstance(helper, str) and helper.strip():
        out["apiKeyHelper"] = helper
    env = user_settings.get("env")
    if isinstance(env, Mapping):
        wanted = {*LOGIN_VARS, *BEDROCK_VARS, *VERTEX_VARS} - {"CLAUDE_CONFIG_DIR"}
        kept = {str(k): str(v) for k, v in env.items() if k in wanted and isinstance(v, str | int)}
        if kept:
            out["env"] = kept
    return out


def settings_path(env: Mapping[str, str]) -> Path | None:
    """The user's own Claude Code settings file (``$CLAUDE_CONFIG_DIR`` or ``~/.claude``)."""
    config = env.get("CLAUDE_CONFIG_DIR", "").strip()
    if config:
        return Path(config).expanduser() / "settings.json"
    home = env.get("HOME", "").strip()
    return Path(home) / ".claude" / "settings.json" if home else None


def read_user_settings(env: Mapping[str, str], max_bytes: int = 1 << 20) -> dict[str, Any]:
    """The user's settings file parsed, or ``{}`` (missing, unreadable, too large, not a JSON object).

    Blocking file I/O: call it off the event loop (``anyio.to_thread.run_sync``)."""
    path = settings_path(env)
    if path is None:
        return {}
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:
            return {}
        parsed = json.loads(data)
    except (OSError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def session_options(member: MemberEntry, login: Mapping[str, Any]) -> dict[str, Any]:
    """``_meta.claudeCode.options`` for session/new (and resume, load, fork)."""
    settings: dict[str, Any] = {
        **login,
        "permissions": {"ask": list(ASK_TOOLS), "disableBypassPermissionsMode": "disable"},
        "disableAutoMode": "disable",
    }
    options: dict[str, Any] = {
        "settingSources": [],
        "strictMcpConfig": True,
        "allowDangerouslySkipPermissions": False,
        "disallowedTools": list(DISALLOWED_TOOLS),
        "settings": settings,
        "promptSuggestions": False,  # one model call less per turn
    }
    if member.model:
        options["model"] = member.model
    if member.effort:
        options["effort"] = member.effort
    return options


def plan(
    source: Mapping[str, str],
    member: MemberEntry,
    argv: tuple[str, ...],
    *,
    workspace: Path | None,
    user_settings: Mapping[str, Any],
) -> LaunchPlan:
    """The launch of a Claude member. ``argv`` is the resolved command; ``user_settings`` the user's own
    settings file (:func:`read_user_settings`), read only for the login."""
    check_choice(member, "effort", member.effort, EFFORTS)
    switches = {**source, **member.env}
    passed = [*LOGIN_VARS]
    if truthy(switches.get("CLAUDE_CODE_USE_BEDROCK")):
        passed += BEDROCK_VARS
    if truthy(switches.get("CLAUDE_CODE_USE_VERTEX")):
        passed += VERTEX_VARS
    env = member_env(source, member, workspace, passed=passed, fixed=FIXED_ENV)
    return LaunchPlan(
        kind="claude",
        argv=argv,
        env=env,
        client_capabilities={},  # it never uses the client's fs or terminal
        session_meta={"claudeCode": {"options": session_options(member, login_settings(user_settings))}},
        mode=ModeStep(MODE, via="config_option"),
        model=Knob("model", member.model, "config_option", "model"),
        effort=Knob("effort", member.effort, "config_option", "effort"),
        boundary=Boundary(True, NOTE),
        tested_version=TESTED_VERSION,
    )
