"""The MCP server: thin tools over the Consultant, progress notifications, errors as answers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from . import __version__, prompts
from .acp.agent import AgentError
from .config import Config, ConfigError
from .consultant import Consultant, ConsultError, Pause, TurnResult
from .progress import ProgressPump
from .redact import redact
from .turn import TurnOutcome

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "codex-fusion lets you consult OpenAI Codex, a peer reviewer with its own persistent session in "
    "this workspace. Use `consult` for a second opinion. When a result says Codex is paused, decide "
    "with `permit`. `status` when something fails."
)


@dataclass
class ServerState:
    config: Config | None = None
    config_error: str | None = None
    consultant: Consultant | None = None


def format_pause(pause: Pause) -> str:
    lines = [
        "⏸ Codex is paused, waiting for your decision. Nothing has run yet.",
        f"Codex wants to: {pause.summary}",
        f"Kind: {pause.kind} (guardian rule: {pause.rule})",
    ]
    if pause.reason:
        lines.append(f"Codex's reason: {pause.reason}")
    if pause.text_so_far.strip():
        lines.append("Codex so far: " + _tail(pause.text_so_far, 600))
    lines.append(
        'Answer with `permit` {"decision": "allow"} to let it proceed once, or '
        '{"decision": "deny", "note": "<why, or what to do instead>"}. Either way the same turn resumes.'
    )
    if pause.waiting_behind:
        lines.append(f"({pause.waiting_behind} more request(s) from Codex are queued behind this one.)")
    return "\n".join(lines)


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def format_result(result: TurnResult) -> str:
    return format_pause(result) if isinstance(result, Pause) else format_outcome(result)


def format_outcome(outcome: TurnOutcome) -> str:
    text = outcome.text.strip() or "(Codex returned no text.)"
    decided = [note for note in outcome.notes if not note.startswith("auto-allowed")]
    if decided:
        text += "\n\n[" + "; ".join(decided) + "]"
    if outcome.stop_reason == "timeout":
        text += (
            "\n\n[Timed out: Codex made no progress for the turn's idle limit. The answer above is what "
            "it had said so far. Ask again with a larger `timeout_s`, or narrow the question.]"
        )
    elif outcome.stop_reason == "cancelled":
        text += "\n\n[The turn was cancelled; the answer above is partial.]"
    elif outcome.stop_reason not in ("end_turn", ""):
        text += f"\n\n[Codex stopped early: {outcome.stop_reason}.]"
    return f"{text}\n\n{outcome.footer()}"


def status_text(state: ServerState) -> str:
    if state.config is None:
        return f"codex-fusion {__version__}: configuration error: {state.config_error}"
    config = state.config
    consultant = state.consultant
    lines = [f"codex-fusion {__version__}"]
    workspace = config.workspace
    lines.append(f"workspace: {workspace.path}" if workspace.path else f"workspace: ERROR {workspace.error}")
    lines.append(f"agent command: {config.agent_command} (from {config.agent_source})")
    lines.append(f"agent mode: {config.agent_mode}")
    if consultant is None:
        lines.append("consultant: not running")
        return "\n".join(lines)
    agent = consultant.agent
    if agent is not None and agent.alive:
        lines.append(f"agent: alive, {agent.name}, pid {agent.process.pid}")
    elif agent is not None:
        lines.append(f"agent: not alive ({agent.process.describe_exit()})")
    else:
        lines.append("agent: not started (starts on the first consult)")
    lines.append(f"session: {consultant.session_id or 'none'} · state: {consultant.state}")
    if consultant.mode_note:
        lines.append(f"mode: {consultant.mode_note}")
    turn = consultant.current_turn
    if turn is not None:
        lines.append(f"turn running for {turn.elapsed:.0f}s, {turn.updates} updates")
    pending = consultant.pending_permission
    if pending is not None:
        lines.append(
            f"PAUSED for permit {pending.waited:.0f}s: {pending.decision.summary} "
            "(answer with `permit` allow or deny)"
        )
    flags = config.flags
    lines.append(
        "guardian flags: "
        f"external reads {'on' if flags.allow_external_reads else 'off'}, "
        f"writes {'on' if flags.allow_writes else 'off'}, "
        f"commands {'on' if flags.allow_commands else 'off'}"
    )
    if consultant.decisions:
        lines.append(
            "guardian decisions: " + ", ".join(f"{k}: {v}" for k, v in sorted(consultant.decisions.items()))
        )
    lines.append(f"queue: {consultant.queue_length} waiting · turns completed: {consultant.turns_completed}")
    usage = consultant.context_usage
    if usage is not None and usage.used is not None:
        lines.append(f"context: {usage.used} of {usage.size} tokens")
    lines.append(f"last error: {consultant.last_error or 'none'}")
    if agent is not None:
        tail = agent.process.stderr.text(1200)
        lines.append("agent stderr (tail):\n" + (tail or "(empty)"))
    return redact("\n".join(lines))


TimeoutArg = Annotated[
    float | None,
    Field(gt=0, le=86_400, description="Give up after this many seconds without progress from Codex."),
]


def _fail(message: str) -> ToolError:
    return ToolError(redact(message))


def build_server(config: Config | None = None) -> MCPServer[ServerState]:
    """The MCP server. ``config`` defaults to the environment, read when the server starts."""
    state = ServerState()

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        try:
            state.config = config or Config.from_env()
        except ConfigError as exc:
            state.config_error = str(exc)
            log.error("configuration error: %s", exc)
            yield state
            return
        async with Consultant(state.config) as consultant:
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
    )

    def ready() -> Consultant:
        if state.config is None:
            raise _fail(f"codex-fusion is misconfigured: {state.config_error}. Fix the variable and restart.")
        if state.config.workspace.path is None:
            raise _fail(state.config.workspace.error or "No workspace.")
        if state.consultant is None:
            raise _fail("codex-fusion is shutting down.")
        return state.consultant

    async def drive(ctx: Context, tool: str, step: Callable[[ProgressPump], Awaitable[TurnResult]]) -> str:
        """Run one consultant step with progress streaming; errors become error results."""

        async def send(progress: float, message: str) -> None:
            await ctx.report_progress(progress, None, message)

        pump = ProgressPump(send)
        failure: AgentError | ConsultError | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            try:
                result = await step(pump)
            except (AgentError, ConsultError) as exc:
                failure = exc  # raised outside the task group: an error result, not an ExceptionGroup
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise _fail(str(failure))
        await pump.flush()
        if isinstance(result, Pause):  # finished turns are logged once, by the consultant
            log.info("%s: paused for permit after %.1fs: %s", tool, result.elapsed, result.summary)
        return format_result(result)

    async def run_prompt(ctx: Context, prompt: str, timeout_s: float | None) -> str:
        consultant = ready()

        async def step(pump: ProgressPump) -> TurnResult:
            if consultant.queue_length or consultant.current_turn is not None:
                pump.set_status("queued behind another consult")
            return await consultant.consult(
                prompt,
                observer=pump.observe,
                on_start=lambda: pump.set_status("Codex is working"),
                timeout=timeout_s,
            )

        return await drive(ctx, "consult", step)

    @server.tool(
        description=(
            "Ask Codex (OpenAI) for an independent second opinion on a question, decision or piece of "
            "code. Codex can read the workspace itself and keeps one session across calls, so it "
            "remembers earlier consults. Put what Codex cannot see (your plan, constraints, the error "
            "you hit) in `context`. Answers end with a VERDICT line; weigh it, don't just obey it."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
        structured_output=False,
    )
    async def consult(
        question: Annotated[str, Field(description="The question for Codex, self-contained.")],
        ctx: Context,
        context: Annotated[
            str | None, Field(description="Background Codex cannot read in the workspace.")
        ] = None,
        timeout_s: TimeoutArg = None,
    ) -> str:
        if not question.strip():
            raise _fail("`question` is empty: say what you want Codex's opinion on.")
        return await run_prompt(ctx, prompts.consult_prompt(question, context), timeout_s)

    @server.tool(
        description=(
            "Answer Codex's paused permission request (after a result saying Codex is paused) and "
            "resume the same turn. `allow` lets Codex do exactly what it asked, once; `deny` refuses "
            "and Codex carries on without it. `note` (optional) is passed to Codex: why, or what to "
            "do instead. Judge the request itself: what it runs or writes, and where."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        structured_output=False,
    )
    async def permit(
        decision: Annotated[Literal["allow", "deny"], Field(description="allow or deny the paused request")],
        ctx: Context,
        note: Annotated[str | None, Field(description="A note for Codex about your decision.")] = None,
        timeout_s: TimeoutArg = None,
    ) -> str:
        consultant = ready()

        async def step(pump: ProgressPump) -> TurnResult:
            pump.set_status("Codex is working")
            return await consultant.permit(decision, note, observer=pump.observe, timeout=timeout_s)

        return await drive(ctx, "permit", step)

    @server.tool(
        description=(
            "Show codex-fusion's state: workspace, agent command, whether Codex is running, the "
            "session, queued consults, the last error and the agent's stderr tail. Starts nothing."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
        structured_output=False,
    )
    async def status() -> str:
        return status_text(state)

    return server
