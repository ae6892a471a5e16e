"""The MCP server: configuration and the Consultant's lifetime; the tools are in :mod:`tools`."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.mcpserver import MCPServer

from . import __version__, installer, tools
from .acp.agent import Spawn, spawn_process
from .config import NPX_FALLBACK, Config
from .consultant import Consultant
from .errors import ConfigError
from .follow import Follower
from .gate_socket import GateSocket
from .tools import ServerState

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Codex (OpenAI) is a peer reviewer with its own persistent session in this workspace: `consult`, "
    "`review_plan`, `review_diff`, `brainstorm` open a short debate, `reply` continues it (decide by "
    "round 3); `explore` maps a codebase. Codex advises, you decide. A paused result waits for "
    "`permit`. `status` when something fails."
)


def _follower(consultant: Consultant, config: Config) -> Follower | None:
    """The follower of Claude's conversation, when there is a workspace and a data directory."""
    workspace, data = config.workspace.path, config.state_dir
    if workspace is None:
        return None
    if data is None:
        log.warning("no data directory (CLAUDE_PLUGIN_DATA or HOME): /clear and resumes are not followed")
        return None
    env = {"CLAUDE_PID": str(config.claude_pid)} if config.claude_pid is not None else {}
    return Follower(consultant, config, data, workspace, env=env)


def build_server(config: Config | None = None, *, spawn: Spawn = spawn_process) -> MCPServer[ServerState]:
    """The MCP server. ``config`` defaults to the environment, read when the server starts."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        state = ServerState()
        try:
            state.config = config or Config.from_env()
        except ConfigError as exc:
            state.config_error = str(exc)
            log.error("configuration error: %s", exc)
            yield state
            return
        async with Consultant(state.config, spawn=spawn) as consultant, anyio.create_task_group() as tg:
            state.consultant = consultant
            state.follower = _follower(consultant, state.config)
            if state.follower is not None:
                state.follower.start()
                tg.start_soon(state.follower.run)
            elif state.config.warm and state.config.workspace.path is not None:
                tg.start_soon(consultant.warm)
            workspace, data = state.config.workspace.path, state.config.state_dir
            if state.config.review_gate and workspace is not None and data is not None:
                tg.start_soon(GateSocket(consultant, data, workspace).run)  # the Stop hook reviews here
            if state.config.agent_source == NPX_FALLBACK and state.config.state_dir is not None:
                # npx resolves the adapter on every start: install the pinned one for the next start
                tg.start_soon(installer.install_in_background, state.config.state_dir, dict(os.environ))
            try:
                yield state
            finally:
                if state.follower is not None:
                    state.follower.stop()
                tg.cancel_scope.cancel()
                state.consultant = state.follower = None

    server: MCPServer[ServerState] = MCPServer(
        name="codex-fusion",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        tools=tools.build_tools(),
    )
    return server
