"""The agent supervisor: one spawned ACP agent, its connection, its handshake and its session calls.

Everything above this module talks to Codex through :class:`Agent`; nothing reaches past it to the
connection or the process. Failures leave this module as :class:`AgentError` with the agent's exit
status and stderr tail attached, or as :class:`RpcError` for an error answer mid-turn.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio

from codex_fusion.acp import jsonrpc
from codex_fusion.acp.connection import Connection
from codex_fusion.acp.process import AgentHost, AgentProcess
from codex_fusion.acp.schema import (
    InitializeResult,
    NewSessionResult,
    PromptResult,
)
from codex_fusion.errors import AgentError, AuthRequired, ConnectionClosed, RequestTimeout, RpcError
from codex_fusion.text.redact import redact, redact_credentials

log = logging.getLogger(__name__)

CODEX = "Codex"


@dataclass(frozen=True)
class StartOptions:
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    startup_timeout: float = 120.0
    #: ``initialize``'s ``clientCapabilities`` as sent (None: ours, ``fs.readTextFile``); some agents
    #: mishandle the client's fs (docs/agent-behaviour.md).
    capabilities: Mapping[str, Any] | None = None
    #: Who the agent is in what Claude reads (a council member's display name).
    name: str = CODEX
    #: Looks at the started agent after its handshake (``confine.Launcher.check``): None to go on, or the
    #: options to start it again with, once. It sets ``Agent.confinement`` and may refuse (AgentError).
    check: Check | None = field(default=None, compare=False)
    #: How a session is logged in and put in its mode (``launch.sessions.POLICY`` for every agent
    #: codex-fusion starts); None: the plain ACP steps only (:class:`PlainPolicy`).
    policy: SessionPolicy | None = field(default=None, compare=False)


#: See :attr:`StartOptions.check`.
Check = Callable[["Agent"], Awaitable["StartOptions | None"]]


#: Starts an agent host; the default runs the command as an OS process. Tests pass an in-memory one.
Spawn = Callable[[StartOptions], Awaitable[AgentHost]]


class ModeStep(Protocol):
    """A mode a session must be put in and shown to be in (``launch.agents.plan.ModeStep``)."""

    @property
    def mode(self) -> str: ...

    @property
    def via(self) -> str: ...

    def request(self, session_id: str) -> tuple[str, dict[str, Any]]: ...

    def confirmed(self, answer: Any) -> bool: ...


class SessionPolicy(Protocol):
    """What is not ACP itself: which login to use with a key from the environment, what to tell a user
    who is not logged in, and how a new session is put in the mode asked for."""

    def api_key_method(self, agent: Agent) -> str | None: ...

    def not_logged_in(self, name: str) -> str: ...

    async def apply_mode(
        self,
        agent: Agent,
        session: NewSessionResult,
        wanted: str | None,
        *,
        timeout: float,
        step: ModeStep | None,
    ) -> str: ...


class PlainPolicy:
    """No login with a key; the mode by ``session/set_mode`` or the ``mode`` config option if offered."""

    def api_key_method(self, agent: Agent) -> str | None:
        return None

    def not_logged_in(self, name: str) -> str:
        return f"{name} is not logged in"

    async def apply_mode(
        self,
        agent: Agent,
        session: NewSessionResult,
        wanted: str | None,
        *,
        timeout: float,
        step: ModeStep | None,
    ) -> str:
        if step is not None:
            return await agent.apply_step(session, step, timeout=timeout)
        return await agent.select_mode(session, wanted, timeout=timeout) or agent.mode_not_offered(
            session, wanted
        )


async def spawn_process(options: StartOptions) -> AgentHost:
    return await AgentProcess.spawn(options.argv, cwd=options.cwd, env=options.env)


@dataclass(frozen=True)
class OpenedSession:
    """A session ready for prompts, in the mode we asked for (or a note saying why not)."""

    session_id: str
    mode_note: str
    result: NewSessionResult
    system_prompt: bool  # the session carries the system prompt we asked for


class Agent:
    """A started and initialized agent. Created by :func:`run_agent`, valid inside its block."""

    def __init__(self, process: AgentHost, connection: Connection, options: StartOptions) -> None:
        self.process = process
        self.connection = connection
        self.options = options
        self.info = InitializeResult()
        #: Set before leaving :func:`run_agent` to skip the graceful stdin-EOF wait (server shutdown).
        self.fast_stop = False
        #: What boundary this agent has, and how codex-fusion knows (``confine.Confinement``), once checked.
        self.confinement: Any = None
        self.policy: SessionPolicy = options.policy or PlainPolicy()

    @property
    def command(self) -> str:
        return shlex.join(self.process.argv)

    @property
    def alive(self) -> bool:
        return not self.process.exited.is_set() and self.connection.closed is None

    @property
    def name(self) -> str:
        info = self.info.agent_info
        if info is None:
            return "agent"
        return f"{info.name} {info.version}" if info.version else info.name

    def stderr_tail(self, max_chars: int = 2000) -> str:
        """The last lines of the agent's stderr, redacted as a log is (they end up in errors and status)."""
        return redact(self.process.stderr.text(max_chars))

    async def failure(self, what: str) -> AgentError:
        """An AgentError for a dead connection, with exit status and stderr once they are known."""
        with anyio.move_on_after(1.0):
            await self.process.exited.wait()
        return AgentError(
            f"{what}: the agent ({self.command}) {self.process.describe_exit()}.",
            stderr_tail=self.stderr_tail(),
        )

    async def call(self, method: str, params: Any, *, timeout: float | None = None) -> Any:
        """A request that turns a dead agent into an AgentError naming the exit and stderr."""
        try:
            return await self.connection.request(method, params, timeout=timeout)
        except ConnectionClosed:
            raise await self.failure(f"{self.options.name} stopped during {method}") from None

    # -- sessions ----------------------------------------------------------------------------

    def supports(self, session_capability: str) -> bool:
        """Whether the agent advertised ``sessionCapabilities.<name>`` (``close``, ``systemPrompt``, …)."""
        capabilities = self.info.agent_capabilities.get("sessionCapabilities")
        return isinstance(capabilities, dict) and capabilities.get(session_capability) is not None

    async def open_session(
        self,
        cwd: Path,
        *,
        mode: str | None,
        timeout: float,
        system_prompt: str | None = None,
        meta: Mapping[str, Any] | None = None,
        step: ModeStep | None = None,
    ) -> OpenedSession:
        """``session/new`` (authenticating with an API key once if asked to), then the mode.

        ``system_prompt`` is appended to Codex's instructions where the agent supports it."""
        extra = {**self._frame(system_prompt), **({"_meta": dict(meta)} if meta else {})}
        try:
            result = await self._new_session(cwd, timeout=timeout, extra=extra)
            mode_note = await self._apply_mode(result, mode, timeout=timeout, step=step)
        except RequestTimeout as exc:
            tail = self.stderr_tail()
            what = f"{self.options.name} did not open a session: {exc}."
            raise AgentError(what, stderr_tail=tail) from None
        except RpcError as exc:
            said = redact_credentials(exc.describe())
            raise AgentError(
                f"{self.options.name} could not open a session: {said} (code {exc.code}).",
                stderr_tail=self.stderr_tail(),
                code=exc.code,
            ) from None
        return OpenedSession(result.session_id, mode_note, result, system_prompt="systemPrompt" in extra)

    def can_reopen(self) -> bool:
        """Whether the agent can open an earlier session again (``session/resume`` or ``session/load``)."""
        return self.supports("resume") or self.info.agent_capabilities.get("loadSession") is True

    async def reopen_session(
        self,
        session_id: str,
        cwd: Path,
        *,
        mode: str | None,
        timeout: float,
        system_prompt: str | None = None,
        meta: Mapping[str, Any] | None = None,
        step: ModeStep | None = None,
    ) -> OpenedSession | None:
        """Open an earlier session again, with its context: ``session/resume`` where advertised (no
        replay), else ``session/load`` (the agent replays the history first; nobody listens to it).

        None when the agent cannot, or says the session is gone; a dead agent raises AgentError."""
        method = "session/resume" if self.supports("resume") else "session/load"
        if not self.can_reopen():
            return None
        params = {"sessionId": session_id, "cwd": str(cwd), "mcpServers": [], **self._frame(system_prompt)}
        if meta:
            params["_meta"] = dict(meta)
        try:
            raw = await self.call(method, params, timeout=timeout)
            result = NewSessionResult.model_validate(
                {**(raw if isinstance(raw, dict) else {}), "sessionId": session_id}
            )
            mode_note = await self._apply_mode(result, mode, timeout=timeout, step=step)
        except (RpcError, RequestTimeout, ValueError) as exc:
            log.info("%s %s failed: %s", method, session_id, exc)
            return None
        return OpenedSession(session_id, mode_note, result, system_prompt="systemPrompt" in params)

    async def fork_session(
        self,
        session_id: str,
        cwd: Path,
        *,
        mode: str | None,
        timeout: float,
        system_prompt: str | None = None,
        meta: Mapping[str, Any] | None = None,
        step: ModeStep | None = None,
    ) -> OpenedSession | None:
        """``session/fork``: a new session that starts with a copy of ``session_id``'s context.

        None when the agent does not advertise it or refuses; a dead agent raises AgentError."""
        if not self.supports("fork"):
            return None
        params = {"sessionId": session_id, "cwd": str(cwd), "mcpServers": [], **self._frame(system_prompt)}
        if meta:
            params["_meta"] = dict(meta)
        try:
            raw = await self.call("session/fork", params, timeout=timeout)
            result = NewSessionResult.model_validate(raw if isinstance(raw, dict) else {})
            mode_note = await self._apply_mode(result, mode, timeout=timeout, step=step)
        except (RpcError, RequestTimeout, ValueError) as exc:
            log.info("session/fork %s failed: %s", session_id, exc)
            return None
        return OpenedSession(result.session_id, mode_note, result, system_prompt="systemPrompt" in params)

    def _frame(self, system_prompt: str | None) -> dict[str, Any]:
        """The ``systemPrompt`` parameter, where the agent supports one."""
        if not system_prompt or not self.supports("systemPrompt"):
            return {}
        return {"systemPrompt": {"mode": "append", "content": [{"type": "text", "text": system_prompt}]}}

    async def close_session(self, session_id: str, *, timeout: float) -> bool:
        """``session/close`` where advertised; False when the agent cannot close sessions."""
        if not self.supports("close"):
            return False
        await self.call("session/close", {"sessionId": session_id}, timeout=timeout)
        return True

    async def _new_session(self, cwd: Path, *, timeout: float, extra: dict[str, Any]) -> NewSessionResult:
        params = {"cwd": str(cwd), "mcpServers": [], **extra}
        try:
            raw = await self.call("session/new", params, timeout=timeout)
        except RpcError as exc:
            if exc.code != jsonrpc.AUTH_REQUIRED:
                raise
            method = self.policy.api_key_method(self)
            if method is None:
                raise AuthRequired(
                    self.policy.not_logged_in(self.options.name) + ".", code=exc.code
                ) from None
            log.info("Codex asked for authentication; using auth method %s", method)
            try:
                await self.call("authenticate", {"methodId": method}, timeout=timeout)
                raw = await self.call("session/new", params, timeout=timeout)
            except RpcError as retry:
                why = f"authenticating with {method} failed: {redact_credentials(retry.error_message)}"
                raise AuthRequired(
                    f"{self.policy.not_logged_in(self.options.name)} ({why}).",
                    code=retry.code,
                ) from None
        return NewSessionResult.model_validate(raw)

    async def apply_step(self, session: NewSessionResult, step: ModeStep, *, timeout: float) -> str:
        """Put a council member's session in the mode that confines it, and check the agent says so;
        an agent that does not is refused (AgentError), never run unconfined."""
        if step.via == "launch" and step.confirmed(session.wire()):
            return step.mode
        method, params = step.request(session.session_id)
        answer = await self.call(method, params, timeout=timeout)
        if step.via == "launch" or step.confirmed(answer):
            return step.mode
        said = redact_credentials(str(answer)[:300])
        raise AgentError(
            f"{self.name} did not confirm the mode {step.mode!r} that confines it ({method} answered "
            f"{said}), so codex-fusion does not use it. Check the member's version against "
            "docs/agent-behaviour.md, or remove it from CODEX_FUSION_MEMBERS."
        )

    async def select_mode(
        self, session: NewSessionResult, wanted: str | None, *, timeout: float
    ) -> str | None:
        """``wanted`` by ``session/set_mode`` or the ``mode`` config option, where the agent offers it;
        with nothing wanted, a note naming the agent's own mode. None: ``wanted`` is not offered."""
        modes = session.modes
        if wanted is None:
            current = modes.current_mode_id if modes is not None else None
            return f"the agent's own mode ({current})" if current else "the agent's own mode"
        sid = session.session_id
        if modes is not None and any(mode.id == wanted for mode in modes.available_modes):
            if modes.current_mode_id != wanted:
                await self.call("session/set_mode", {"sessionId": sid, "modeId": wanted}, timeout=timeout)
            return wanted
        for option in session.config_options or []:
            if option.get("id") == "mode" and wanted in _option_values(option.get("options")):
                params = {"sessionId": sid, "configId": "mode", "value": wanted}
                await self.call("session/set_config_option", params, timeout=timeout)
                return wanted
        return None

    def mode_not_offered(self, session: NewSessionResult, wanted: str | None) -> str:
        """The note (logged) for a mode the agent does not offer."""
        modes = session.modes
        offered = [mode.id for mode in modes.available_modes] if modes is not None else []
        note = f"mode {wanted!r} not offered by the agent (offers: {', '.join(offered) or 'none'})"
        log.warning("%s", note)
        return note

    async def _apply_mode(
        self, session: NewSessionResult, wanted: str | None, *, timeout: float, step: ModeStep | None = None
    ) -> str:
        """Put the session in ``wanted`` mode so approvals come to us (ADR 0002); say what happened."""
        return await self.policy.apply_mode(self, session, wanted, timeout=timeout, step=step)

    # -- turns -------------------------------------------------------------------------------

    async def prompt(self, session_id: str, text: str) -> PromptResult:
        """One ``session/prompt``; returns when Codex ends the turn (updates stream meanwhile)."""
        params = {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}
        try:
            raw = await self.connection.request("session/prompt", params)
        except ConnectionClosed:
            raise await self.failure(f"{self.options.name} stopped in the middle of the turn") from None
        return PromptResult.model_validate(raw if isinstance(raw, dict) else {})

    async def cancel(self, session_id: str) -> None:
        await self.connection.notify("session/cancel", {"sessionId": session_id})


def _option_values(options: Any) -> list[str]:
    """Every ``value`` in a config option's options, flat or grouped."""
    values: list[str] = []
    for option in options if isinstance(options, list) else []:
        if not isinstance(option, dict):
            continue
        if isinstance(option.get("value"), str):
            values.append(option["value"])
        values.extend(_option_values(option.get("options")))
    return values
