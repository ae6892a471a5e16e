"""The agent supervisor: one spawned ACP agent, its connection, its handshake and its session calls."""

from __future__ import annotations

import logging
import shlex
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .. import __version__
from . import jsonrpc
from .connection import (
    Connection,
    ConnectionClosed,
    NotificationHandler,
    RequestHandler,
    RequestTimeout,
    RpcError,
)
from .process import AgentProcess, AgentSpawnError
from .schema import (
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

NOT_LOGGED_IN = "Codex is not logged in: run `codex login`, or set OPENAI_API_KEY"


class AgentError(Exception):
    """A failure talking to the agent, phrased for the person or model who has to act on it."""

    def __init__(self, message: str, *, stderr_tail: str = "", code: int | None = None) -> None:
        hint = hint_for(message + "\n" + stderr_tail)
        if hint and hint not in message:
            message = f"{message} {hint}"
        self.summary = message
        self.stderr_tail = stderr_tail
        self.code = code
        text = message
        if stderr_tail:
            text += "\nAgent stderr (last lines):\n" + _indent(stderr_tail)
        super().__init__(text)


class AuthRequired(AgentError):
    """Codex needs a login or an API key."""


_HINTS = (
    ("CODEX_HOME points to", "Fix: create that directory, or unset CODEX_HOME to use ~/.codex."),
    ("bubblewrap is unavailable", "Fix: install bubblewrap (`bwrap`) so Codex can sandbox commands."),
    ("usage_limit_exceeded", "Your Codex usage limit is reached: wait for the reset or use an API key."),
    ("rate_limit", "Codex is rate-limited: wait a minute and try again."),
)


def hint_for(text: str) -> str | None:
    """What to do about a failure, when its text says something we recognise."""
    for needle, hint in _HINTS:
        if needle in text:
            return hint
    return None


def _first_lines(text: str) -> str:
    """An error message without the backtrace some agents append."""
    return text.split("Stack backtrace:", 1)[0].strip()


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


@dataclass(frozen=True)
class StartOptions:
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    startup_timeout: float = 120.0
    read_text_file: bool = False


class Agent:
    """A started and initialized agent. Created by :func:`run_agent`, valid inside its block."""

    def __init__(self, process: AgentProcess, connection: Connection, info: InitializeResult) -> None:
        self.process = process
        self.connection = connection
        self.info = info
        self.env: Mapping[str, str] = {}
        #: Set before leaving :func:`run_agent` to skip the graceful stdin-EOF wait (server shutdown).
        self.fast_stop = False

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

    async def failure(self, what: str) -> AgentError:
        """An AgentError for a dead connection, with exit status and stderr once they are known."""
        with anyio.move_on_after(1.0):
            await self.process.exited.wait()
        status = self.process.describe_exit()
        return AgentError(
            f"{what}: the agent ({self.command}) {status}.",
            stderr_tail=self.process.stderr.text(),
        )

    async def call(self, method: str, params: Any, *, timeout: float | None = None) -> Any:
        """A request that turns a dead agent into an AgentError naming the exit and stderr."""
        try:
            return await self.connection.request(method, params, timeout=timeout)
        except ConnectionClosed:
            raise await self.failure(f"{method} failed") from None

    def _api_key_method(self) -> str | None:
        """The auth method to use with an API key from the environment, if any."""
        have_openai = bool(self.env.get("OPENAI_API_KEY"))
        have_codex = bool(self.env.get("CODEX_API_KEY"))
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

    async def new_session(self, cwd: Path, *, timeout: float) -> NewSessionResult:
        """``session/new``; on "authentication required" authenticate with an API key once and retry."""
        params = {"cwd": str(cwd), "mcpServers": []}
        try:
            raw = await self.call("session/new", params, timeout=timeout)
        except RpcError as exc:
            if exc.code != jsonrpc.AUTH_REQUIRED:
                raise
            method = self._api_key_method()
            if method is None:
                raise AuthRequired(NOT_LOGGED_IN + ".", code=exc.code) from None
            log.info("Codex asked for authentication; using auth method %s", method)
            try:
                await self.call("authenticate", {"methodId": method}, timeout=timeout)
                raw = await self.call("session/new", params, timeout=timeout)
            except RpcError as retry:
                raise AuthRequired(
                    f"{NOT_LOGGED_IN} (authenticating with {method} failed: {retry.error_message}).",
                    code=retry.code,
                ) from None
        return NewSessionResult.model_validate(raw)

    async def set_mode(self, session_id: str, mode_id: str, *, timeout: float) -> None:
        await self.call("session/set_mode", {"sessionId": session_id, "modeId": mode_id}, timeout=timeout)

    async def set_config_option(self, session_id: str, config_id: str, value: str, *, timeout: float) -> None:
        params = {"sessionId": session_id, "configId": config_id, "value": value}
        await self.call("session/set_config_option", params, timeout=timeout)

    async def prompt(self, session_id: str, blocks: list[dict[str, Any]]) -> PromptResult:
        raw = await self.call("session/prompt", {"sessionId": session_id, "prompt": blocks})
        return PromptResult.model_validate(raw if isinstance(raw, dict) else {})

    async def cancel(self, session_id: str) -> None:
        await self.connection.notify("session/cancel", {"sessionId": session_id})


def _describe_rpc_error(exc: RpcError) -> str:
    text = _first_lines(exc.error_message)
    if isinstance(exc.data, dict):
        detail = exc.data.get("message") or exc.data.get("details")
        if isinstance(detail, str) and detail not in text:
            text += f": {detail}"
    return text


async def _initialize(agent: Agent, options: StartOptions) -> InitializeResult:
    params = InitializeParams(
        client_capabilities=ClientCapabilities(fs=FsCapabilities(read_text_file=options.read_text_file)),
        client_info=Implementation(name="codex-fusion", title="codex-fusion", version=__version__),
    ).wire()
    try:
        raw = await agent.call("initialize", params, timeout=options.startup_timeout)
    except RequestTimeout:
        raise AgentError(
            f"The agent ({agent.command}) did not answer `initialize` within "
            f"{options.startup_timeout:g} s. Check that it is an ACP agent, or raise "
            "CODEX_FUSION_STARTUP_TIMEOUT_MS if it is slow to install (npx).",
            stderr_tail=agent.process.stderr.text(),
        ) from None
    except RpcError as exc:
        raise AgentError(
            f"The agent ({agent.command}) refused to start: {_describe_rpc_error(exc)} (code {exc.code}).",
            stderr_tail=agent.process.stderr.text(),
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
) -> AsyncIterator[Agent]:
    """Spawn the agent, initialize it, yield it; stop its whole process group on the way out.

    Must be entered and left in the same task (it owns a task group): run it inside a task of its own.
    """
    try:
        process = await AgentProcess.spawn(options.argv, cwd=options.cwd, env=options.env)
    except AgentSpawnError as exc:
        raise AgentError(
            f"Cannot start the Codex ACP agent: {exc}. Install it (`npm install -g "
            "@agentclientprotocol/codex-acp`) or set CODEX_FUSION_ACP_COMMAND to a working command."
        ) from None
    connection = Connection(
        process.stdin, process.stdout, on_request=on_request, on_notification=on_notification
    )
    agent = Agent(process, connection, InitializeResult())
    agent.env = options.env
    failure: AgentError | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(process.drain_stderr)
            tg.start_soon(process.watch_exit)
            tg.start_soon(connection.run)
            try:
                agent.info = await _initialize(agent, options)
            except AgentError as exc:
                # Raised outside the task group, so callers see the error, not an ExceptionGroup.
                failure = exc
                tg.cancel_scope.cancel()
            else:
                log.info("connected to %s (pid %d)", agent.name, process.pid)
                try:
                    yield agent
                finally:
                    tg.cancel_scope.cancel()
    finally:
        await (process.terminate() if agent.fast_stop or failure else process.stop())
    if failure is not None:
        raise failure
