"""The MCP side of the host setting (:mod:`codex_fusion.host.identity`): which host a call comes
from, the tool list rendered for it, and the handle a long call answers with before the host's
tool timeout (:mod:`codex_fusion.host.handles`).

In Claude Code nothing here changes a byte: the tool texts are returned as they are and calls run
as they did (Claude Code moves a long call to the background itself).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.models import InitializationOptions
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCRequest, ListToolsResult, PaginatedRequestParams

from codex_fusion.council.council import Council
from codex_fusion.errors import ConsultError, FusionError, UsageError
from codex_fusion.host import identity
from codex_fusion.host.handles import CallTable, HandleError
from codex_fusion.host.identity import Host
from codex_fusion.host.sessions import HostSession
from codex_fusion.mcp import person
from codex_fusion.member.conversation import Member

log = logging.getLogger(__name__)

#: The tools whose call can outlast a host's tool timeout (a turn of an agent).
LONG_CALLS = frozenset({"consult", "review_plan", "review_diff", "brainstorm", "explore", "reply", "permit"})


def client_name(session: Any) -> str | None:
    params = getattr(session, "client_params", None)
    info = getattr(params, "client_info", None)
    name = getattr(info, "name", None)
    return name if isinstance(name, str) else None


def settings(state: Any) -> Mapping[str, str]:
    """The user's host settings: the server's configuration's, else the environment's."""
    config = getattr(state, "config", None)
    host_env = getattr(config, "host_env", None)
    return host_env if isinstance(host_env, Mapping) else os.environ


def host_of(ctx: Context) -> Host:
    """The host of the connection ``ctx`` belongs to (the user's setting wins over the client's name)."""
    request = ctx.request_context
    try:
        host = identity.resolve(settings(request.lifespan_context), client_name(request.session))
    except identity.HostError as exc:
        raise UsageError(f"{exc} Then restart the MCP server.") from None
    council = getattr(request.lifespan_context, "council", None)
    if isinstance(council, Council):  # a member of the host's own family is no outside voice
        council.host_kind = host.own_kind
    return host


def default_member(council: Council, host: Host) -> Member:
    """The member a call without ``members`` goes to: Codex in Claude Code, the host's choice elsewhere
    (Codex when that member is not configured)."""
    return council.members.get(host.default_member) or council.codex


def default_name(ctx: Context, council: Council) -> str:
    """The default member's name for the host ``ctx`` belongs to (``delegate`` without ``members``)."""
    return default_member(council, host_of(ctx)).member.name


class HostedServer(MCPServer[Any]):
    """:class:`MCPServer` whose tool list names the agents as the connected host sees them."""

    async def _handle_list_tools(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        listed = await super()._handle_list_tools(ctx, params)
        try:
            host = identity.resolve(settings(ctx.lifespan_context), client_name(ctx.session))
        except identity.HostError:
            return listed  # the first call says what is wrong
        if host is identity.CLAUDE_CODE:
            return listed
        tools = [
            tool.model_copy(update={"description": identity.render(host, tool.description or "")})
            for tool in listed.tools
        ]
        return listed.model_copy(update={"tools": tools})


def instructions(text: str, client: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The server's instructions for the host (the user's setting, else the client's name)."""
    try:
        return identity.render(identity.resolve(os.environ if env is None else env, client), text)
    except identity.HostError:
        return text


def watch_initialize(options: InitializationOptions, text: str) -> Callable[[SessionMessage], None]:
    """A watcher of the messages read over stdio that renders ``options.instructions`` (from ``text``)
    for the client named in ``initialize``, before the SDK answers it."""

    def watch(item: SessionMessage) -> None:
        message = item.message
        if not isinstance(message, JSONRPCRequest) or message.method != "initialize":
            return
        params = message.params if isinstance(message.params, dict) else {}
        info = params.get("clientInfo")
        name = info.get("name") if isinstance(info, dict) else None
        options.instructions = instructions(text, name if isinstance(name, str) else None)

    return watch


class _Detached:
    """A tool's ``ctx`` that stops reporting progress once its call was answered with a handle."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.detached = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        if not self.detached:
            await self._ctx.report_progress(progress, total, message)


def calls_of(ctx: Context) -> CallTable | None:
    calls = getattr(ctx.request_context.lifespan_context, "calls", None)
    return calls if isinstance(calls, CallTable) else None


def with_handle(
    name: str, fn: Callable[..., Awaitable[str]], permit: person.Permit | None = None
) -> Callable[..., Awaitable[str]]:
    """``fn`` answering with a handle when its host's limit passes before it ends (a host without a
    limit, Claude Code, calls ``fn`` as it is); with ``permit``, a pause it ends in is asked of the
    person when they chose that (:mod:`person`)."""
    if name not in LONG_CALLS:
        return fn

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> str:
        ctx = kwargs.get("ctx")
        calls = calls_of(ctx) if isinstance(ctx, Context) else None
        if not isinstance(ctx, Context) or calls is None:
            return await fn(*args, **kwargs)
        run = (
            fn
            if permit is None
            else person.asking(fn, settings(ctx.request_context.lifespan_context), permit)
        )
        host = host_of(ctx)
        await follow_session(ctx, host)
        limit = host.handle_after_s
        if limit is None:
            return await run(*args, **kwargs)
        detached = _Detached(ctx)
        entry = await calls.run(
            name,
            lambda: run(*args, **{**kwargs, "ctx": detached}),
            limit,
            lambda exc: str(exc) if isinstance(exc, FusionError) else None,
        )
        return _finish(calls, entry, detached)

    return call


async def follow_session(ctx: Context, host: Host) -> None:
    """Reset every member when the call comes from another of the host's conversations than the
    last one (Codex CLI: a new session id); Claude Code's conversation is followed by its hooks."""
    if host.follows:
        return
    state = ctx.request_context.lifespan_context
    seen = getattr(state, "host_session", None)
    council = getattr(state, "council", None)
    if (
        isinstance(seen, HostSession)
        and seen.moved(ctx.request_context.meta)
        and isinstance(council, Council)
    ):
        log.info("the host started another conversation: every member starts fresh")
        await council.reset()


def _finish(calls: CallTable, entry: Any, detached: _Detached | None = None) -> str:
    text = calls.collect(entry)
    if text is None:
        if detached is not None:
            detached.detached = True
        return calls.running_text(entry)
    if entry.failed:
        raise ConsultError(text)  # the call's own error, said when it is collected
    return text


async def collect(ctx: Context, ref: str, wait_s: float | None) -> str:
    """``task`` show for a call's handle: wait up to ``wait_s`` (else under the host's limit)."""
    calls = calls_of(ctx)
    if calls is None:
        raise UsageError("codex-fusion is shutting down.")
    try:
        entry = calls.get(ref)
    except HandleError as exc:
        raise UsageError(str(exc)) from None
    limit = host_of(ctx).handle_after_s or 100.0
    await calls.wait(entry, min(wait_s, limit) if wait_s is not None else limit)
    return _finish(calls, entry)


def status_line(ctx: Context) -> str:
    """``status``'s line about a host other than Claude Code ("" in Claude Code)."""
    host = host_of(ctx)
    return "" if host is identity.CLAUDE_CODE else "\n" + identity.status_line(host)
