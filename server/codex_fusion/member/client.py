"""The agent→client half of ACP: session updates, permission requests and ``fs/read_text_file``.

One :class:`AcpClient` serves one agent instance. When the session replaces the agent (a respawn, a
reset), it retires the old client: that agent's late updates are dropped and its late requests are
answered ``cancelled``, whatever session id they carry.

An agent may serve several sessions (codex-acp does): the member's own, and the extra sessions a
review in parts opens on it (:meth:`AcpClient.route`, ADR 0032). Every update and request names its
session, and goes to that session's turn only: what a part's reviewer asks is judged on the part's
turn, never on the member's. A session id this client does not serve is refused.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from codex_fusion.acp import jsonrpc
from codex_fusion.acp.schema import PERMISSION_CANCELLED, RequestPermissionParams, UsageUpdate, parse_update
from codex_fusion.errors import HandlerError
from codex_fusion.guardian.decision import GuardianFlags, Rule
from codex_fusion.guardian.paths import NotInside, open_inside
from codex_fusion.guardian.permissions import PendingPermission, choose_allow, choose_deny
from codex_fusion.guardian.policy import decide
from codex_fusion.guardian.toolcall import merged
from codex_fusion.member.notes import Audit, Note, NoteKind
from codex_fusion.member.turn import Event, Turn, TurnSlot
from codex_fusion.text import prompts

log = logging.getLogger(__name__)

#: Largest file ``fs/read_text_file`` serves, so a stray read cannot exhaust memory.
MAX_READ_BYTES = 10 * 1024 * 1024
READ_TIMEOUT = 10.0
#: Requests one turn may put to Claude; the next one stops the turn (a flood must not trap Claude).
MAX_ASKS_PER_TURN = 20


@dataclass(frozen=True)
class Guard:
    """What every client of one member shares, whichever agent instance it serves: where the member
    works, the guardian's flags, the audit, the member's turn slot and the request-id counter."""

    workspace: Path
    flags: GuardianFlags
    audit: Audit
    slot: TurnSlot
    request_ids: itertools.count[int]

    def client(self) -> AcpClient:
        """A client for a newly started agent."""
        return AcpClient(
            workspace=self.workspace,
            flags=self.flags,
            audit=self.audit,
            slot=self.slot,
            request_ids=self.request_ids,
        )


class AcpClient:
    def __init__(
        self,
        *,
        workspace: Path,
        flags: GuardianFlags,
        audit: Audit,
        slot: TurnSlot,
        request_ids: itertools.count[int],
    ) -> None:
        self._workspace = workspace
        self._flags = flags
        self._audit = audit
        self._slot = slot  # the member's turn in flight, read only
        self._request_ids = request_ids
        self._handlers = {
            "session/request_permission": self._on_permission,
            "fs/read_text_file": self._on_read_text_file,
        }
        self.session_id: str | None = None  # the member's own session, set by the session that opened it
        self._extras: dict[str, Guard] = {}  # extra sessions on this agent: each one's slot and audit
        self.context_usage: UsageUpdate | None = None
        self.retired = False

    def bind(self, session_id: str) -> None:
        self.session_id = session_id

    def retire(self) -> None:
        """This agent is no longer ours: ignore what it sends from now on."""
        self.retired = True

    def route(self, session_id: str, guard: Guard) -> None:
        """Send ``session_id``'s updates and requests to ``guard``'s turn: an extra session opened on
        this agent. Only for the same workspace and guardian flags as the agent's own (ADR 0032)."""
        if guard.workspace != self._workspace or guard.flags != self._flags:
            raise ValueError("an extra session must have the workspace and guardian of its agent")
        if session_id == self.session_id or session_id in self._extras:
            raise ValueError(f"session {session_id} is routed already")
        self._extras[session_id] = guard

    def unroute(self, session_id: str) -> None:
        """Forget an extra session: from now on what it sends is refused."""
        self._extras.pop(session_id, None)

    def _route(self, session_id: object) -> tuple[TurnSlot, Audit] | None:
        """The slot and audit of the session ``session_id`` names, or None: not a session of ours."""
        if self.retired or not isinstance(session_id, str):
            return None
        if session_id == self.session_id:
            return self._slot, self._audit
        guard = self._extras.get(session_id)
        return (guard.slot, guard.audit) if guard is not None else None

    def _turn_for(self, session_id: object) -> Turn | None:
        route = self._route(session_id)
        turn = route[0].current if route is not None else None
        if turn is None or session_id != turn.session_id:
            return None
        return turn

    # -- notifications ---------------------------------------------------------------------------

    def on_notification(self, method: str, params: Any) -> None:
        if method != "session/update" or not isinstance(params, dict):
            log.debug("ignored agent notification %s", method)
            return
        session_id = params.get("sessionId")
        if self._route(session_id) is None:
            log.debug("dropped an update for session %r", session_id)
            return
        update = parse_update(params.get("update"))
        if isinstance(update, UsageUpdate) and session_id == self.session_id:
            self.context_usage = update
        turn = self._turn_for(params.get("sessionId"))
        if turn is not None:
            turn.apply(update)

    # -- requests --------------------------------------------------------------------------------

    async def on_request(self, method: str, params: Any) -> Any:
        handler = self._handlers.get(method)
        if handler is None:
            raise HandlerError(jsonrpc.METHOD_NOT_FOUND, f"method not found: {method}")
        return await handler(params)

    async def _on_permission(self, params: Any) -> Any:
        try:
            request = RequestPermissionParams.model_validate(params)
        except ValueError as exc:
            raise HandlerError(jsonrpc.INVALID_PARAMS, f"invalid permission request: {exc}") from None
        turn = self._turn_for(request.session_id)
        if turn is None or not turn.live:
            log.info("permission request outside a live turn: answered cancelled")
            return PERMISSION_CANCELLED
        # The tool_call may have come first: merge what it said (its diffs, its paths).
        tool_call = merged(turn.tool_fields(request.tool_call.get("toolCallId")), request.tool_call)
        decision = decide(tool_call, self._workspace, self._flags)
        if decision.action == "refuse":
            log.info("guardian: refused %s (%s)", decision.summary, decision.rule)
            refusal = choose_deny(request.options)
            turn.refused(decision)
            if refusal.ends_turn:
                turn.continue_after(prompts.refused_continuation(decision.summary))
            return refusal.outcome
        if decision.action == "allow":
            choice = choose_allow(request.options, claude_decided=False)
            if choice is not None:
                log.info("guardian: auto-allowed %s by rule %s", decision.summary, decision.rule)
                turn.auto_allowed(decision)
                return choice.outcome
            decision = decision.escalated(Rule.ONLY_LASTING_ALLOW)
        if turn.asked >= MAX_ASKS_PER_TURN:
            log.warning("Codex asked %d times in one turn: stopping it", turn.asked + 1)
            turn.stop(Event.CANCEL, Note(NoteKind.CAPPED, detail=str(MAX_ASKS_PER_TURN)))
            return PERMISSION_CANCELLED
        held = PendingPermission(next(self._request_ids), tool_call, request.options, decision)
        log.info("guardian: asking Claude about %s (rule %s)", decision.summary, decision.rule)
        turn.hold(held)
        try:
            await held.answered.wait()
        finally:
            if not held.answered.is_set():  # withdrawn with $/cancel_request
                turn.withdraw(held)
        return held.outcome

    async def _on_read_text_file(self, params: Any) -> Any:
        if not isinstance(params, dict) or not isinstance(params.get("path"), str):
            raise HandlerError(jsonrpc.INVALID_PARAMS, "fs/read_text_file needs a string `path`")
        route = self._route(params.get("sessionId"))
        if route is None:  # fail closed: a read for no session of ours is nobody's to allow
            raise HandlerError(jsonrpc.INVALID_PARAMS, "fs/read_text_file for an unknown session")
        audit = route[1]
        path: str = params["path"]
        line, limit = params.get("line"), params.get("limit")
        try:
            with anyio.fail_after(READ_TIMEOUT):
                text = await anyio.to_thread.run_sync(
                    _read_inside, path, self._workspace, line, limit, abandon_on_cancel=True
                )
        except NotInside as exc:
            audit.count(Note(NoteKind.REFUSED_READ, path))
            raise HandlerError(jsonrpc.INVALID_PARAMS, str(exc)) from None
        except TimeoutError:
            raise HandlerError(
                jsonrpc.INTERNAL_ERROR, f"reading {path} took over {READ_TIMEOUT:g} s"
            ) from None
        except OSError as exc:
            raise HandlerError(
                jsonrpc.RESOURCE_NOT_FOUND, f"cannot read {path}: {exc.strerror or exc}"
            ) from None
        return {"content": text}


def _read_inside(path: str, workspace: Path, line: Any, limit: Any) -> str:
    fd = open_inside(path, workspace)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise OSError(f"file larger than {MAX_READ_BYTES} bytes")
    text = data.decode("utf-8", errors="replace")
    if line is None and limit is None:
        return text
    lines = text.splitlines(keepends=True)
    start = max(int(line) - 1, 0) if isinstance(line, int) else 0
    end = start + int(limit) if isinstance(limit, int) and limit >= 0 else len(lines)
    return "".join(lines[start:end])
