"""The MCP tools, as a table: name, description, annotations, and one short async function each.

Adding a tool is one :class:`Spec` entry plus, for a question to an agent, a prompt builder in
:mod:`codex_fusion.text.prompts`; the function's typed parameters are its input schema (compacted by
:func:`compact_schema`, since every tool's schema is in Claude's context). Every tool runs through
the one boundary (:func:`~codex_fusion.mcp.boundary.guarded`): a tool raises a
:class:`~codex_fusion.errors.FusionError` and the boundary makes it the error result; a tool that
waits on an agent does so with :func:`~codex_fusion.mcp.boundary.with_progress`.

Results are text (ADR 0007): the agent's answer, then a one-line footer with the debate round, the
parsed verdict, the time and the tokens.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from codex_fusion import __version__
from codex_fusion.council import usage as council_usage
from codex_fusion.council.council import Council
from codex_fusion.council.result import CouncilResult
from codex_fusion.errors import UsageError
from codex_fusion.launch.models import ModelChoice
from codex_fusion.mcp import answers, hosted, progress
from codex_fusion.mcp.arguments import MembersArg, OneOrMany
from codex_fusion.mcp.boundary import with_progress
from codex_fusion.mcp.progress import ProgressPump
from codex_fusion.mcp.state import council_of, required, state_of
from codex_fusion.member import render, render_status
from codex_fusion.member.turn import TurnResult
from codex_fusion.review import parts as shards
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs import DiffMaterial, DiffRequest, collect_diff
from codex_fusion.tasks import render as task_render
from codex_fusion.text import prompts
from codex_fusion.text.redact import redact_credentials


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
    council = council_of(ctx)
    follower = state_of(ctx).follower
    # A /clear whose watch event has not arrived yet still resets first; one that cannot be carried
    # out must not let this call land in the cleared conversation's context.
    if follower is not None and not await follower.check():
        raise UsageError(
            f"Not sent to Codex: codex-fusion {follower.problem}, so this call could land in the wrong "
            "context. Ask again (it is retried first); if it fails again, call `reset` (Codex starts "
            "fresh) and `status`."
        )
    if members is not None:
        if model or effort:
            raise UsageError(
                "`model`/`effort` apply to Codex alone; a council member's model is set in its entry of "
                "CODEX_FUSION_MEMBERS (or the plugin's members option). Call again without them."
            )
        names = council.select(members)
        return await _council_round(
            ctx, council, lambda: council.ask(brief, names, my_take or "", timeout=timeout_s)
        )
    consultant = hosted.default_member(council, hosted.host_of(ctx))
    council.single()
    choice = ModelChoice.of(model, effort, "the `model`/`effort` argument")

    async def step(pump: ProgressPump) -> TurnResult:
        if consultant.queue_length or consultant.current_turn is not None:
            pump.set_status("queued behind another consult")
        turn = await consultant.start(brief, timeout=timeout_s, choice=choice)
        pump.set_status(f"{consultant.member.display} is working")
        pump.follow(lambda final: progress.turn_line(turn, final))
        return await consultant.wait(turn)

    result = await with_progress(ctx, step, status="waiting for Codex", changes=council.changes)
    return await answers.result(result, consultant.config)


async def _council_round(ctx: Context, council: Council, run: Callable[[], Awaitable[CouncilResult]]) -> str:
    """A council round with progress (one line per member)."""

    async def step(pump: ProgressPump) -> CouncilResult:
        pump.follow(lambda final: progress.seats_line(council.debate, final))
        return await run()

    result = await with_progress(ctx, step, status="the council is working", changes=council.changes)
    return await answers.council(result, council.config)


# -- the tools ---------------------------------------------------------------------------------------

TimeoutArg = Annotated[float | None, Field(gt=0, le=86_400, description="Idle limit, seconds.")]
ContextArg = Annotated[str | None, Field(description="What Codex cannot read in the workspace.")]
PathsArg = Annotated[list[str] | None, Field(description="Workspace-relative.")]
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
    required(question, "question", "say what you want Codex's opinion on")
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
    required(plan, "plan", "pass the plan to review")
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
    consultant = council_of(ctx).codex
    material = None
    limit = consultant.config.max_answer_chars
    if diff is None or not diff.strip():
        workspace = consultant.config.workspace.path
        assert workspace is not None
        request = DiffRequest(base=base, staged=staged, paths=tuple(paths or ()))
        budget = limit if members is not None else limit * shards.MAX_SHARDS
        material = await collect_diff(
            workspace,
            request,
            max_chars=budget,
            allow_foreign_gitdir=consultant.config.allow_foreign_gitdir,
        )
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
    council = council_of(ctx)
    codex = council.codex
    started = time.monotonic()
    states: list[str] = []

    async def step(pump: ProgressPump) -> TurnResult:
        pump.follow(lambda _final: progress.parts_line(states))
        reviews = await shards.review(
            codex.config,
            codex.member,
            parts,
            focus,
            spawn=codex.spawn,
            request_ids=codex.request_ids,
            states=states,
            changes=council.changes,
            timeout=timeout_s,
            host=shards.host_of(codex),
        )
        council.single()
        return codex.adopt_review(
            shards.merge(reviews, render.who(codex.member.name), started), "review_diff"
        )

    status = f"reviewing {len(parts)} parts at once"
    result = await with_progress(ctx, step, status=status, changes=council.changes)
    return await answers.result(result, codex.config)


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
    required(problem, "problem", "describe the problem to brainstorm on")
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
    members: Annotated[list[str] | None, OneOrMany, Field(description="Council: only these.")] = None,
) -> str:
    required(message, "message", "say what you answer to Codex")
    council = council_of(ctx)
    if council.last == "council":
        return await _council_round(ctx, council, lambda: council.reply(message, members, timeout=timeout_s))
    consultant = hosted.default_member(council, hosted.host_of(ctx))
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
    council = council_of(ctx)
    tasks = state_of(ctx).tasks
    held = tasks.holder(request) if tasks is not None else None
    if tasks is not None and held is not None and (request is not None or not _council_paused(council)):
        await tasks.permit(held, decision, note, request)  # its turn goes on in the background
        return await answers.wait_tasks(ctx, tasks, [held], answers.DELEGATE_WAIT_S)
    member = council.holder(request)

    async def step(pump: ProgressPump) -> TurnResult | CouncilResult:
        pump.follow(lambda final: progress.member_line(member, final))
        return await council.permit(decision, note, request=request, timeout=timeout_s)

    result = await with_progress(ctx, step, status="working", changes=council.changes)
    return await answers.result(result, council.config)


def _council_paused(council: Council) -> bool:
    return any(
        m.current_turn is not None and m.current_turn.pause() is not None for m in council.members.values()
    )


async def reset(ctx: Context) -> str:
    report = await council_of(ctx).reset()
    return redact_credentials(render.reset(report))


async def status(ctx: Context) -> str:
    state = state_of(ctx)
    if state.config is None:
        return f"codex-fusion {__version__}: configuration error: {state.config_error}"
    if state.consultant is None:
        return f"codex-fusion {__version__}: not running"
    text = render_status.status(state.consultant.status())
    assert state.council is not None
    if len(state.council.members) > 1:
        text += "\n" + render_status.members(state.council.statuses())
    members = {name: m.usage for name, m in state.council.members.items()}
    text += "".join("\n" + line for line in council_usage.lines(members))  # issue 27: usage per member
    follower = state.follower
    if follower is not None and state.config.state_dir is not None:
        text += "\n" + render_status.following(
            follower.window, follower.followed, state.config.reset_on, follower.problem
        )
    text += hosted.status_line(ctx)
    if state.tasks is not None and state.tasks.tasks:
        text += "\n" + task_render.listing(list(state.tasks.tasks.values()))
    return redact_credentials(text)  # the agent's stderr tail in it is redacted as a log already
