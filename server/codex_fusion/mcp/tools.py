"""The MCP tools, as a table: name, description, annotations, and one short async function each.

Adding a tool is one :class:`Spec` entry plus, for a question to Codex, a prompt builder in
:mod:`codex_fusion.text.prompts`; the function's typed parameters are its input schema (compacted by
:func:`compact_schema`, since every tool's schema is in Claude's context). Every tool goes through
:func:`ask` (a turn) or reads :class:`ServerState` directly; :func:`_answer` is the one place where a
:class:`~codex_fusion.errors.FusionError` becomes an error result.

Results are text (ADR 0007): Codex's answer, then a one-line footer with the debate round, the
parsed verdict, the time and the tokens.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import Field

from codex_fusion import __version__
from codex_fusion.council import render as council_render
from codex_fusion.council.council import Council, CouncilResult
from codex_fusion.errors import FusionError
from codex_fusion.host.follow import Follower
from codex_fusion.launch.config import Config
from codex_fusion.launch.models import ModelChoice
from codex_fusion.mcp import task_tools
from codex_fusion.mcp.progress import ProgressPump
from codex_fusion.member import render, render_status
from codex_fusion.member.consultant import Consultant
from codex_fusion.member.turn import Pause, TurnOutcome, TurnResult
from codex_fusion.review import parts as shards
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs import DiffMaterial, DiffRequest, collect_diff
from codex_fusion.tasks import render as task_render
from codex_fusion.tasks.manager import TaskManager
from codex_fusion.text import overflow, prompts, wellformed
from codex_fusion.text.redact import redact_credentials

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    """What the tools share, set up by the server's lifespan."""

    config: Config | None = None
    config_error: str | None = None
    council: Council | None = None
    follower: Follower | None = None
    tasks: TaskManager | None = None  # delegated tasks (task_tools.py)

    @property
    def consultant(self) -> Consultant | None:
        """Codex's conversation: the default member, the one a call without ``members`` goes to."""
        return self.council.codex if self.council is not None else None


def _state(ctx: Context) -> ServerState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, ServerState)
    return state


def _council(ctx: Context) -> Council:
    state = _state(ctx)
    if state.config is None:
        raise ToolError(f"codex-fusion is misconfigured: {state.config_error}. Fix the variable and restart.")
    if state.config.workspace.path is None:
        raise ToolError(redact_credentials(state.config.workspace.error or "No workspace."))
    if state.council is None:
        raise ToolError("codex-fusion is shutting down.")
    return state.council


def _consultant(ctx: Context) -> Consultant:
    return _council(ctx).codex


def _required(value: str, name: str, what: str) -> str:
    if not value.strip():
        raise ToolError(f"`{name}` is empty: {what}.")
    return value


