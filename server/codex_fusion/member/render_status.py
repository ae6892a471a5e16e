"""What ``status`` shows of one member: its session, boundary, model, audit, what it follows.

Pure functions of the values they render.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from codex_fusion.hookside.visible import one_line
from codex_fusion.launch.members import MemberSpec
from codex_fusion.member.debate import MAX_ROUNDS
from codex_fusion.member.render import verdict

if TYPE_CHECKING:
    from codex_fusion.launch.agents.plan import Boundary
    from codex_fusion.member.snapshot import Status


# -- status ------------------------------------------------------------------------------------------


def _shown(text: object, limit: int = 300) -> str:
    """An agent's words in ``status``: one line, every hidden character a token (issue 25)."""
    return one_line(str(text), limit)


def audit(status: Status) -> str:
    counts = {f"{kind} ({rule})" if rule else str(kind): n for (kind, rule), n in status.audit.items()}
    return ", ".join(f"{key}: {n}" for key, n in sorted(counts.items()))


_CONFINED = (
    "Codex's sandbox reads the workspace and the system's minimal set, writes nothing, no network; "
    "the workspace's own Codex configuration (.codex/, AGENTS.md above it) is off"
)


def boundary(state: Status) -> list[str]:
    """What ``status`` says about the boundary: what the running agent was checked to have, else the plan."""
    config, confined = state.config, state.confinement
    if confined is None:
        if config.boundary_enforced:
            return [f"boundary: planned — {_CONFINED} (checked when the agent starts)"]
        return [f"boundary: {config.boundary_note or 'not enforced'}"]
    if confined.enforced:
        again = ", started again once it said what it is" if confined.relaunched else ""
        return [
            f"boundary: enforced — {_CONFINED} (profile {confined.profile})",
            f"boundary check: {confined.agent}{again}: {confined.evidence}",
        ]
    return [
        f"boundary: {confined.note or 'not enforced'}",
        f"boundary check: {confined.agent}: {confined.evidence}",
    ]


def status(state: Status) -> str:
    config = state.config
    lines = [f"codex-fusion {state.version}"]
    workspace = config.workspace
    lines.append(f"workspace: {workspace.path}" if workspace.path else f"workspace: ERROR {workspace.error}")
    lines.append(f"agent command: {config.agent_command} (from {config.agent_source})")
    confined = state.confinement
    lines.append(
        f"agent mode: {confined.mode if confined is not None and confined.mode else config.agent_mode}"
    )
    lines.extend(boundary(state))
    if state.agent_alive:
        lines.append(f"agent: alive, {_shown(state.agent_name)}, pid {state.agent_pid}")
    elif state.agent_exit is not None:
        lines.append(f"agent: not alive ({_shown(state.agent_exit)})")
    elif state.state == "starting":
        lines.append("agent: starting (the session opens in a moment; a consult now waits for it)")
    else:
        lines.append("agent: not started (starts on the first consult)")
    origin = f" ({state.session_origin})" if state.session_id and state.session_origin else ""
    lines.append(f"session: {_shown(state.session_id or 'none')}{origin} · state: {state.state}")
    if state.mode_note:
        lines.append(f"mode: {state.mode_note}")
    lines.append(model_status(state))
    if state.turn_elapsed is not None:
        lines.append(f"turn running for {state.turn_elapsed:.0f}s, {state.turn_updates} updates")
    if state.pending is not None:
        lines.append(
            f"PAUSED for permit {state.pending_waited:.0f}s: {state.pending} "
            "(answer with `permit` allow or deny)"
        )
    flags = config.flags
    lines.append(
        "guardian flags: "
        f"external reads {'on' if flags.allow_external_reads else 'off'}, "
        f"writes {'on' if flags.allow_writes else 'off'}, "
        f"commands {'on' if flags.allow_commands else 'off'}"
    )
    if state.audit:
        lines.append("guardian decisions: " + audit(state))
    chosen = options_line(config.option_sources)
    if chosen:
        lines.append(chosen)
    lines.append(f"queue: {state.queue_length} waiting · turns completed: {state.turns_completed}")
    if state.debate_round:
        last = f" · last {verdict(state.last_verdict)}" if state.last_verdict is not None else ""
        lines.append(f"debate: round {state.debate_round}/{MAX_ROUNDS}{last}")
    if state.context_used is not None:
        lines.append(f"context: {state.context_used} of {state.context_size} tokens")
    lines.append(f"last error: {_shown(state.last_error or 'none')}")
    if state.log_problem is not None:
        lines.append(f"turn log: NOT WRITTEN — {state.log_problem}")
    if state.stderr_tail is not None:
        lines.append("agent stderr (tail):\n" + (state.stderr_tail or "(empty)"))
    return "\n".join(lines)


