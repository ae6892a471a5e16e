"""The MCP tools, as a table: name, description, annotations, and one short async function each.

Adding a tool is one :class:`Spec` entry plus, for a question to Codex, a prompt builder in
:mod:`codex_fusion.prompts`; the function's typed parameters are its input schema (compacted by
:func:`compact_schema`, since every tool's schema is in Claude's context). Every tool goes through
:func:`ask` (a turn) or reads :class:`ServerState` directly; :func:`_answer` is the one place where a
:class:`~codex_fusion.errors.FusionError` becomes an error result.

Results are text (ADR 0007): Codex's answer, then a one-line footer with the debate round, the
parsed verdict, the time and the tokens.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import Field

from . import __version__, overflow, prompts, render
from .config import Config
from .consultant import Consultant
from .diffs import DiffRequest, collect_diff
from .errors import FusionError
from .follow import Follower
from .models import ModelChoice
from .progress import ProgressPump
from .redact import redact
from .turn import Pause, TurnOutcome, TurnResult

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    """What the tools share, set up by the server's lifespan."""

    config: Config | None = None
    config_error: str | None = None
    consultant: Consultant | None = None
    follower: Follower | None = None


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


def _required(value: str, name: str, what: str) -> str:
    if not value.strip():
        raise ToolError(f"`{name}` is empty: {what}.")
    return value


async def _answer(
    ctx: Context, consultant: Consultant, step: Callable[[ProgressPump], Awaitable[TurnResult]]
) -> str:
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
    saved = None
    if isinstance(result, Pause):  # finished turns are logged once, by the consultant
        log.info("paused for permit after %.1fs: %s", result.elapsed, result.summary)
    elif len(result.text) > consultant.config.max_answer_chars:
        result, saved = await _fit(result, consultant.config)
    return redact(render.result(result, saved))  # Claude's transcript is kept on disk: no credentials


async def _fit(outcome: TurnOutcome, config: Config) -> tuple[TurnOutcome, render.Saved]:
    """Cut an answer to Claude's budget; the whole of it goes to a private file."""
    whole = redact(outcome.text)
    shown = overflow.cut(whole, config.max_answer_chars)
    where = "(not saved: codex-fusion has no data directory; set CLAUDE_PLUGIN_DATA or HOME)"
    if config.state_dir is not None:
        try:
            where = str(await anyio.to_thread.run_sync(overflow.save, whole, config.state_dir))
        except OSError as exc:
            log.warning("cannot save a long answer: %s", exc)
            where = f"(not saved: {exc})"
    return dataclasses.replace(outcome, text=shown), render.Saved(where, len(shown), len(whole))


async def ask(
    ctx: Context,
    brief: prompts.Brief,
    timeout_s: float | None = None,
    model: str | None = None,
    effort: str | None = None,
) -> str:
    """Send ``brief`` to Codex as one turn (queued behind any other) and answer with its result;
    ``model``/``effort`` override the configured ones for this turn."""
    consultant = _consultant(ctx)
    follower = _state(ctx).follower
    if follower is not None:
        await follower.check()  # a /clear whose watch event has not arrived yet still resets first

    async def step(pump: ProgressPump) -> TurnResult:
        if consultant.queue_length or consultant.current_turn is not None:
            pump.set_status("queued behind another consult")
        return await consultant.consult(
            brief,
            observer=pump.observe,
            on_start=lambda: pump.set_status("Codex is working"),
            timeout=timeout_s,
            choice=ModelChoice.of(model, effort, "the `model`/`effort` argument"),
        )

    return await _answer(ctx, consultant, step)


# -- the tools ---------------------------------------------------------------------------------------

TimeoutArg = Annotated[float | None, Field(gt=0, le=86_400, description="Idle limit, seconds.")]
ContextArg = Annotated[str | None, Field(description="What Codex cannot read in the workspace.")]
PathsArg = Annotated[list[str] | None, Field(description="Workspace-relative.")]
#: Per-call model and reasoning effort (else the configured ones): no description, the names say it
#: (every byte of a schema is in Claude's context; the agent's offer bounds what is accepted).
ModelArg = str | None