async def _answer(
    ctx: Context,
    consultant: Consultant,
    step: Callable[[ProgressPump], Awaitable[TurnResult | CouncilResult]],
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
        raise ToolError(redact_credentials(str(failure)))
    await pump.flush()
    if isinstance(result, CouncilResult):  # a permit that completed a council member's seat
        return await _render_council(result, consultant.config)
    saved = None
    if isinstance(result, Pause):  # finished turns are logged once, by the consultant
        log.info("paused for permit after %.1fs: %s", result.elapsed, result.summary)
        # The request is shown byte for byte (what Claude approves is what runs; a credential in it
        # is named next to it instead); only what Codex said so far is redacted.
        return render.pause(dataclasses.replace(result, text_so_far=redact_credentials(result.text_so_far)))
    # Claude's transcript is kept on disk: no credentials in it (ADR 0014).
    saved = None
    if len(result.text) > consultant.config.max_answer_chars:
        result, saved = await _fit(result, consultant.config)
    return redact_credentials(render.outcome(result, saved))


async def _fit(
    outcome: TurnOutcome, config: Config, limit: int | None = None
) -> tuple[TurnOutcome, render.Saved]:
    """Cut an answer to Claude's budget (or ``limit``); the whole of it goes to a private file, redacted
    as what Claude reads is (Claude reads that file when it needs the rest)."""
    whole = redact_credentials(outcome.text)
    shown = overflow.cut(whole, config.max_answer_chars if limit is None else limit)
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
    members: MembersArg = None,
    my_take: str | None = None,
    model: str | None = None,
    effort: str | None = None,
) -> str:
    """Send ``brief`` to Codex as one turn (queued behind any other) and answer with its result; with
    ``members``, to each of them as a council round. ``model``/``effort`` override Codex's configured
    ones for this turn."""
    council = _council(ctx)
    follower = _state(ctx).follower
    # A /clear whose watch event has not arrived yet still resets first; one that cannot be carried
    # out must not let this call land in the cleared conversation's context.
    if follower is not None and not await follower.check():
        raise ToolError(
            f"Not sent to Codex: codex-fusion {follower.problem}, so this call could land in the wrong "
            "context. Ask again (it is retried first); if it fails again, call `reset` (Codex starts "
            "fresh) and `status`."
        )
    if members is not None:
        if model or effort:
            raise ToolError(
                "`model`/`effort` apply to Codex alone; a council member's model is set in its entry of "
                "CODEX_FUSION_MEMBERS (or the plugin's members option). Call again without them."
            )
        try:
            names = council.select(members)
        except FusionError as exc:
            raise ToolError(redact_credentials(str(exc))) from None
        return await _council_answer(
            ctx,
            council,
            lambda progress: council.ask(brief, names, my_take or "", progress=progress, timeout=timeout_s),
        )
    consultant = council.codex
    council.single()

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


