"""The agent supervisor: one spawned ACP agent, its connection, its handshake and its session calls.

Everything above this module talks to Codex through :class:`Agent`; nothing reaches past it to the
connection or the process. Failures leave this module as :class:`AgentError` with the agent's exit
status and stderr tail attached, or as :class:`RpcError` for an error answer mid-turn.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from codex_fusion import __version__
from codex_fusion.acp import jsonrpc
from codex_fusion.acp.connection import Connection, NotificationHandler, RequestHandler
from codex_fusion.acp.process import AgentHost, AgentProcess
from codex_fusion.errors import (
    LOGIN_COMMAND,
    AgentError,
    AuthRequired,
    ConnectionClosed,
    RequestTimeout,
    RpcError,
)

if TYPE_CHECKING:
    from codex_fusion.launch.agents import ModeStep

from codex_fusion.acp.schema import (
    PROTOCOL_VERSION,
    ClientCapabilities,
    FsCapabilities,
    Implementation,
    InitializeParams,
    InitializeResult,
    NewSessionResult,
    PromptResult,
)

log = logging.getLogger(__name__)

#: Where a key comes from, in the README's order: the keychain option first, never a plain settings file.
OPENAI_KEY_FIX = (
    "set OPENAI_API_KEY with the plugin option `openai_api_key` (kept in your keychain: `/plugin` → "
    "codex-fusion → Configure) or in the environment Claude Code starts from, then restart Claude Code"
)
NOT_LOGGED_IN = f"Codex is not logged in: run `{LOGIN_COMMAND}` in a terminal, or {OPENAI_KEY_FIX}"
#: The key variable each built-in member's agent reads (it reaches that agent only).
MEMBER_KEYS = {"Claude": "ANTHROPIC_API_KEY", "Gemini": "GEMINI_API_KEY"}
CODEX = "Codex"


#: What model services answer a missing or wrong key with, in the error an agent passes on: Google's
#: ``API_KEY_INVALID`` (through Gemini CLI), Anthropic's ``authentication_error``, OpenAI's
#: ``invalid_api_key``.
_KEY_REFUSED = ("API_KEY_INVALID", "API key not valid", "authentication_error", "invalid_api_key")


def not_logged_in(name: str, said: str = "Authentication required") -> str:
    """What to do when ``name``'s agent says it needs a login (Codex has its own advice)."""
    if name == CODEX:
        return NOT_LOGGED_IN
    key = MEMBER_KEYS.get(name, "its API key variable")
    return (
        f"{name} is not logged in (its agent answered: {said}): set {key} in the environment Claude Code "
        "is started from and restart it (codex-fusion passes it to this member's agent only; the members "
        "option is a plain settings file and holds no keys), or log in once with the agent's own CLI "
        "and call again"
    )


def login_refused(exc: RpcError) -> str | None:
    """What the agent said if ``exc`` means its login is missing or refused, else None."""
    if exc.code == jsonrpc.AUTH_REQUIRED:
        return exc.error_message[:200] or "Authentication required"
    text = exc.describe()
    if not any(marker in text for marker in _KEY_REFUSED):
        return None
    try:  # Gemini CLI passes the service's JSON answer on as the message
        detail = json.loads(exc.error_message)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = text
    return str(detail)[:200]


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


#: See :attr:`StartOptions.check`.
Check = Callable[["Agent"], Awaitable["StartOptions | None"]]


