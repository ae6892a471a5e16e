"""The conversation with Codex: one persistent ACP session per workspace, turns run one at a time.

The Consultant owns the agent process (through a task of its own task group), the session, the FIFO
queue of turns and the state of the turn in flight:

    queued → running ⇄ paused for permission → done | cancelled | failed

A turn runs in a driver task owned by the Consultant, not by the tool call that started it: when
the guardian holds a permission request open, the tool call returns a :class:`Pause` at once while
the turn waits; ``permit`` answers the request and waits on the same turn again. It knows nothing
about MCP.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .acp import jsonrpc
from .acp.agent import Agent, AgentError, StartOptions, run_agent
from .acp.connection import ConnectionClosed, HandlerError, OutgoingCall, RequestTimeout, RpcError
from .acp.schema import (
    PERMISSION_CANCELLED,
    NewSessionResult,
    PromptResult,
    RequestPermissionParams,
    UsageUpdate,
    parse_update,
)
from .config import Config
from .guardian import decide, resolve_inside
from .permissions import PendingPermission, choose_allow, choose_deny, reason_of
from .redact import redact
from .turn import Turn, TurnObserver, TurnOutcome

log = logging.getLogger(__name__)

#: Largest file ``fs/read_text_file`` serves, so a stray read cannot exhaust memory.
MAX_READ_BYTES = 10 * 1024 * 1024


class ConsultError(Exception):
    """A consult that could not run or finish; the message says what to do."""


@dataclass(frozen=True)
class Pause:
    """A turn paused on a permission request that only Claude may answer."""

    kind: str
    summary: str
    rule: str
    reason: str | None
    command: str | None
    text_so_far: str
    elapsed: float
    waiting_behind: int  # further permission requests queued behind this one


TurnResult: TypeAlias = TurnOutcome | Pause


@dataclass
class _AgentSlot:
    agent: Agent
    stop: anyio.Event = field(default_factory=anyio.Event)
    finished: anyio.Event = field(default_factory=anyio.Event)


@dataclass
class _Ticket:
    go: anyio.Event = field(default_factory=anyio.Event)
    bounced: str | None = None


RequestHandler = Callable[[str, Any], Awaitable[Any]]


class Consultant:
    """Use as ``async with Consultant(config) as consultant:``; every agent it starts dies with it."""

    def __init__(self, config: Config, *, cancel_grace: float | None = None) -> None:
        self.config = config
        self.cancel_grace = config.cancel_grace if cancel_grace is None else cancel_grace
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None
        self._slot: _AgentSlot | None = None
        self._session: NewSessionResult | None = None
        self._busy = False
        self._queue: deque[_Ticket] = deque()
        self._closing = anyio.Event()
        self._turn: Turn | None = None
        self._notes_for_codex: list[str] = []
        #: A turn that ended after its pause was withdrawn, with nobody waiting: `permit` returns it.
        self._unclaimed: Turn | None = None
        self._request_ids = 0
        self.state = "idle"  # idle | starting | ready | running | paused | stopped
        self.last_error: str | None = None
        self.turns_completed = 0
        self.mode_note: str | None = None
        self.context_usage: UsageUpdate | None = None
        #: Guardian audit: "auto-allowed (read-inside)", "asked", "allowed by Claude", … → count
        self.decisions: Counter[str] = Counter()
        self._handlers: dict[str, RequestHandler] = {
            "session/request_permission": self._on_permission,
            "fs/read_text_file": self._on_read_text_file,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Consultant:
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        with anyio.CancelScope(shield=True):
            turn = self._turn
            if turn is not None:
                for pending in turn.pending:
                    pending.answer(PERMISSION_CANCELLED, "cancelled")
            await self._stop_agent(fast=True)
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._stack.__aexit__(exc_type, exc, tb)
        self.state = "stopped"

    # -- status ------------------------------------------------------------------------------

    @property
    def agent(self) -> Agent | None:
        return self._slot.agent if self._slot is not None else None

    @property
    def session_id(self) -> str | None:
        return self._session.session_id if self._session is not None else None

    @property
    def queue_length(self) -> int:
        """Consults waiting for their turn (not counting the one running)."""
        return len(self._queue)

    @property
    def current_turn(self) -> Turn | None:
        return self._turn

    @property
    def pending_permission(self) -> PendingPermission | None:
        turn = self._turn
        return turn.pending[0] if turn is not None and turn.pending else None

    # -- agent → client ----------------------------------------------------------------------

    def _on_notification(self, method: str, params: Any) -> None:
        if method != "session/update" or not isinstance(params, dict):
            log.debug("ignored agent notification %s", method)
            return
        if params.get("sessionId") != self.session_id:
            log.debug("dropped an update for session %r", params.get("sessionId"))
            return
        update = parse_update(params.get("update"))
        if isinstance(update, UsageUpdate):
            self.context_usage = update
        turn = self._turn
        if turn is not None:
            turn.apply(update)

    async def _on_request(self, method: str, params: Any) -> Any:
        handler = self._handlers.get(method)
        if handler is None:
            raise HandlerError(jsonrpc.METHOD_NOT_FOUND, f"method not found: {method}")
        return await handler(method, params)

    async def _on_permission(self, method: str, params: Any) -> Any:
        try:
            request = RequestPermissionParams.model_validate(params)
        except ValueError as exc:
            raise HandlerError(jsonrpc.INVALID_PARAMS, f"invalid permission request: {exc}") from None
        turn = self._turn
        if turn is None or request.session_id != turn.session_id or turn.cancel_requested:
            log.info("permission request outside a live turn: answered cancelled")
            return PERMISSION_CANCELLED
        tool_call = dict(request.tool_call)
        earlier = turn.tools.get(str(tool_call.get("toolCallId")))
        if earlier is not None:  # the tool_call may have come first: merge, the request wins
            tool_call = {**earlier.fields, **tool_call}
        workspace = self.config.workspace.path
        assert workspace is not None
        decision = decide(tool_call, workspace, self.config.flags)
        if decision.action == "allow":
            choice = choose_allow(request.options, claude_decided=False)
            if choice is not None:
                self.decisions[f"auto-allowed ({decision.rule})"] += 1
                log.info("guardian: auto-allowed %s by rule %s", decision.summary, decision.rule)
                turn.notes.append(f"auto-allowed: {decision.summary}")
                return choice.outcome
            decision = type(decision)(
                "ask", "only-lasting-allow", decision.kind, decision.summary, decision.paths
            )
        self._request_ids += 1
        pending = PendingPermission(self._request_ids, tool_call, request.options, decision)
        self.decisions["asked Claude"] += 1
        log.info("guardian: asking Claude about %s (rule %s)", decision.summary, decision.rule)
        turn.pending.append(pending)
        if len(turn.pending) == 1:
            self._paused(turn)
        try:
            await pending.answered.wait()
        finally:
            if not pending.answered.is_set():
                self.decisions["withdrawn by Codex"] += 1
                turn.notes.append(f"Codex withdrew its request to {decision.summary}")
            self._settle(turn, pending)  # a no-op unless withdrawn by $/cancel_request
        return pending.outcome

    def _settle(self, turn: Turn, pending: PendingPermission) -> None:
        """Take an answered (or withdrawn) request off the turn; the next one, if any, pauses it."""
        if pending not in turn.pending:
            return
        turn.pending.remove(pending)
        if turn.pending:
            turn.pending[0].created = time.monotonic()
            self._paused(turn)
        elif not turn.done:
            self.state = "running"
            turn.last_progress = time.monotonic()  # time spent waiting for Claude does not count
            turn.signal()

    def _paused(self, turn: Turn) -> None:
        self.state = "paused"
        # Consults queued behind a paused turn would wait on Claude, who may be waiting on them.
        self._bounce_waiters(
            "Not sent to Codex: Codex is paused, waiting for your `permit` decision on another "
            "request. Call `permit` first, then ask again."
        )
        turn.signal()

    async def _on_read_text_file(self, method: str, params: Any) -> Any:
        if not isinstance(params, dict) or not isinstance(params.get("path"), str):
            raise HandlerError(jsonrpc.INVALID_PARAMS, "fs/read_text_file needs a string `path`")
        workspace = self.config.workspace.path
        assert workspace is not None
        real = resolve_inside(params["path"], workspace)
        if real is None:
            self.decisions["refused read outside workspace"] += 1
            raise HandlerError(jsonrpc.INVALID_PARAMS, f"{params['path']} is outside the workspace")
        line, limit = params.get("line"), params.get("limit")
        try:
            return {"content": await anyio.to_thread.run_sync(_read_lines, real, line, limit)}
        except OSError as exc:
            raise HandlerError(jsonrpc.RESOURCE_NOT_FOUND, f"cannot read {params['path']}: {exc}") from None

    # -- the agent task ----------------------------------------------------------------------

    async def _agent_main(self, *, task_status: TaskStatus[_AgentSlot]) -> None:
        assert self.config.workspace.path is not None
        options = StartOptions(
            argv=self.config.agent_argv,
            cwd=self.config.workspace.path,
            env=self.config.agent_env,
            startup_timeout=self.config.startup_timeout,
            read_text_file=True,
        )
        slot: _AgentSlot | None = None
        try:
            async with run_agent(
                options, on_request=self._on_request, on_notification=self._on_notification
            ) as agent:
                slot = _AgentSlot(agent)
                task_status.started(slot)
                async with anyio.create_task_group() as tg:

                    async def on_exit() -> None:
                        await agent.process.exited.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(on_exit)
                    await slot.stop.wait()
                    tg.cancel_scope.cancel()
        except Exception:
            if slot is None:
                raise
            log.exception("stopping the agent failed")
        finally:
            if slot is not None:
                slot.finished.set()
                log.info("agent stopped: %s", slot.agent.process.describe_exit())

    async def _stop_agent(self, *, fast: bool = False) -> None:
        slot, self._slot, self._session = self._slot, None, None
        if slot is None:
            return
        slot.agent.fast_stop = fast
        slot.stop.set()
        await slot.finished.wait()

    def kill_agent(self) -> None:
        """Kill the agent's process group now and forget the session (next call respawns)."""
        slot, self._slot, self._session = self._slot, None, None
        if slot is not None:
            slot.agent.process.kill()
            slot.agent.fast_stop = True
            slot.stop.set()

    async def _ensure_session(self) -> tuple[Agent, str]:
        if self.config.workspace.path is None:
            raise ConsultError(self.config.workspace.error or "No workspace.")
        slot = self._slot
        if slot is not None and slot.agent.alive and self._session is not None:
            return slot.agent, self._session.session_id
        if slot is not None:
            await self._stop_agent()
        assert self._tg is not None
        self.state = "starting"
        try:
            slot = await self._tg.start(self._agent_main)
            self._slot = slot
            session = await slot.agent.new_session(
                self.config.workspace.path, timeout=self.config.startup_timeout
            )
            await self._apply_mode(slot.agent, session)
        except (AgentError, RpcError, RequestTimeout) as exc:
            await self._stop_agent()
            self.state = "idle"
            error = exc if isinstance(exc, AgentError) else self._startup_error(exc)
            self.last_error = error.summary
            raise error from None
        self._session = session
        self.state = "ready"
        log.info("Codex session %s ready in %s", session.session_id, self.config.workspace.path)
        return slot.agent, session.session_id

    def _startup_error(self, exc: RpcError | RequestTimeout) -> AgentError:
        tail = self._slot.agent.process.stderr.text() if self._slot is not None else ""
        if isinstance(exc, RequestTimeout):
            return AgentError(f"Codex did not open a session: {exc}.", stderr_tail=tail)
        return AgentError(
            f"Codex could not open a session: {exc.error_message} (code {exc.code}).",
            stderr_tail=tail,
            code=exc.code,
        )

    async def _apply_mode(self, agent: Agent, session: NewSessionResult) -> None:
        """Put the session in the configured mode, so approvals come to us (see ADR 0002)."""
        wanted = self.config.agent_mode
        timeout = self.config.startup_timeout
        modes = session.modes
        if modes is not None and any(mode.id == wanted for mode in modes.available_modes):
            if modes.current_mode_id != wanted:
                await agent.set_mode(session.session_id, wanted, timeout=timeout)
            self.mode_note = wanted
            return
        for option in session.config_options or []:
            if option.get("id") == "mode" and wanted in _option_values(option.get("options")):
                await agent.set_config_option(session.session_id, "mode", wanted, timeout=timeout)
                self.mode_note = wanted
                return
        offered = [mode.id for mode in modes.available_modes] if modes is not None else []
        self.mode_note = f"mode {wanted!r} not offered by the agent (offers: {', '.join(offered) or 'none'})"
        log.warning("%s", self.mode_note)

    # -- the queue ---------------------------------------------------------------------------

    async def _acquire(self) -> None:
        if not self._busy and not self._queue:
            self._busy = True
            return
        ticket = _Ticket()
        self._queue.append(ticket)
        try:
            await ticket.go.wait()
        except anyio.get_cancelled_exc_class():
            if ticket in self._queue:
                self._queue.remove(ticket)  # cancelled while queued: nothing was sent to Codex
            elif ticket.bounced is None:
                self._release()  # handed the turn just as we were cancelled: pass it on
            raise
        if ticket.bounced is not None:
            raise ConsultError(ticket.bounced)

    def _release(self) -> None:
        if self._queue:
            self._queue.popleft().go.set()
        else:
            self._busy = False

    def _bounce_waiters(self, reason: str) -> None:
        while self._queue:
            ticket = self._queue.popleft()
            ticket.bounced = reason
            ticket.go.set()

    # -- turns -------------------------------------------------------------------------------

    async def consult(
        self,
        prompt: str,
        observer: TurnObserver | None = None,
        on_start: Callable[[], None] | None = None,
        timeout: float | None = None,
        tool: str = "consult",
    ) -> TurnResult:
        """Run one prompt as a turn, after every turn queued before it.

        Returns the outcome, or a :class:`Pause` when Codex waits for a ``permit`` decision.
        """
        pending = self.pending_permission
        if pending is not None:
            raise ConsultError(
                f"Codex is paused, waiting for your decision on: {pending.decision.summary}. "
                "Call `permit` (allow or deny) first, then ask again."
            )
        await self._acquire()
        self._unclaimed = None
        try:
            if on_start is not None:
                on_start()
            turn = await self._start_turn(prompt, observer)
        except BaseException:
            self._release()
            raise
        turn.tool = tool
        turn.timeout = self.config.turn_timeout if timeout is None else timeout
        return await self._await_turn(turn, observer)

    async def permit(
        self,
        decision: Literal["allow", "deny"],
        note: str | None = None,
        observer: TurnObserver | None = None,
        timeout: float | None = None,
    ) -> TurnResult:
        """Answer the held permission request and wait for the same turn's next pause or end."""
        turn = self._turn
        pending = self.pending_permission
        if pending is None and self._unclaimed is not None:
            finished, self._unclaimed = self._unclaimed, None
            return await self._await_turn(finished, observer)
        if turn is None or pending is None:
            raise ConsultError("No pending permission — it may have completed or been cancelled.")
        note = (note or "").strip()
        what = pending.decision.summary
        if timeout is not None:
            turn.timeout = timeout
        if decision == "allow":
            choice = choose_allow(pending.options, claude_decided=True)
            if choice is None:
                raise ConsultError(
                    f"Codex offered no way to approve this request ({_option_ids(pending)}); "
                    "call `permit` with decision `deny`."
                )
            self.decisions["allowed by Claude"] += 1
            turn.notes.append(f"allowed by Claude: {what}" + (f" ({choice.note})" if choice.note else ""))
            if note:
                self._notes_for_codex.append(f"About your request to {what}, which I approved: {note}")
            pending.answer(choice.outcome, "allow")
            self._settle(turn, pending)
        else:
            choice = choose_deny(pending.options)
            self.decisions["denied by Claude"] += 1
            turn.notes.append(f"denied by Claude: {what}")
            if choice.ends_turn:
                turn.continuation = _continuation_prompt(what, note)
            elif note:
                self._notes_for_codex.append(f"About your request to {what}, which I denied: {note}")
            pending.answer(choice.outcome, "deny")
            self._settle(turn, pending)
        log.info(
            "guardian: Claude %s %s (option %s)%s",
            "allowed" if decision == "allow" else "denied",
            what,
            choice.option_id,
            f"; note: {note}" if note else "",
        )
        return await self._await_turn(turn, observer)

    async def _start_turn(self, prompt: str, observer: TurnObserver | None) -> Turn:
        agent, session_id = await self._ensure_session()
        if self._notes_for_codex:
            notes, self._notes_for_codex = self._notes_for_codex, []
            prompt = "<notes_from_claude>\n" + "\n".join(notes) + "\n</notes_from_claude>\n\n" + prompt
        turn = Turn(session_id=session_id, observer=observer)
        call = await self._send_prompt(agent, turn, prompt)
        self._turn = turn
        self.state = "running"
        assert self._tg is not None
        self._tg.start_soon(self._drive, agent, turn, call)
        return turn

    async def _send_prompt(self, agent: Agent, turn: Turn, prompt: str) -> OutgoingCall:
        params = {"sessionId": turn.session_id, "prompt": [{"type": "text", "text": prompt}]}
        try:
            return await agent.connection.start_request("session/prompt", params)
        except ConnectionClosed:
            raise await self._lost(agent, "Codex could not take the prompt") from None

    async def _drive(self, agent: Agent, turn: Turn, call: OutgoingCall) -> None:
        """Own the turn until Codex answers the prompt (and any continuation after a deny)."""
        try:
            while True:
                try:
                    raw = await call.result()
                finally:
                    call.forget()
                result = PromptResult.model_validate(raw if isinstance(raw, dict) else {})
                turn.usage.merge_prompt_usage(result.usage)
                continuation, turn.continuation = turn.continuation, None
                if continuation and result.stop_reason == "cancelled" and not turn.cancel_requested:
                    # A deny ended Codex's turn; from Claude's side the consultation goes on.
                    turn.text_parts.append("\n\n")
                    call = await self._send_prompt(agent, turn, continuation)
                    continue
                break
            self.turns_completed += 1
            self.last_error = None
            stop = turn.cancel_requested if turn.cancel_requested == "timeout" else result.stop_reason
            turn.finish(self._outcome(turn, stop))
        except ConnectionClosed:
            if turn.cancel_requested:
                turn.finish(self._outcome(turn, turn.cancel_requested, hard_stopped=True))
            else:
                turn.finish(error=await self._lost(agent, "Codex stopped in the middle of the turn"))
        except AgentError as exc:
            turn.finish(error=exc)
        except RpcError as exc:
            detail = _rpc_detail(exc)
            self.last_error = f"Codex failed the turn: {detail}"
            turn.finish(
                error=ConsultError(
                    f"Codex failed this turn: {detail} (code {exc.code}). The session is kept; "
                    "try again, or call `status` for the agent's stderr."
                )
            )
        except BaseException as exc:  # cancelled (shutdown) or a bug: never leave a waiter hanging
            turn.finish(error=ConsultError(f"The turn was interrupted: {exc!r}"))
            raise
        finally:
            self._record(turn)
            if turn.waiters == 0:
                self._unclaimed = turn
            if self._turn is turn:
                self._turn = None
                if self.state in ("running", "paused"):
                    self.state = "ready" if self._slot is not None else "idle"
            self._release()

    def _record(self, turn: Turn) -> None:
        """One stderr line per turn, and one JSON line in CODEX_FUSION_LOG when it is set."""
        outcome, error = turn.outcome, turn.error
        stop = outcome.stop_reason if outcome is not None else "failed"
        tokens = turn.usage.tokens
        log.info(
            "turn: %s %.1fs stop=%s tokens=%s asked=%d",
            turn.tool,
            turn.elapsed,
            stop,
            tokens if tokens is not None else "-",
            sum(1 for note in turn.notes if "by Claude" in note),
        )
        if self.config.log_path is None:
            return
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "tool": turn.tool,
            "session": turn.session_id,
            "elapsed_s": round(turn.elapsed, 3),
            "stop_reason": stop,
            "tokens": tokens,
            "activity": [redact(line) for line in turn.activity_trail()],
            "guardian": [redact(note) for note in turn.notes],
            "answer": redact(turn.text),
            "error": redact(str(error)) if error is not None else None,
        }
        try:
            append_private(self.config.log_path, json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning("cannot write the turn log %s: %s", self.config.log_path, exc)

    def _outcome(self, turn: Turn, stop_reason: str, *, hard_stopped: bool = False) -> TurnOutcome:
        notes = list(turn.notes)
        if stop_reason == "timeout" and turn.notice:
            notes.append(f"Codex's last status: {turn.notice}")
        if hard_stopped:
            notes.append("Codex did not stop in time and was restarted; its session context is lost")
        return TurnOutcome(
            text=turn.text,
            stop_reason=stop_reason,
            elapsed=turn.elapsed,
            usage=turn.usage,
            activity=turn.activity_trail(),
            session_id=turn.session_id,
            notes=tuple(notes),
        )

    async def _await_turn(self, turn: Turn, observer: TurnObserver | None) -> TurnResult:
        """Wait for the turn's next pause or its end; a cancelled wait cancels the turn.

        The idle timeout runs only here, while someone waits and Codex works: it counts from
        Codex's last progress and is not running while the turn is paused for Claude.
        """
        turn.observer = observer
        turn.waiters += 1
        try:
            while True:
                if turn.done:
                    if self._unclaimed is turn:
                        self._unclaimed = None
                    if turn.error is not None:
                        raise turn.error
                    assert turn.outcome is not None
                    return turn.outcome
                if turn.pending:
                    return self._pause_of(turn)
                idle_left = turn.last_progress + turn.timeout - time.monotonic()
                if idle_left <= 0:
                    log.warning("turn idle for %.0fs: timing out", turn.timeout)
                    with anyio.CancelScope(shield=True):
                        await self.cancel_turn(turn, "timeout")
                        with anyio.move_on_after(self.cancel_grace + 2):
                            await turn.finished.wait()
                    if not turn.done:  # the driver never saw the end: report what we have
                        turn.finish(self._outcome(turn, "timeout", hard_stopped=True))
                    continue
                with anyio.move_on_after(idle_left):
                    await turn.wake.wait()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.cancel_turn(turn)
            raise
        finally:
            turn.waiters -= 1
            turn.observer = None

    def _pause_of(self, turn: Turn) -> Pause:
        pending = turn.pending[0]
        return Pause(
            kind=pending.decision.kind,
            summary=pending.decision.summary,
            rule=pending.decision.rule,
            reason=reason_of(pending.tool_call),
            command=pending.command,
            text_so_far=turn.text,
            elapsed=turn.elapsed,
            waiting_behind=len(turn.pending) - 1,
        )

    async def cancel_turn(self, turn: Turn | None = None, reason: str = "cancelled") -> None:
        """Ask Codex to stop the turn; if it has not answered within the grace, kill it."""
        turn = turn or self._turn
        slot = self._slot
        if turn is None or turn.done:
            return
        turn.cancel_requested = reason
        started = time.monotonic()
        for pending in list(turn.pending):
            pending.answer(PERMISSION_CANCELLED, "cancelled")
            self._settle(turn, pending)
        if slot is None:
            return
        try:
            await slot.agent.cancel(turn.session_id)
        except Exception:  # a dead connection: the driver notices on its own
            log.debug("session/cancel could not be sent", exc_info=True)
        if not self._closing.is_set():
            with anyio.move_on_after(self.cancel_grace):
                await _first(turn.finished, self._closing)
        if turn.done:
            log.info("turn %s; Codex stopped in %.2fs", reason, time.monotonic() - started)
            return
        log.warning("Codex did not stop within %.1fs; killing the agent", self.cancel_grace)
        self.last_error = f"A {reason} turn did not stop in time; the agent was killed and will restart."
        self.kill_agent()
        self.state = "idle"

    async def _lost(self, agent: Agent, what: str) -> AgentError:
        error = await agent.failure(what)
        self.last_error = error.summary + " It will be restarted on the next call."
        if self.agent is agent:
            self.kill_agent()
        self.state = "idle"
        return AgentError(self.last_error, stderr_tail=error.stderr_tail)


async def _first(*events: anyio.Event) -> None:
    """Wait until any of the events is set."""
    async with anyio.create_task_group() as tg:
        for event in events:

            async def wait(event: anyio.Event = event) -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(wait)


def append_private(path: Path, text: str) -> None:
    """Append to a file only the user can read (0600; its new parent directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def _read_lines(path: Path, line: Any, limit: Any) -> str:
    with path.open("rb") as fh:
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


def _continuation_prompt(what: str, note: str) -> str:
    text = (
        f"Claude, who approves your actions in this consultation, denied your request to {what}. "
        "Do not retry it or work around it. Continue the consultation without it, and say briefly "
        "what you could not check because of it."
    )
    if note:
        text += f"\n\nClaude's note: {note}"
    return text


def _option_ids(pending: PendingPermission) -> str:
    return ", ".join(option.option_id for option in pending.options) or "no options"


def _option_values(options: Any) -> list[str]:
    values: list[str] = []
    for option in options if isinstance(options, list) else []:
        if not isinstance(option, dict):
            continue
        if isinstance(option.get("value"), str):
            values.append(option["value"])
        values.extend(_option_values(option.get("options")))
    return values


def _rpc_detail(exc: RpcError) -> str:
    text = exc.error_message
    if isinstance(exc.data, dict):
        for key in ("message", "codex_error_info", "details"):
            value = exc.data.get(key)
            if value and str(value) not in text:
                text += f" — {value}"
                break
    return text