async def _council_answer(
    ctx: Context, council: Council, step: Callable[[ProgressPump], Awaitable[CouncilResult]]
) -> str:
    """Run one council step with progress (one line per member); a FusionError becomes an error result."""

    async def send(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    pump = ProgressPump(send)
    pump.set_status("the council is working")
    failure: FusionError | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        try:
            result = await step(pump)
        except FusionError as exc:
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise ToolError(redact_credentials(str(failure)))
    await pump.flush()
    return await _render_council(result, council.config)


async def _render_council(result: CouncilResult, config: Config) -> str:
    """The round's text, each member's answer cut to its share of the output budget (saved whole)."""
    share = max(config.max_answer_chars // max(len(result.seats), 1), 4_000)
    seats, saved = [], {}
    for seat in result.seats:
        answer = seat.answer
        if isinstance(answer, TurnOutcome) and len(answer.text) > share:
            answer, saved[seat.name] = await _fit(answer, config, share)
        elif isinstance(answer, Pause):  # the request byte for byte; only what was said so far is redacted
            answer = dataclasses.replace(answer, text_so_far=redact_credentials(answer.text_so_far))
        seats.append(dataclasses.replace(seat, answer=answer))
    shown = dataclasses.replace(result, seats=tuple(seats))
    return council_render.council(shown, saved, clean=redact_credentials)


# -- the tools ---------------------------------------------------------------------------------------

TimeoutArg = Annotated[float | None, Field(gt=0, le=86_400, description="Idle limit, seconds.")]
ContextArg = Annotated[str | None, Field(description="What Codex cannot read in the workspace.")]
PathsArg = Annotated[list[str] | None, Field(description="Workspace-relative.")]
MembersArg = Annotated[list[str] | None, Field(description='Council: names, or ["all"]; needs my_take.')]
TakeArg = Annotated[str | None, Field(description="Your position, before the council answers.")]
#: Per-call model and reasoning effort (else the configured ones): no description, the names say it
#: (every byte of a schema is in Claude's context; the agent's offer bounds what is accepted).
ModelArg = str | None


async def consult(
    question: Annotated[str, Field(description="Self-contained.")],
    ctx: Context,
    context: ContextArg = None,
    timeout_s: TimeoutArg = None,
    members: MembersArg = None,
    my_take: TakeArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    _required(question, "question", "say what you want Codex's opinion on")
    return await ask(ctx, prompts.consult(question, context), timeout_s, members, my_take, model, effort)


async def review_plan(
    plan: str,
    ctx: Context,
    context: ContextArg = None,
    timeout_s: TimeoutArg = None,
    members: MembersArg = None,
    my_take: TakeArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    _required(plan, "plan", "pass the plan to review")
    return await ask(ctx, prompts.review_plan(plan, context), timeout_s, members, my_take, model, effort)


async def review_diff(
    ctx: Context,
    diff: Annotated[str | None, Field(description="Omit: git runs.")] = None,
    base: Annotated[str | None, Field(description="Branch or commit.")] = None,
    staged: bool = False,
    paths: PathsArg = None,
    focus: str | None = None,
    timeout_s: TimeoutArg = None,
    members: MembersArg = None,
    my_take: TakeArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    consultant = _consultant(ctx)
    material = None
    limit = consultant.config.max_answer_chars
    if diff is None or not diff.strip():
        workspace = consultant.config.workspace.path
        assert workspace is not None
        request = DiffRequest(base=base, staged=staged, paths=tuple(paths or ()))
        budget = limit if members is not None else limit * shards.MAX_SHARDS
        try:
            material = await collect_diff(
                workspace,
                request,
                max_chars=budget,
                allow_foreign_gitdir=consultant.config.allow_foreign_gitdir,
            )
        except FusionError as exc:
            raise ToolError(redact_credentials(str(exc))) from None
        if not material.files:
            return render.nothing_to_review(material.description)
        parts = shards.plan(material, limit, focus=focus) if members is None else None
        if parts is not None:
            return await _review_in_parts(ctx, parts, focus, timeout_s)
    return await ask(
        ctx, review_prompts.review_diff(material, diff, focus), timeout_s, members, my_take, model, effort
    )


async def _review_in_parts(
    ctx: Context, parts: list[DiffMaterial], focus: str | None, timeout_s: float | None
) -> str:
    """A diff too large for one session: its parts reviewed at once by sessions of Codex's own,
    merged into one answer that opens Codex's debate."""
    council = _council(ctx)
    codex = council.codex
    started = time.monotonic()

    async def step(pump: ProgressPump) -> TurnResult:
        pump.set_status(f"reviewing {len(parts)} parts at once")
        reviews = await shards.review(
            codex.config,
            codex.member,
            parts,
            focus,
            spawn=codex.spawn,
            request_ids=codex.request_ids,
            progress=pump.set,
            timeout=timeout_s,
        )
        council.single()
        return codex.adopt_review(
            shards.merge(reviews, render.who(codex.member.name), started), "review_diff"
        )

    return await _answer(ctx, codex, step)


async def brainstorm(
    problem: str,
    ctx: Context,
    constraints: str | None = None,
    timeout_s: TimeoutArg = None,
    members: MembersArg = None,
    my_take: TakeArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    _required(problem, "problem", "describe the problem to brainstorm on")
    return await ask(
        ctx, prompts.brainstorm(problem, constraints), timeout_s, members, my_take, model, effort
    )


async def explore(
    ctx: Context,
    focus: Annotated[str | None, Field(description="A question or area.")] = None,
    paths: PathsArg = None,
    timeout_s: TimeoutArg = None,
    model: ModelArg = None,
    effort: ModelArg = None,
) -> str:
    return await ask(ctx, prompts.explore(focus, paths or ()), timeout_s, None, None, model, effort)


async def reply(
    message: str,
    ctx: Context,
    timeout_s: TimeoutArg = None,
    members: Annotated[list[str] | None, Field(description="Council: only these.")] = None,
) -> str:
    _required(message, "message", "say what you answer to Codex")
    council = _council(ctx)
    if council.last == "council":
        return await _council_answer(
            ctx,
            council,
            lambda progress: council.reply(message, members, progress=progress, timeout=timeout_s),
        )
    consultant = council.codex
    return await ask(ctx, prompts.reply(message, consultant.debate_round + 1), timeout_s)


async def permit(
    decision: Annotated[
        Literal["allow", "deny", "cancel"],
        Field(description="cancel stops the turn"),
    ],
    ctx: Context,
    request: Annotated[str | None, Field(description="The pause's id, e.g. r3.")] = None,
    note: Annotated[str | None, Field(description="For Codex.")] = None,
    timeout_s: TimeoutArg = None,
) -> str:
    council = _council(ctx)
    tasks = _state(ctx).tasks
    held = tasks.holder(request) if tasks is not None else None
    if tasks is not None and held is not None and (request is not None or not _council_paused(council)):
        return await task_tools.permit_task(ctx, tasks, held, decision, note, request)

    async def step(pump: ProgressPump) -> TurnResult | CouncilResult:
        pump.set_status("working")
        return await council.permit(decision, note, request=request, observer=pump.observe, timeout=timeout_s)

    return await _answer(ctx, council.codex, step)


def _council_paused(council: Council) -> bool:
    return any(
        m.current_turn is not None and m.current_turn.pause() is not None for m in council.members.values()
    )


async def reset(ctx: Context) -> str:
    council = _council(ctx)
    try:
        report = await council.reset()
    except FusionError as exc:
        raise ToolError(redact_credentials(str(exc))) from None
    return redact_credentials(render.reset(report))


async def status(ctx: Context) -> str:
    state = _state(ctx)
    if state.config is None:
        return f"codex-fusion {__version__}: configuration error: {state.config_error}"
    if state.consultant is None:
        return f"codex-fusion {__version__}: not running"
    text = render_status.status(state.consultant.status())
    assert state.council is not None
    if len(state.council.members) > 1:
        text += "\n" + render_status.members(state.council.statuses())
    follower = state.follower
    if follower is not None and state.config.state_dir is not None:
        text += "\n" + render_status.following(
            follower.window, follower.followed, state.config.reset_on, follower.problem
        )
    if state.tasks is not None and state.tasks.tasks:
        text += "\n" + task_render.listing(list(state.tasks.tasks.values()))
    return redact_credentials(text)  # the agent's stderr tail in it is redacted as a log already


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
        "delegate",
        "Delegate a well-specified change to Codex, done in an isolated copy of the workspace; you get a "
        "patch to review, and your files change only on `task` accept. Give `paths` and `criteria`.",
        ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
        task_tools.delegate,
    ),
    Spec(
        "task",
        "A delegated task: `show` (`wait_s` waits for it), `accept` (applies its patch, all or nothing, "
        "never commits), `rework` with `notes` (3 at most), `discard`.",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        task_tools.task,
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


def guarded(fn: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
    """``fn`` at the MCP boundary: its text arguments made well-formed (a lone surrogate can reach
    neither Codex nor a log, ADR 0012), its result and errors too (a file name from a hostile
    repository may carry one), and a bug in it an error result that says so, not a lost call."""

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> str:
        args = tuple(_clean(value) for value in args)
        kwargs = {name: _clean(value) for name, value in kwargs.items()}
        try:
            return wellformed.text(await fn(*args, **kwargs))
        except ToolError as exc:
            raise ToolError(wellformed.text(str(exc))) from None
        except Exception as exc:
            log.exception("the %s tool failed", fn.__name__)
            raise ToolError(
                wellformed.text(
                    redact_credentials(
                        f"codex-fusion failed on this call ({type(exc).__name__}: {exc}); this is a bug in "
                        "codex-fusion, logged with its traceback. The server is still up: try again, or "
                        "call `status`."
                    )
                )
            ) from None

    return call


def _clean(value: Any) -> Any:
    return wellformed.data(value) if isinstance(value, str | list) else value


def build_tools() -> list[Tool]:
    tools = []
    for spec in TOOLS:
        tool = Tool.from_function(
            guarded(spec.fn),
            name=spec.name,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=False,
        )
        tools.append(tool.model_copy(update={"parameters": compact_schema(tool.parameters)}))
    return tools
