"""Held permission requests and how Claude's allow/deny maps onto an agent's option ids."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from .acp.schema import PERMISSION_CANCELLED, PermissionOption, permission_selected
from .guardian import Decision
from .toolcall import describe_command

#: Reject options after which Codex carries on with its turn (Rust `denied`, TS `decline`, …).
CONTINUING_REJECT_IDS = ("denied", "decline", "reject_permissions", "reject", "deny")
#: Reject options that end Codex's turn.
TURN_ENDING_REJECT_IDS = ("abort", "cancel")
#: Allow ids that only approve this one action (never the ones that persist a policy).
ALLOW_ONCE_IDS = ("approved", "allow_once", "allow", "allow-once")


@dataclass(frozen=True)
class Choice:
    """The answer to send for a decision, and what it will do to the turn."""

    outcome: dict[str, Any]
    option_id: str | None
    ends_turn: bool = False
    note: str = ""


def _persistent(option: PermissionOption) -> bool:
    ident = option.option_id.lower()
    return option.kind.endswith("always") or any(
        word in ident for word in ("always", "session", "amendment", "policy")
    )


def choose_allow(options: list[PermissionOption], *, claude_decided: bool) -> Choice | None:
    """The option that approves this action once. None when only policy-changing allows exist
    and nobody (Claude or a person) decided: auto-approval must never persist a policy."""
    for ident in ALLOW_ONCE_IDS:
        for option in options:
            if option.option_id == ident:
                return Choice(permission_selected(option.option_id), option.option_id)
    for option in options:
        if option.kind == "allow_once" and not _persistent(option):
            return Choice(permission_selected(option.option_id), option.option_id)
    if not claude_decided:
        return None
    for option in options:
        if option.kind.startswith("allow"):
            return Choice(
                permission_selected(option.option_id),
                option.option_id,
                note=f"only a lasting approval was offered ({option.option_id}); it was used",
            )
    return None


def choose_deny(options: list[PermissionOption]) -> Choice:
    """Prefer a reject that lets Codex continue; else one that ends its turn; else `cancelled`."""
    for ident in CONTINUING_REJECT_IDS:
        for option in options:
            if option.option_id == ident:
                return Choice(permission_selected(option.option_id), option.option_id)
    for ident in TURN_ENDING_REJECT_IDS:
        for option in options:
            if option.option_id == ident:
                return Choice(permission_selected(option.option_id), option.option_id, ends_turn=True)
    for option in options:
        if option.kind.startswith("reject"):
            # Unknown reject id: the Rust adapter treats unknown answers as abort, so assume it ends.
            return Choice(permission_selected(option.option_id), option.option_id, ends_turn=True)
    return Choice(PERMISSION_CANCELLED, None, ends_turn=True)


def reason_of(tool_call: dict[str, Any]) -> str | None:
    """Codex's stated reason for the request, if it gave one."""
    raw = tool_call.get("rawInput")
    if isinstance(raw, dict):
        for key in ("reason", "justification", "explanation"):
            value = raw.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())[:300]
    return None


@dataclass(eq=False)
class PendingPermission:
    """A ``session/request_permission`` held open until Claude answers it."""

    request_id: int
    tool_call: dict[str, Any]
    options: list[PermissionOption]
    decision: Decision
    since: float = field(default_factory=time.monotonic)  # when Claude was first shown it
    answered: anyio.Event = field(default_factory=anyio.Event)
    outcome: dict[str, Any] = field(default_factory=lambda: dict(PERMISSION_CANCELLED))
    verdict: Literal["allow", "deny", "cancelled"] | None = None

    @property
    def waited(self) -> float:
        return time.monotonic() - self.since

    @property
    def command(self) -> str | None:
        return describe_command(self.tool_call.get("rawInput"))

    @property
    def reason(self) -> str | None:
        return reason_of(self.tool_call)

    def shown(self) -> None:
        """The request is now the one Claude is asked about: its wait starts now."""
        self.since = time.monotonic()

    def answer(self, outcome: dict[str, Any], verdict: Literal["allow", "deny", "cancelled"]) -> None:
        if self.answered.is_set():
            return
        self.outcome = outcome
        self.verdict = verdict
        self.answered.set()