def members(rows: Sequence[tuple[MemberSpec, Status, Boundary | None]]) -> str:
    """The council's members, one line each: agent, session, boundary, health."""
    lines = [f"council members: {len(rows)} (a call with `members` asks several)"]
    for spec, state, checked in rows:
        if spec.error is not None:
            lines.append(f"- {spec.name}: cannot start — {spec.error}")
            continue
        agent = state.agent_name or spec.command
        health: str = (
            state.state if state.agent_alive or state.state != "idle" else "idle (starts when asked)"
        )
        if state.agent_exit is not None and not state.agent_alive:
            health = f"not alive ({_shown(state.agent_exit)})"
        confined = checked.confined if checked is not None else spec.boundary_enforced
        boundary = "boundary: confined" if confined else "boundary: NOT confined (its first answer says why)"
        parts = [agent, f"session {state.session_id or 'none'}", boundary, health]
        if spec.model:
            parts.append(f"model {spec.model}")
        if state.last_error:
            parts.append(f"last error: {_shown(state.last_error, 160)}")
        lines.append(f"- {spec.name}: " + " · ".join(parts))
    return "\n".join(lines)


def model_status(state: Status) -> str:
    """``model: gpt-5.5 · effort high (Codex's report) · configured: gpt-5.5 (set by …)``."""
    config = state.config
    wanted = config.model
    asked = "the agent's default"
    if not wanted.empty:
        model = wanted.model and f"{wanted.model} ({wanted.origin})"
        effort = wanted.effort and f"effort {wanted.effort} ({wanted.effort_origin})"
        asked = " · ".join(filter(None, (model, effort)))
    if state.model is None or (state.model.model is None and state.model.effort is None):
        return f"model: {asked} (no session yet, or the agent does not report it)"
    now = state.model.model or "?"
    if state.model.effort:
        now += f" · effort {state.model.effort}"
    return f"model: {now} (as Codex reports it) · configured: {asked}"


def options_line(sources: dict[str, str]) -> str | None:
    """Which plugin options are not at their default, and where each was set."""
    chosen = [f"{key} ({source})" for key, source in sources.items() if source != "default"]
    return "options: " + ", ".join(chosen) if chosen else None


def debate_state(state: Status, reset_on: frozenset[str]) -> str:
    """One line the hook shows Claude after a compaction: where the Codex debate stands."""
    after = (
        "Codex is reset when the conversation is compacted: re-brief it before consulting again."
        if "compact" in reset_on
        else "Codex keeps its session across compaction: continue with `reply` or a new consult."
    )
    if state.session_id is None:
        return f"Codex (codex-fusion) has no open session; its next call starts fresh. {after}"
    where = f"Codex (codex-fusion) session {state.session_id}"
    if state.debate_round and state.last_verdict is not None:
        where += f": debate at round {state.debate_round}/{MAX_ROUNDS}, last {verdict(state.last_verdict)}"
    return f"{where}. {after}"


def following(
    window: int | None, followed: str | None, reset_on: frozenset[str], problem: str | None = None
) -> str:
    """The status line about Claude's conversation as the hooks report it."""
    which = f"window pid {window}" if window is not None else "the workspace record (no window found)"
    session = followed or "not seen yet"
    resets = ", ".join(sorted(reset_on)) or "nothing"
    line = f"claude: {which} · conversation {session} · resets on: {resets}"
    return line + (f"\nclaude: NOT IN STEP — {problem}; retried before the next call" if problem else "")
