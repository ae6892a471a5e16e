"""Starting an agent: spawn it, ``initialize``, let its launcher look at it (and start it once more if
asked), and stop its whole process group on the way out. :class:`~codex_fusion.acp.agent.Agent` is what
the block yields.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from codex_fusion import __version__
from codex_fusion.acp.agent import Agent, Spawn, StartOptions, spawn_process
from codex_fusion.acp.connection import Connection, NotificationHandler, RequestHandler
from codex_fusion.acp.schema import (
    PROTOCOL_VERSION,
    ClientCapabilities,
    FsCapabilities,
    Implementation,
    InitializeParams,
    InitializeResult,
)
from codex_fusion.errors import AgentError, RequestTimeout, RpcError
from codex_fusion.text.redact import redact_credentials

log = logging.getLogger(__name__)


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
        said = redact_credentials(exc.describe())
        raise AgentError(
            f"The agent ({agent.command}) refused to start: {said} (code {exc.code}).",
            stderr_tail=agent.stderr_tail(),
            code=exc.code,
        ) from None
    info = InitializeResult.model_validate(raw if isinstance(raw, dict) else {})
    if info.protocol_version != PROTOCOL_VERSION:
        version = redact_credentials(repr(info.protocol_version))
        raise AgentError(
            f"The agent ({agent.command}) speaks ACP protocol version {version}; "
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