async def consult(
    question: Annotated[str, Field(description="Self-contained.")],
    ctx: Context,
    context: ContextArg = None,
    timeout_s: TimeoutArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    _required(question, "question", "say what you want Codex's opinion on")
    return await ask(ctx, prompts.consult(question, context), timeout_s, model, effort)


async def review_plan(
    plan: str,
    ctx: Context,
    context: ContextArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    _required(plan, "plan", "pass the plan to review")
    return await ask(ctx, prompts.review_plan(plan, context), None, model, effort)


async def review_diff(
    ctx: Context,
    diff: Annotated[str | None, Field(description="Omit: git runs.")] = None,
    base: Annotated[str | None, Field(description="Branch or commit.")] = None,
    staged: bool = False,
    paths: PathsArg = None,
    focus: str | None = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    consultant = _consultant(ctx)
    material = None
    if diff is None or not diff.strip():
        workspace = consultant.config.workspace.path
        assert workspace is not None
        request = DiffRequest(base=base, staged=staged, paths=tuple(paths or ()))
        try:
            material = await collect_diff(workspace, request, max_chars=consultant.config.max_answer_chars)
        except FusionError as exc:
            raise ToolError(redact(str(exc))) from None
        if not material.files:
            return render.nothing_to_review(material.description)
    return await ask(ctx, prompts.review_diff(material, diff, focus), None, model, effort)


async def brainstorm(
    problem: str,
    ctx: Context,
    constraints: str | None = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    _required(problem, "problem", "describe the problem to brainstorm on")
    return await ask(ctx, prompts.brainstorm(problem, constraints), None, model, effort)


async def explore(
    ctx: Context,
    focus: Annotated[str | None, Field(description="A question or area.")] = None,
    paths: PathsArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    return await ask(ctx, prompts.explore(focus, paths or ()), None, model, effort)


async def reply(
    message: str,
    ctx: Context,
) -> str:
    _required(message, "message", "say what you answer to Codex")
    consultant = _consultant(ctx)
    return await ask(ctx, prompts.reply(message, consultant.debate_round + 1))


async def permit(
    decision: Annotated[
        Literal["allow", "deny", "cancel"],
        Field(description="cancel stops the turn"),
    ],
    ctx: Context,
    request: Annotated[str | None, Field(description="The pause's id, e.g. r3.")] = None,
    note: Annotated[str | None, Field(description="For Codex.")] = None,
) -> str:
    consultant = _consultant(ctx)

    async def step(pump: ProgressPump) -> TurnResult:
        pump.set_status("Codex is working")
        return await consultant.permit(decision, note, request=request, observer=pump.observe)

    return await _answer(ctx, consultant, step)


async def reset(ctx: Context) -> str:
    consultant = _consultant(ctx)
    try:
        report = await consultant.reset()
    except FusionError as exc:
        raise ToolError(redact(str(exc))) from None
    return redact(render.reset(report))


async def status(ctx: Context) -> str:
    state = _state(ctx)
    if state.config is None:
        return f"codex-fusion {__version__}: configuration error: {state.config_error}"
    if state.consultant is None:
        return f"codex-fusion {__version__}: not running"
    text = render.status(state.consultant.status())
    if state.follower is not None and state.config.state_dir is not None:
        text += "\n" + render.following(state.follower.window, state.follower.followed, state.config.reset_on)
    return redact(text)


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
        consult,
    ),
    Spec(
        "review_plan",
        f"Plan review by Codex before you implement: soundness, gaps, risks. {_DEBATE}",
        ADVISORY,
        review_plan,
    ),
    Spec(
        "review_diff",
        "Code review by Codex. Without `diff` the server runs git: working tree vs HEAD (untracked "
        f"too), `staged`, or vs `base` (a PR's view); `paths` narrows. {_DEBATE}",
        ADVISORY,
        review_diff,
    ),
    Spec(
        "brainstorm",
        f"Brainstorm with Codex: 2–4 approaches with trade-offs and a pick. {_DEBATE}",
        ADVISORY,
        brainstorm,
    ),
    Spec(
        "explore",
        "Explore an unfamiliar codebase with Codex: structure, components, flow, conventions, with "
        "paths. No debate.",
        ADVISORY,
        explore,
    ),
    Spec(
        "reply",
        "Reply to Codex's last answer in the same debate: push back, add facts. Stop and decide by round 3.",
        ADVISORY,
        reply,
    ),
    Spec(
        "permit",
        "Answer Codex's paused request and resume its turn: `allow` it once, `deny` it (Codex goes on "
        "without it), or `cancel` the turn. Judge what it runs or writes, and where.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        permit,
    ),
    Spec(
        "reset",
        "Drop Codex's session and context; the next call starts fresh. For an unrelated task.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
        reset,
    ),
    Spec(
        "status",
        "codex-fusion health: workspace, agent, session, debate, queue, pending request, last error. "
        "Starts nothing.",
        ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
        status,
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
    tools = []
    for spec in TOOLS:
        tool = Tool.from_function(
            spec.fn,
            name=spec.name,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=False,
        )
        tools.append(tool.model_copy(update={"parameters": compact_schema(tool.parameters)}))
    return tools
