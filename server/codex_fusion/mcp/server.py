"""The MCP server: configuration and the Member's lifetime; the tools are in :mod:`tools`."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anyio
import mcp_types
from anyio.abc import TaskGroup
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import ToolAnnotations
from pydantic import ValidationError

from codex_fusion import __version__
from codex_fusion.acp.agent import Spawn, spawn_process
from codex_fusion.council.council import Council
from codex_fusion.errors import ConfigError
from codex_fusion.hookside import windows
from codex_fusion.host.follow import Follower
from codex_fusion.host.handles import CallTable
from codex_fusion.launch import installer
from codex_fusion.launch.config import NPX_FALLBACK, Config
from codex_fusion.launch.planning import configure
from codex_fusion.mcp import hosted, task_tools, tools
from codex_fusion.mcp.arguments import ArgumentTool
from codex_fusion.mcp.boundary import guarded
from codex_fusion.mcp.state import ServerState
from codex_fusion.review.socket import GateSocket
from codex_fusion.tasks.manager import MemberFor, TaskManager
from codex_fusion.text import wellformed

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Codex (OpenAI) is a peer reviewer with its own persistent session in this workspace: `consult`, "
    "`review_plan`, `review_diff`, `brainstorm` open a short debate, `reply` continues it (decide by "
    "round 3); `explore` maps a codebase. Codex advises, you decide. A paused result waits for "
    '`permit`. For a costly decision, `members` ["all"] plus your own `my_take` asks every '
    "configured agent at once (a council). `delegate` hands Codex a well-specified change to make in "
    "a copy of the workspace; read its patch before `task` accept. `status` when something fails."
)


async def _follower(consultant: Council, config: Config) -> Follower | None:
    """The follower of Claude's conversation, when there is a workspace and a data directory."""
    workspace, data = config.workspace.path, config.state_dir
    if workspace is None:
        return None
    if data is None:
        log.warning("no data directory (CLAUDE_PLUGIN_DATA or HOME): /clear and resumes are not followed")
        return None
    env = {"CLAUDE_PID": str(config.claude_pid)} if config.claude_pid is not None else {}
    ancestors = await anyio.to_thread.run_sync(windows.ancestor_pids)  # /proc, or `ps` elsewhere
    return Follower(consultant, config, data, workspace, env=env, ancestors=ancestors)


def _config_from_env() -> Config:
    return configure()


async def _supervised(what: str, task: Callable[[], Awaitable[None]]) -> None:
    """Run one of the server's own tasks; a bug in it is logged with its traceback and ends only
    that task, never the server (the task group would take every call down with it)."""
    try:
        await task()
    except Exception:
        log.exception("%s failed; the server goes on without it", what)


# -- the tools, as a table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    annotations: ToolAnnotations
    fn: Callable[..., Awaitable[str]]


ADVISORY = ToolAnnotations(read_only_hint=True, open_world_hint=True)
_DEBATE = "Ends with a VERDICT line; push back with `reply`."

TOOLS: tuple[Spec, ...] = (
    Spec(
        "consult",
        "Second opinion from Codex (OpenAI) on a question, decision or code. Codex reads the workspace "
        f"and remembers earlier calls; put what it cannot see in `context`. {_DEBATE}",
        ADVISORY,
        tools.consult,
    ),
    Spec(
        "review_plan",
        f"Plan review by Codex before you implement: soundness, gaps, risks. {_DEBATE}",
        ADVISORY,
        tools.review_plan,
    ),
    Spec(
        "review_diff",
        "Code review by Codex. Without `diff` the server runs git: working tree vs HEAD (untracked "
        f"too), `staged`, or vs `base` (a PR's view); `paths` narrows. {_DEBATE}",
        ADVISORY,
        tools.review_diff,
    ),
    Spec(
        "brainstorm",
        f"Brainstorm with Codex: 2–4 approaches with trade-offs and a pick. {_DEBATE}",
        ADVISORY,
        tools.brainstorm,
    ),
    Spec(
        "explore",
        "Explore an unfamiliar codebase with Codex: structure, components, flow, conventions, with "
        "paths. No debate.",
        ADVISORY,
        tools.explore,
    ),
    Spec(
        "reply",
        "Reply to Codex's last answer in the same debate: push back, add facts. Stop and decide by round 3.",
        ADVISORY,
        tools.reply,
    ),
    Spec(
        "permit",
        "Answer Codex's paused request and resume its turn: `allow` it once, `deny` it (Codex goes on "
        "without it), or `cancel` the turn. Judge what it runs or writes, and where.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        tools.permit,
    ),
    Spec(
        "delegate",
        "Delegate a well-specified change to Codex, done in an isolated copy of the workspace; you get a "
        "patch to review, and your files change only on `task` accept. Give `paths` and `criteria`.",
        ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
        task_tools.delegate,
    ),
    Spec(
        "task",
        "A delegated task: `show` (`wait_s` waits for it), `accept` (applies its patch, all or nothing, "
        "never commits), `rework` with `notes` (3 at most), `retry` (blocked, interrupted or failed: "
        "runs again, reworks reset), `discard`.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        task_tools.task,
    ),
    Spec(
        "reset",
        "Drop Codex's session and context; the next call starts fresh. For an unrelated task.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
        tools.reset,
    ),
    Spec(
        "status",
        "codex-fusion health: workspace, agent, session, debate, queue, pending request, last error. "
        "Starts nothing.",
        ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
        tools.status,
    ),
)


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema without what costs Claude tokens and tells it nothing: titles, and the
    ``anyOf [X, null]`` + ``default: null`` that pydantic writes for an optional argument (an
    argument left out is the same as null; the arguments are still validated in full)."""
    properties: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {key: value for key, value in prop.items() if key != "title"}
        options = prop.get("anyOf")
        if isinstance(options, list) and "default" in prop and prop["default"] is None:
            kept = [option for option in options if option != {"type": "null"}]
            if len(kept) == 1:
                rest = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
                prop = {**kept[0], **rest}
        properties[name] = prop
    compact: dict[str, Any] = {"type": "object", "properties": properties}
    if schema.get("required"):
        compact["required"] = schema["required"]
    return compact


def build_tools() -> list[Tool]:
    table = []
    for spec in TOOLS:
        tool = ArgumentTool.from_function(
            guarded(hosted.with_handle(spec.name, spec.fn, tools.permit)),
            name=spec.name,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=False,
        )
        table.append(tool.model_copy(update={"parameters": compact_schema(tool.parameters)}))
    return table


def build_server(
    config: Config | None = None, *, spawn: Spawn = spawn_process, task_member: MemberFor | None = None
) -> MCPServer[ServerState]:
    """The MCP server. ``config`` defaults to the environment, read when the server starts;
    ``task_member`` replaces how a delegated task's member is planned (``planning.task_member``)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        state = ServerState()
        try:  # reading the configuration touches files (the shim, the install): off the event loop
            settings = config if config is not None else await anyio.to_thread.run_sync(_config_from_env)
            state.config = settings
        except ConfigError as exc:
            state.config_error = str(exc)
            log.error("configuration error: %s", exc)
            yield state
            return
        tasks = TaskManager(settings, spawn=spawn, member_for=task_member)
        async with (
            Council(settings, spawn=spawn) as council,
            tasks,
            CallTable() as calls,
            anyio.create_task_group() as tg,
        ):
            tasks.share_request_ids(council.codex.request_ids)  # a pause's id names one request
            state.council, state.tasks, state.calls = council, tasks, calls
            state.follower = follower = await _follower(council, settings)
            if follower is not None:
                await _supervised("following Claude's conversation", follower.start)
                tg.start_soon(_supervised, "following Claude's conversation", follower.run)
            elif settings.warm and settings.workspace.path is not None:
                tg.start_soon(_supervised, "the warm-up", council.warm)
            _start_side_tasks(tg, settings, council)
            try:
                yield state
            finally:
                if follower is not None:
                    follower.stop()
                    await follower.flush()
                tg.cancel_scope.cancel()
                state.council = state.follower = state.tasks = state.calls = None

    server: MCPServer[ServerState] = hosted.HostedServer(
        name="codex-fusion",
        version=__version__,
        instructions=hosted.instructions(INSTRUCTIONS, env=config.host_env if config is not None else None),
        lifespan=lifespan,
        log_level="WARNING",
        tools=build_tools(),
    )
    return server


