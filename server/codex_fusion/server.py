"""The MCP server: configuration and the Consultant's lifetime; the tools are in :mod:`tools`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer

from . import __version__, tools
from .acp.agent import Spawn, spawn_process
from .config import Config
from .consultant import Consultant
from .errors import ConfigError
from .tools import ServerState

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Codex (OpenAI) is a peer reviewer with its own persistent session in this workspace: `consult`, "
    "`review_plan`, `review_diff`, `brainstorm` open a short debate, `reply` continues it (decide by "
    "round 3); `explore` maps a codebase. Codex advises, you decide. A paused result waits for "
    "`permit`. `status` when something fails."
)


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
        async with Consultant(state.config, spawn=spawn) as consultant:
            state.consultant = consultant
            try:
                yield state
            finally:
                state.consultant = None

    server: MCPServer[ServerState] = MCPServer(
        name="codex-fusion",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        tools=tools.build_tools(),
    )
    return server
