"""The conversation with Codex: one persistent ACP session per workspace, turns run one at a time.

The Consultant owns the agent process (through a task of its own task group), the session, the FIFO
queue of turns and the state of the turn in flight. It knows nothing about MCP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .acp import jsonrpc
from .acp.agent import Agent, AgentError, StartOptions, run_agent
from .acp.connection import ConnectionClosed, HandlerError, RequestTimeout, RpcError
from .acp.schema import NewSessionResult, PromptResult, UsageUpdate, parse_update
from .config import Config
from .turn import Turn, TurnObserver, TurnOutcome

log = logging.getLogger(__name__)

#: How long a cancelled turn waits for Codex to answer ``cancelled`` before the agent is killed.
DEFAULT_CANCEL_GRACE = 1.5


class ConsultError(Exception):
    """A consult that could not run or finish; the message says what to do."""


@dataclass
class _AgentSlot:
    agent: Agent
    stop: anyio.Event = field(default_factory=anyio.Event)
    finished: anyio.Event = field(default_factory=anyio.Event)


RequestHandler = Callable[[str, Any], Awaitable[Any]]


class Consultant:
    """Use as ``async with Consultant(config) as consultant:``; every agent it starts dies with it."""

    def __init__(self, config: Config, *, cancel_grace: float = DEFAULT_CANCEL_GRACE) -> None:
        self.config = config
        self.cancel_grace = cancel_grace
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None
        self._slot: _AgentSlot | None = None
        self._session: NewSessionResult | None = None
        self._lock = anyio.Lock()
        self._closing = anyio.Event()
        self._turn: Turn | None = None
        self._waiting = 0
        self.state = "idle"  # idle | starting | ready | running | stopped
        self.last_error: str | None = None
        self.turns_completed = 0
        self.mode_note: str | None = None
        self.context_usage: UsageUpdate | None = None
        #: Extra handlers for agent → client requests (permissions, fs), by method name.
        self.request_handlers: dict[str, RequestHandler] = {}

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
        return self._waiting

    @property
    def current_turn(self) -> Turn | None:
        return self._turn

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
        handler = self.request_handlers.get(method)
        if handler is None:
            raise HandlerError(jsonrpc.METHOD_NOT_FOUND, f"method not found: {method}")
        return await handler(method, params)

    # -- the agent task ----------------------------------------------------------------------

    async def _agent_main(self, *, task_status: TaskStatus[_AgentSlot]) -> None:
        assert self.config.workspace.path is not None
        options = StartOptions(
            argv=self.config.agent_argv,
            cwd=self.config.workspace.path,
            env=self.config.agent_env,
            startup_timeout=self.config.startup_timeout,
            read_text_file="fs/read_text_file" in self.request_handlers,
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

    # -- turns -------------------------------------------------------------------------------

    async def consult(
        self,
        prompt: str,
        observer: TurnObserver | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> TurnOutcome:
        """Run one prompt as a turn, after every turn queued before it."""
        self._waiting += 1
        queued = True
        try:
            async with self._lock:
                self._waiting -= 1
                queued = False
                if on_start is not None:
                    on_start()
                return await self._run_turn(prompt, observer)
        finally:
            if queued:
                self._waiting -= 1

    async def _run_turn(self, prompt: str, observer: TurnObserver | None) -> TurnOutcome:
        agent, session_id = await self._ensure_session()
        turn = Turn(session_id=session_id, observer=observer)
        self._turn = turn
        self.state = "running"
        blocks = [{"type": "text", "text": prompt}]
        try:
            try:
                call = await agent.connection.start_request(
                    "session/prompt", {"sessionId": session_id, "prompt": blocks}
                )
            except ConnectionClosed:
                raise await self._lost(agent, "Codex could not take the prompt") from None
            try:
                raw = await call.result()
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await self._cancel_turn(agent, session_id, call.done)
                raise
            except ConnectionClosed:
                raise await self._lost(agent, "Codex stopped in the middle of the turn") from None
            except RpcError as exc:
                detail = _rpc_detail(exc)
                self.last_error = f"Codex failed the turn: {detail}"
                raise ConsultError(
                    f"Codex failed this turn: {detail} (code {exc.code}). The session is kept; "
                    "try again, or call `status` for the agent's stderr."
                ) from None
            finally:
                call.forget()
        finally:
            self._turn = None
            if self.state == "running":
                self.state = "ready"
        result = PromptResult.model_validate(raw if isinstance(raw, dict) else {})
        turn.usage.merge_prompt_usage(result.usage)
        self.turns_completed += 1
        self.last_error = None
        return TurnOutcome(
            text=turn.text,
            stop_reason=result.stop_reason,
            elapsed=turn.elapsed,
            usage=turn.usage,
            activity=turn.activity_trail(),
            session_id=session_id,
        )

    async def _lost(self, agent: Agent, what: str) -> AgentError:
        error = await agent.failure(what)
        self.last_error = error.summary + " It will be restarted on the next call."
        self.kill_agent()
        self.state = "idle"
        return AgentError(self.last_error, stderr_tail=error.stderr_tail)

    async def _cancel_turn(self, agent: Agent, session_id: str, answered: anyio.Event) -> None:
        """Ask Codex to stop; if it has not answered within the grace, kill it (respawn next call)."""
        started = time.monotonic()
        await agent.cancel(session_id)
        if not self._closing.is_set():
            with anyio.move_on_after(self.cancel_grace):
                await _first(answered, self._closing)
        if answered.is_set():
            log.info("turn cancelled; Codex stopped in %.2fs", time.monotonic() - started)
            return
        log.warning("Codex did not stop within %.1fs; killing the agent", self.cancel_grace)
        self.last_error = "A cancelled turn did not stop in time; the agent was killed."
        self.kill_agent()
        self.state = "idle"


async def _first(*events: anyio.Event) -> None:
    """Wait until any of the events is set."""
    async with anyio.create_task_group() as tg:
        for event in events:

            async def wait(event: anyio.Event = event) -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(wait)


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