def _start_side_tasks(tg: TaskGroup, settings: Config, council: Council) -> None:
    """The review gate's socket (when the gate is on) and the adapter's background install (after an
    npx start), each supervised in the server's task group."""
    workspace, data = settings.workspace.path, settings.state_dir
    if settings.review_gate and workspace is not None and data is not None:
        gate = GateSocket(council.codex, data, workspace)  # the Stop hook reviews here
        tg.start_soon(_supervised, "the review gate's socket", gate.run)
    if settings.agent_source == NPX_FALLBACK and data is not None:
        # npx resolves the adapter on every start: install the pinned one for the next start
        install = functools.partial(
            installer.install_in_background, data, installer.install_env(os.environ, workspace)
        )
        tg.start_soon(_supervised, "the adapter's install", install)


# -- stdio ---------------------------------------------------------------------------------------------

#: A JSON escape of a UTF-16 surrogate, which the SDK's parser refuses when it stands alone.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF][0-9a-fA-F]{2}")


def repair(error: Exception) -> SessionMessage | None:
    """The message the SDK could not parse because a string in it holds a lone surrogate escape
    (``"\\ud800"``), with that text made well-formed; None for any other failure.

    Without this the SDK drops the line, and the call it carried is never answered."""
    if not isinstance(error, ValidationError):
        return None
    problems = error.errors()
    line = problems[0].get("input") if problems and problems[0].get("type") == "json_invalid" else None
    if not isinstance(line, str) or _SURROGATE_ESCAPE.search(line) is None:
        return None
    try:
        text = json.dumps(wellformed.data(json.loads(line)), ensure_ascii=False)
        message = mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except (ValueError, RecursionError):
        return None
    log.info("a message from Claude Code held a lone surrogate escape: it was replaced by U+FFFD")
    return SessionMessage(message)


class _Repairing:
    """The SDK's read stream, with :func:`repair` applied to what it could not parse (and each message
    shown to ``watch`` first: the host's ``initialize``, :func:`hosted.watch_initialize`)."""

    def __init__(self, inner: Any, watch: Callable[[SessionMessage], None] | None = None) -> None:
        self._inner = inner
        self._watch = watch

    @property
    def last_context(self) -> contextvars.Context | None:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        item: SessionMessage | Exception = await self._inner.receive()
        if isinstance(item, Exception):
            return repair(item) or item
        if self._watch is not None:
            self._watch(item)
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def run_stdio(server: MCPServer[ServerState]) -> None:
    """Serve over stdin and stdout as ``MCPServer.run_stdio_async`` does, with :func:`repair` on the
    way in (ADR 0012)."""
    lowlevel = server._lowlevel_server  # what run_stdio_async and the SDK's in-memory client use
    async with stdio_server() as (read_stream, write_stream):
        options = lowlevel.create_initialization_options()
        watch = hosted.watch_initialize(options, INSTRUCTIONS)
        await lowlevel.run(_Repairing(read_stream, watch), write_stream, options)
