"""The MCP tools, as a table: name, description, annotations, and one short async function each.

Adding a tool is one :class:`Tool` entry plus, for a question to Codex, a prompt builder in
:mod:`codex_fusion.prompts`; the function's typed parameters are its input schema. Every tool goes
through :func:`ask` (a turn) or reads :class:`ServerState` directly; :func:`_answer` is the one place
where a :class:`~codex_fusion.errors.FusionError` becomes an error result.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from . import __version__, prompts, render
from .config import Config
from .consultant import Consultant
from .errors import FusionError
from .progress import ProgressPump
from .redact import redact
from .turn import Pause, TurnResult

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    """What the tools share, set up by the server's lifespan."""

    config: Config | None = None
    config_error: str | None = None
    consultant: Consultant | None = None


def _state(ctx: Context) -> ServerState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, ServerState)
    return state


def _consultant(ctx: Context) -> Consultant:
    state = _state(ctx)
    if state.config is None:
        raise ToolError(f"codex-fusion is misconfigured: {state.config_error}. Fix the variable and restart.")
    if state.config.workspace.path is None:
        raise ToolError(redact(state.config.workspace.error or "No workspace."))
    if state.consultant is None:
        raise ToolError("codex-fusion is shutting down.")
    return state.consultant


async def _answer(ctx: Context, step: Callable[[ProgressPump], Awaitable[TurnResult]]) -> str:
    """Run one consultant step with progress streaming; a FusionError becomes an error result."""

    async def send(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    pump = ProgressPump(send)
    failure: FusionError | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        try:
            result = await step(pump)
        except FusionError as exc:
            failure = exc  # raised outside the task group: an error result, not an ExceptionGroup
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise ToolError(redact(str(failure)))
    await pump.flush()
    if isinstance(result, Pause):  # finished turns are logged once, by the consultant
        log.info("paused for permit after %.1fs: %s", result.elapsed, result.summary)
    return redact(render.result(result))  # Claude's transcript is kept on disk: no credentials in it


async def ask(ctx: Context, tool: str, prompt: str, timeout_s: float | None) -> str:
    """Send ``prompt`` to Codex as one turn (queued behind any other) and answer with its result."""
    consultant = _consultant(ctx)

    async def step(pump: ProgressPump) -> TurnResult:
        if consultant.queue_length or consultant.current_turn is not None:
            pump.set_status("queued behind another consult")
        return await consultant.consult(
            prompt,
            tool=tool,
            observer=pump.observe,
            on_start=lambda: pump.set_status("Codex is working"),
            timeout=timeout_s,
        )

    return await _answer(ctx, step)


# -- the tools ---------------------------------------------------------------------------------------

TimeoutArg = Annotated[
    float | None,
    Field(gt=0, le=86_400, description="Give up after this many seconds without progress from Codex."),
]


async def consult(
    question: Annotated[str, Field(description="The question for Codex, self-contained.")],
    ctx: Context,
    context: Annotated[
        str | None, Field(description="Background Codex cannot read in the workspace.")
    ] = None,
    timeout_s: TimeoutArg = None,
) -> str:
    if not question.strip():
        raise ToolError("`question` is empty: say what you want Codex's opinion on.")
    return await ask(ctx, "consult", prompts.consult_prompt(question, context), timeout_s)


async def permit(
    decision: Annotated[
        Literal["allow", "deny", "cancel"],
        Field(description="allow or deny the paused request; cancel stops the whole turn"),
    ],
    ctx: Context,
    note: Annotated[str | None, Field(description="A note for Codex about your decision.")] = None,
    timeout_s: TimeoutArg = None,
) -> str:
    consultant = _consultant(ctx)

    async def step(pump: ProgressPump) -> TurnResult:
        pump.set_status("Codex is working")
        return await consultant.permit(decision, note, observer=pump.observe, timeout=timeout_s)

    return await _answer(ctx, step)


async def status(ctx: Context) -> str:
    state = _state(ctx)
    if state.config is None:
        return f"codex-fusion {__version__}: configuration error: {state.config_error}"
    if state.consultant is None:
        return f"codex-fusion {__version__}: not running"
    return redact(render.status(state.consultant.status()))


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    annotations: ToolAnnotations
    fn: Callable[..., Awaitable[str]]


ADVISORY = ToolAnnotations(read_only_hint=True, open_world_hint=True)

TOOLS: tuple[Tool, ...] = (
    Tool(
        "consult",
        "Ask Codex (OpenAI) for an independent second opinion on a question, decision or piece of "
        "code. Codex can read the workspace itself and keeps one session across calls, so it "
        "remembers earlier consults. Put what Codex cannot see (your plan, constraints, the error "
        "you hit) in `context`. Answers end with a VERDICT line; weigh it, don't just obey it.",
        ADVISORY,
        consult,
    ),
    Tool(
        "permit",
        "Answer Codex's paused permission request (after a result saying Codex is paused) and "
        "resume the same turn. `allow` lets Codex do exactly what it asked, once; `deny` refuses "
        "and Codex carries on without it; `cancel` stops the turn. `note` (optional) is passed to "
        "Codex: why, or what to do instead. Judge the request itself: what it runs or writes, and where.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        permit,
    ),
    Tool(
        "status",
        "Show codex-fusion's state: workspace, agent command, whether Codex is running, the "
        "session, queued consults, the last error and the agent's stderr tail. Starts nothing.",
        ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
        status,
    ),
)


def register(server: MCPServer[Any]) -> None:
    for tool in TOOLS:
        server.add_tool(
            tool.fn,
            name=tool.name,
            description=tool.description,
            annotations=tool.annotations,
            structured_output=False,
        )