#: Starts an agent host; the default runs the command as an OS process. Tests pass an in-memory one.
Spawn = Callable[[StartOptions], Awaitable[AgentHost]]


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
        return self.process.stderr.text(max_chars)

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
            raise AgentError(
                f"{self.options.name} could not open a session: {exc.describe()} (code {exc.code}).",
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

    def _api_key_method(self) -> str | None:
        """The auth method to use with an API key from the environment, if any."""
        env = self.options.env
        have_openai = bool(env.get("OPENAI_API_KEY"))
        have_codex = bool(env.get("CODEX_API_KEY"))
        if not (have_openai or have_codex):
            return None
        for method in self.info.auth_methods:
            if method.type == "terminal":
                continue
            ident = method.id.lower()
            if have_codex and "codex-api-key" in ident:
                return method.id
            if have_openai and ident in ("api-key", "openai-api-key"):
                return method.id
        return None

    async def _new_session(self, cwd: Path, *, timeout: float, extra: dict[str, Any]) -> NewSessionResult:
        params = {"cwd": str(cwd), "mcpServers": [], **extra}
        try:
            raw = await self.call("session/new", params, timeout=timeout)
        except RpcError as exc:
            if exc.code != jsonrpc.AUTH_REQUIRED:
                raise
            method = self._api_key_method()
            if method is None:
                raise AuthRequired(not_logged_in(self.options.name) + ".", code=exc.code) from None
            log.info("Codex asked for authentication; using auth method %s", method)
            try:
                await self.call("authenticate", {"methodId": method}, timeout=timeout)
                raw = await self.call("session/new", params, timeout=timeout)
            except RpcError as retry:
                why = f"authenticating with {method} failed: {retry.error_message}"
                raise AuthRequired(
                    f"{not_logged_in(self.options.name)} ({why}).",
                    code=retry.code,
                ) from None
        return NewSessionResult.model_validate(raw)

    async def _apply_step(self, session: NewSessionResult, step: ModeStep, *, timeout: float) -> str:
        """Put a council member's session in the mode that confines it, and check the agent says so;
        an agent that does not is refused (AgentError), never run unconfined."""
        if step.via == "launch" and step.confirmed(session.wire()):
            return step.mode
        method, params = step.request(session.session_id)
        answer = await self.call(method, params, timeout=timeout)
        if step.via == "launch" or step.confirmed(answer):
            return step.mode
        raise AgentError(
            f"{self.name} did not confirm the mode {step.mode!r} that confines it ({method} answered "
            f"{str(answer)[:300]}), so codex-fusion does not use it. Check the member's version against "
            "docs/agent-behaviour.md, or remove it from CODEX_FUSION_MEMBERS."
        )

    async def _apply_mode(
        self, session: NewSessionResult, wanted: str | None, *, timeout: float, step: ModeStep | None = None
    ) -> str:
        """Put the session in ``wanted`` mode so approvals come to us (ADR 0002); say what happened."""
        if step is not None:
            return await self._apply_step(session, step, timeout=timeout)
        # An agent started again for what its handshake said (``confine.py``) has its own plan's mode.
        wanted = getattr(self.confinement, "mode", None) or wanted
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
        adapter = getattr(self.confinement, "adapter", None)
        if wanted.startswith("permission-profile:"):
            if adapter == "ts":
                # Only the Codex behind codex-fusion's relay knows this profile (its name is new for this
                # start): the adapter's Codex is some other one, with the adapter's own boundary.
                raise AgentError(
                    "codex-fusion refused the session: the TypeScript codex-acp does not offer its "
                    f"permission profile {wanted!r}, so its Codex was not started behind codex-fusion's "
                    "relay (is CODEX_PATH passed through to it?). Nothing was run.",
                    stderr_tail=self.stderr_tail(),
                )
            if adapter == "rust" or not (modes and modes.available_modes):
                # The Rust adapter takes the profile at launch (`-c default_permissions=…`): it offers no
                # modes, or, in a project it is told is untrusted, its presets with "read-only" current.
                # Selecting one of those would replace the profile, so nothing is selected.
                return wanted
        offered = [mode.id for mode in modes.available_modes] if modes is not None else []
        note = f"mode {wanted!r} not offered by the agent (offers: {', '.join(offered) or 'none'})"
        log.warning("%s", note)
        return note

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


async def _initialize(agent: Agent) -> InitializeResult:
    timeout = agent.options.startup_timeout
    params = InitializeParams(
        client_capabilities=ClientCapabilities(fs=FsCapabilities(read_text_file=True)),
        client_info=Implementation(name="codex-fusion", title="codex-fusion", version=__version__),
    ).wire()
    if agent.options.capabilities is not None:
        params["clientCapabilities"] = dict(agent.options.capabilities)
    try:
        raw = await agent.call("initialize", params, timeout=timeout)
    except RequestTimeout:
        raise AgentError(
            f"The agent ({agent.command}) did not answer `initialize` within {timeout:g} s. Check that "
            "it is an ACP agent, or raise CODEX_FUSION_STARTUP_TIMEOUT_MS if it is slow to install (npx).",
            stderr_tail=agent.stderr_tail(),
        ) from None
    except RpcError as exc:
        raise AgentError(
            f"The agent ({agent.command}) refused to start: {exc.describe()} (code {exc.code}).",
            stderr_tail=agent.stderr_tail(),
            code=exc.code,
        ) from None
    info = InitializeResult.model_validate(raw if isinstance(raw, dict) else {})
    if info.protocol_version != PROTOCOL_VERSION:
        raise AgentError(
            f"The agent ({agent.command}) speaks ACP protocol version {info.protocol_version!r}; "
            f"codex-fusion speaks version {PROTOCOL_VERSION}. Install a codex-acp release that supports "
            "ACP v1, or set CODEX_FUSION_ACP_COMMAND to one."
        )
    return info


@asynccontextmanager
async def run_agent(
    options: StartOptions,
    *,
    on_request: RequestHandler,
    on_notification: NotificationHandler,
    spawn: Spawn = spawn_process,
) -> AsyncIterator[Agent]:
    """Spawn the agent, initialize it, let ``options.check`` look at it (and start it once more with
    the options it asks for), yield it; stop its whole process group on the way out.

    Must be entered and left in the same task (it owns a task group): run it inside a task of its own.
    """
    async with _run_once(options, on_request, on_notification, spawn) as (agent, again):
        if again is None:
            yield agent
            return
        agent.fast_stop = True  # started again below, with the options the check asked for
    async with _run_once(again, on_request, on_notification, spawn, final=True) as (agent, _):
        yield agent


async def _checked(agent: Agent, options: StartOptions, final: bool) -> StartOptions | None:
    """``options.check`` on the started agent; a second request to start again is refused."""
    if options.check is None:
        return None
    again = await options.check(agent)
    if again is not None and final:
        raise AgentError(f"The agent ({agent.command}) had to be started a third time; codex-fusion refuses.")
    return again


@asynccontextmanager
async def _run_once(
    options: StartOptions,
    on_request: RequestHandler,
    on_notification: NotificationHandler,
    spawn: Spawn,
    *,
    final: bool = False,
) -> AsyncIterator[tuple[Agent, StartOptions | None]]:
    process = await spawn(options)
    connection = Connection(
        process.stdin, process.stdout, on_request=on_request, on_notification=on_notification
    )
    agent = Agent(process, connection, options)
    failure: AgentError | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(process.drain_stderr)
            tg.start_soon(process.watch_exit)
            tg.start_soon(connection.run)
            try:
                agent.info = await _initialize(agent)
                again = await _checked(agent, options, final)
            except AgentError as exc:
                # Raised outside the task group, so callers see the error, not an ExceptionGroup.
                failure = exc
                tg.cancel_scope.cancel()
            else:
                log.info("connected to %s (pid %d)", agent.name, process.pid)
                try:
                    yield agent, again
                finally:
                    tg.cancel_scope.cancel()
    finally:
        await (process.terminate() if agent.fast_stop or failure else process.stop())
    if failure is not None:
        raise failure
