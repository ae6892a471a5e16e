"""Which program hosts the server (Claude Code, Codex CLI, Gemini CLI) and what depends on it.

The host is a setting: ``CODEX_FUSION_HOST`` (``claude-code``, ``codex``, ``gemini``) when the user set
it, else the name the client gave in MCP ``initialize`` (``clientInfo.name``), else Claude Code. What
follows from it is in :class:`Host`: the member a call without ``members`` goes to (an agent
consulting itself is the exception), the names tool texts use, when a long call answers with a
handle instead of outlasting the host's tool timeout, and whether the host's conversation can be
followed (Claude Code's hooks) or only ``reset`` says when a session ends.

Claude Code's texts are the source: :func:`render` returns them unchanged for it (byte for byte),
and rewrites only the names in them for another host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

HOST_VARIABLE = "CODEX_FUSION_HOST"
#: Seconds after which a call answers with a handle (overrides the host's default; 0: never).
HANDLE_VARIABLE = "CODEX_FUSION_HANDLE_AFTER_S"


@dataclass(frozen=True)
class Host:
    key: str  # "claude-code" | "codex" | "gemini"
    program: str  # "Claude Code"
    name: str  # the host's model as tool texts name it: "Claude"
    default_member: str  # where a call without `members` goes
    own_kind: str  # the member kind of the host's own model family (not an outside voice)
    #: A call still running after this many seconds answers with a handle (None: never; Claude Code
    #: moves a long call to the background itself).
    handle_after_s: float | None
    #: The host's conversation is followed (hooks, session ids); else `reset` is the only signal.
    follows: bool


CLAUDE_CODE = Host("claude-code", "Claude Code", "Claude", "codex", "claude", None, True)
#: Codex CLI's tool timeout is 300 s unless `tool_timeout_sec` says otherwise: answer well before it.
CODEX = Host("codex", "Codex CLI", "Codex", "claude", "codex", 240.0, False)
#: Gemini CLI's MCP tool timeout is 10 minutes by default.
GEMINI = Host("gemini", "Gemini CLI", "Gemini", "codex", "gemini", 480.0, False)
HOSTS = {host.key: host for host in (CLAUDE_CODE, CODEX, GEMINI)}
#: ``clientInfo.name`` as each host sends it (Codex CLI 0.166 and Gemini CLI 0.61, observed).
CLIENT_NAMES = {"codex-mcp-client": CODEX, "gemini-cli-mcp-client": GEMINI}
_ALIASES = {"claude": CLAUDE_CODE, "claude-code": CLAUDE_CODE, "codex-cli": CODEX, "gemini-cli": GEMINI}


class HostError(ValueError):
    """``CODEX_FUSION_HOST`` names no known host."""


def resolve(env: Mapping[str, str], client_name: str | None = None) -> Host:
    """The host: the user's setting, else the client's name, else Claude Code."""
    wanted = env.get(HOST_VARIABLE, "").strip().lower()
    if wanted:
        host = HOSTS.get(wanted) or _ALIASES.get(wanted)
        if host is None:
            raise HostError(
                f"{HOST_VARIABLE}={wanted!r} names no host: use claude-code, codex or gemini (or unset it)."
            )
    else:
        host = CLIENT_NAMES.get((client_name or "").strip().lower(), CLAUDE_CODE)
    raw = env.get(HANDLE_VARIABLE, "").strip()
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            raise HostError(f"{HANDLE_VARIABLE}={raw!r} is not a number of seconds.") from None
        host = replace(host, handle_after_s=seconds if seconds > 0 else None)
    return host


#: The consulted member's label in Claude Code's texts, by default member.
_MEMBER_LABELS = {"codex": "Codex (OpenAI)", "claude": "Claude (Anthropic)", "gemini": "Gemini (Google)"}
_MEMBER_NAMES = {"codex": "Codex", "claude": "Claude", "gemini": "Gemini"}
_NAMES = re.compile(r"Codex \(OpenAI\)|Claude Code|\bCodex\b|\bClaude\b")


def render(host: Host, text: str) -> str:
    """One of Claude Code's texts (a tool description, the instructions) for ``host``: the consulted
    agent named as the host's default member, the deciding model as the host's. Unchanged for Claude
    Code."""
    if host is CLAUDE_CODE:
        return text
    names = {
        "Codex (OpenAI)": _MEMBER_LABELS[host.default_member],
        "Codex": _MEMBER_NAMES[host.default_member],
        "Claude Code": host.program,
        "Claude": host.name,
    }
    return _NAMES.sub(lambda match: names[match.group(0)], text)


def status_line(host: Host) -> str:
    """What ``status`` says about the host, for a host other than Claude Code (whose line is the
    follower's)."""
    after = (
        f"answers after {host.handle_after_s:g} s become a handle (`task` show)"
        if host.handle_after_s
        else ""
    )
    follows = "its conversation is not followed: call `reset` when you start an unrelated task"
    if host is CODEX:
        follows = (
            "a new Codex session resets every member (its session id); else `reset` for an unrelated task"
        )
    return f"host: {host.program} · default member: {host.default_member} · {follows}" + (
        f" · {after}" if after else ""
    )
