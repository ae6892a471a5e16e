"""Held permission requests and how Claude's allow/deny maps onto an agent's option ids."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from codex_fusion.acp.schema import PERMISSION_CANCELLED, PermissionOption, permission_selected
from codex_fusion.errors import ConsultError
from codex_fusion.guardian.decision import Decision, describe_command

#: Reject ids after which Codex carries on with its turn (Rust `denied`, TS `decline`, …).
CONTINUING_REJECT_IDS = ("denied", "decline", "reject_permissions", "reject", "deny")
#: Allow ids that only approve this one action, in order of preference.
ALLOW_ONCE_IDS = ("approved", "allow_once", "allow", "allow-once")


@dataclass(frozen=True)
class Choice:
    """The answer to send for a decision, and what it will do to the turn."""

    outcome: dict[str, Any]
    option_id: str | None
    ends_turn: bool = False
    note: str = ""


def lasting(option: PermissionOption) -> bool:
    """An option that persists a policy (approve "always", for the session, amend the exec policy…).

    Judged by its kind first: an id that looks harmless (``approved``) with kind ``allow_always`` is
    lasting."""
    ident = option.option_id.lower()
    return option.kind.endswith("always") or any(
        word in ident for word in ("always", "session", "amendment", "policy")
    )


def _preferred(options: list[PermissionOption], ids: tuple[str, ...]) -> PermissionOption | None:
    for ident in ids:
        for option in options:
            if option.option_id == ident:
                return option
    return options[0] if options else None


def choose_allow(options: list[PermissionOption], *, claude_decided: bool) -> Choice | None:
    """The option that approves this action once, chosen by kind (``allow_once``).

    None when only lasting allows exist and nobody (Claude or a person) decided: auto-approval never
    persists a policy. When Claude decided and only a lasting allow exists, it is used with a note."""
    once = _preferred([o for o in options if o.kind == "allow_once" and not lasting(o)], ALLOW_ONCE_IDS)
    if once is not None:
        return Choice(permission_selected(once.option_id), once.option_id)
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


def only_lasting_allow(options: list[PermissionOption]) -> bool:
    """Claude's `allow` would persist a policy: the only allow options are lasting ones."""
    allows = [o for o in options if o.kind.startswith("allow")]
    return bool(allows) and all(lasting(o) for o in allows)


def choose_deny(options: list[PermissionOption]) -> Choice:
    """A ``reject_once`` that lets Codex continue if offered, else one that ends its turn.

    Chosen by kind: an option is a reject only if its kind says so. A lasting reject (persisting a
    deny rule) is never picked; without a ``reject_once``, the answer is ``cancelled`` (which ends
    Codex's turn, like the turn-ending rejects)."""
    once = [o for o in options if o.kind == "reject_once" and not lasting(o)]
    for option in once:
        if option.option_id in CONTINUING_REJECT_IDS:
            return Choice(permission_selected(option.option_id), option.option_id)
    if once:
        # `abort` (Rust), `cancel` (TS), or an id we do not know: the adapters end the turn.
        chosen = _preferred(once, ("abort", "cancel"))
        assert chosen is not None
        return Choice(permission_selected(chosen.option_id), chosen.option_id, ends_turn=True)
    return Choice(PERMISSION_CANCELLED, None, ends_turn=True)


def choose_for(decision: Literal["allow", "deny"], options: list[PermissionOption]) -> Choice:
    """The option for Claude's decision; ConsultError when Codex offered no way to approve."""
    if decision == "deny":
        return choose_deny(options)
    choice = choose_allow(options, claude_decided=True)
    if choice is None:
        offered = ", ".join(option.option_id for option in options) or "no options"
        raise ConsultError(
            f"Codex offered no way to approve this request ({offered}); call `permit` with decision `deny`."
        )
    return choice


def parse_ref(value: str | None) -> int | None:
    """The request number in ``r3``, ``R3``, ``#3`` or ``3`` (None when no id was given);
    ConsultError when ``value`` is not a request id."""
    if value is None:
        return None
    text = value.strip().lower().removeprefix("r").removeprefix("#")
    if not (text.isascii() and text.isdigit()):
        raise ConsultError(f"`request` {value!r} is not a request id: pass the id the pause showed (r3).")
    return int(text)


def check_ref(wanted: int | None, held: PendingPermission, summary: str) -> None:
    """Refuse an answer meant for another request than the one held now."""
    if wanted is not None and wanted != held.request_id:
        raise ConsultError(
            f"Request r{wanted} is not pending any more. Pending now: {held.ref} — {summary}. "
            f"Judge that one, then call `permit` with request {held.ref}."
        )


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
    def ref(self) -> str:
        """The short id Claude passes back to ``permit`` (``r3``)."""
        return f"r{self.request_id}"

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
