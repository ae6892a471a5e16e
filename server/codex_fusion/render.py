"""Every text Claude or a person at a terminal reads: results, pauses, notes, status, progress lines.

Pure functions of the values they render; no other module formats text for a reader.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import agreement, redact
from .acp.schema import ContentChunk, PlanUpdate, SessionUpdate, ToolCallInfo
from .debate import MAX_ROUNDS, Round, Standing, VerdictLine
from .members import DISPLAY, MemberSpec
from .notes import Note, NoteKind
from .permissions import only_lasting_allow
from .transcript import ToolActivity
from .turn import Pause, Turn, TurnOutcome, TurnResult
from .visible import visible

if TYPE_CHECKING:
    from .agents import Boundary
    from .council import CouncilResult, Seat
    from .doctor import Check
    from .guardian import Decision
    from .snapshot import ResetReport, Status

PROGRESS_TAIL = 140

# -- small pieces ------------------------------------------------------------------------------------


def tail(text: str, limit: int, *, one_line: bool = False) -> str:
    """The end of ``text``, at most ``limit`` characters, marked with … when cut."""
    text = " ".join(text.split()) if one_line else text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def format_tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 100_000:
        return f"{count / 1000:.1f}k"
    return f"{count // 1000}k"


def activity(tool: ToolActivity) -> str:
    """One tool call Codex made: ``read src/app.py (completed)``."""
    return f"{tool.kind} {tool.title}".strip() + f" ({tool.status})"


def note(item: Note, who: str = "Codex") -> str:
    kind = item.kind
    if kind is NoteKind.AUTO_ALLOWED:
        return f"auto-allowed: {item.subject}"
    if kind is NoteKind.ALLOWED:
        return f"allowed by Claude: {item.subject}" + (f" ({item.detail})" if item.detail else "")
    if kind is NoteKind.DENIED:
        return f"denied by Claude: {item.subject}"
    if kind is NoteKind.WITHDRAWN:
        return f"{who} withdrew its request to {item.subject}"
    if kind is NoteKind.DROPPED:
        return f"{who}'s request to {item.subject} was answered `cancelled` because the turn ended"
    if kind is NoteKind.LAST_STATUS:
        return f"{who}'s last status: {item.subject}"
    if kind is NoteKind.RESTARTED:
        return f"{who} did not stop in time and was restarted; its session context is lost"
    if kind is NoteKind.REFUSED:
        return f"refused without asking you, too large to show whole: {item.subject}"
    if kind is NoteKind.CAPPED:
        return (
            f"{who} asked for permission more than {item.detail} times in this turn, so codex-fusion "
            "stopped it. Ask a narrower question, or deny with a note saying what to do instead"
        )
    if kind is NoteKind.STOPPED:
        return "you stopped this turn with `permit` cancel"
    if kind is NoteKind.RESET:
        return f"{who}'s session was reset while this turn ran, so it was stopped"
    if kind is NoteKind.RESTORED:
        return f"{who}'s earlier session {item.subject} was restored, with its context"
    if kind is NoteKind.NOT_RESTORED:
        return (
            f"{who}'s previous context (session {item.subject}) could not be restored: this answer "
            f"comes from a fresh session; re-brief {who}"
        )
    if kind is NoteKind.BOUNDARY:
        return item.subject
    if kind is NoteKind.LOST_TRACK:
        return (
            f"codex-fusion lost track of Claude's conversation ({item.subject}), so Codex was reset to be "
            "safe: this answer comes from a fresh session; re-brief Codex"
        )
    if kind is NoteKind.NOT_FORKED:
        return f"{who} cannot fork its session, so the forked conversation got a fresh session: re-brief it"
    return f"{kind}: {item.subject}"


#: Notes about the session rather than the turn's requests.
_SESSION = frozenset(
    {NoteKind.BOUNDARY, NoteKind.RESTORED, NoteKind.NOT_RESTORED, NoteKind.NOT_FORKED, NoteKind.LOST_TRACK}
)
#: Notes worth Claude's attention in a result (auto-allowed reads are routine).
_SHOWN = frozenset(NoteKind) - {NoteKind.AUTO_ALLOWED, NoteKind.ASKED, NoteKind.REFUSED_READ}


# -- results -----------------------------------------------------------------------------------------


def verdict(line: VerdictLine) -> str:
    if line.standing is Standing.MISSING:
        return "verdict: missing (no VERDICT line)"
    return f"verdict: {line.standing}" + (f" — {clip(line.summary, 160)}" if line.summary else "")


def clip(text: str, limit: int) -> str:
    """The start of ``text`` on one line, at most ``limit`` characters, marked with … when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def who(member: str) -> str:
    """A member's name as results say it (``Codex``, ``Gemini``, a configured name as it is)."""
    return DISPLAY.get(member, member)


def footer(outcome: TurnOutcome) -> str:
    parts: list[str] = []
    debate = outcome.round
    if debate is not None and debate.number > 0:
        parts.append(f"round {debate.number}/{MAX_ROUNDS}")
        parts.append(verdict(debate.verdict))
    parts.append(f"{outcome.elapsed:.1f}s")
    tokens = outcome.usage.tokens
    if tokens is not None:
        parts.append(f"{format_tokens(tokens)} tokens")
    if outcome.stop_reason != "end_turn":
        parts.append(f"stop: {outcome.stop_reason}")
    return f"— {outcome.member} · " + " · ".join(parts)


@dataclass(frozen=True)
class Saved:
    """An answer too long for Claude's tool-output budget, cut, with the whole of it in a file."""

    path: str
    shown: int
    total: int


def outcome(result: TurnOutcome, saved: Saved | None = None) -> str:
    name = who(result.member)
    text = result.text.strip() or f"({name} returned no text.)"
    if saved is not None:
        text += (
            f"\n\n[Answer cut at {saved.shown:,} of {saved.total:,} characters to fit your tool-output "
            f"budget. The whole answer is in {saved.path}: read it if you need the rest.]"
        )
    shown = [note(item, name) for item in result.notes if item.kind in _SHOWN - _SESSION]
    if shown:
        text += "\n\n[" + "; ".join(shown) + "]"
    for item in result.notes:  # how the session came to be: each on a line of its own
        if item.kind in _SESSION:
            text += f"\n\n[{note(item, name)}]"
    if result.stop_reason == "timeout":
        text += (
            f"\n\n[Timed out: {name} made no progress for the turn's idle limit. The answer above is what "
            "it had said so far. Ask again with a larger `timeout_s`, or narrow the question.]"
        )
    elif result.stop_reason == "cancelled":
        text += "\n\n[The turn was cancelled; the answer above is partial.]"
    elif result.stop_reason not in ("end_turn", ""):
        text += f"\n\n[{name} stopped early: {result.stop_reason}.]"
    advice = next_step(result.round, name)
    if advice:
        text += f"\n\n[{advice}]"
    return f"{text}\n\n{footer(result)}"


def next_step(debate: Round | None, name: str = "Codex") -> str | None:
    """What Claude should do with a debate answer, when it is not obvious."""
    if debate is None or debate.number == 0:
        return None
    if debate.limit_reached:
        return (
            f"Round {debate.number} of {MAX_ROUNDS} without consensus: stop debating. Decide yourself, "
            f"and tell the user where you and {name} still disagree."
        )
    if debate.verdict.standing is Standing.OPEN:
        return "Still open: `reply` with your concrete counter-argument, or decide."
    if debate.verdict.standing is Standing.MISSING:
        return f"{name} gave no VERDICT line: weigh the answer yourself, or `reply` asking for one."
    return None


def pause(paused: Pause) -> str:
    ref = paused.request.ref
    lines = [
        f"⏸ {who(paused.member)} is paused, waiting for your decision. Nothing has run yet. "
        f"Request id: {ref}.",
        *request_lines(paused),
    ]
    if paused.text_so_far.strip():
        lines.append(
            f"{who(paused.member)} so far: " + visible(tail(paused.text_so_far, 600), multiline=True)
        )
    lines.append(
        'Answer with `permit` {"decision": "allow"} to let it proceed once, '
        '{"decision": "deny", "note": "<why, or what to do instead>"} (the same turn resumes), or '
        f'{{"decision": "cancel"}} to stop the turn; add "request": "{ref}" so the answer cannot reach '
        "another request."
    )
    if paused.waiting_behind:
        lines.append(
            f"({paused.waiting_behind} more request(s) from {who(paused.member)} are queued behind this one.)"
        )
    return "\n".join(lines)


def request_lines(paused: Pause) -> list[str]:
    """The request whole, as a person or Claude must see it to judge it."""
    decision = paused.decision
    name = who(paused.member)
    lines = [f"{name} wants to: {paused.summary}", f"Kind: {paused.kind} (guardian rule: {paused.rule})"]
    if paused.decision.detail:
        lines.append(f"Why you are asked: {visible(paused.decision.detail)}")
    command = decision.command
    if command is not None:
        source = f"the script of `{command.via}`" if command.via else "exactly as it would run"
        lines.append(f"Command ({source}; ⟨…⟩ marks characters made visible):")
        lines.append(fenced(visible(command.text, multiline=True)))
        lines.extend(credential_warning(command.text))
    if decision.cwd is not None:
        lines.append(f"Working directory: {visible(decision.cwd)}")
    if len(decision.urls) > 1:
        lines.append(f"URLs ({len(decision.urls)}):")
        lines.extend(f"- {visible(url)}" for url in decision.urls)
    elif decision.url is not None:
        lines.append(f"URL: {visible(decision.url)}")
    if len(decision.resolved) > 1 or paused.summary.endswith("…"):
        lines.append(f"Paths ({len(decision.resolved)}):")
        lines.extend(f"- {visible(path)}" for path in decision.resolved)
    lines.extend(change_lines(decision))
    if paused.reason:
        lines.append(f"{name}'s reason: {visible(paused.reason)}")
    if only_lasting_allow(paused.request.options):
        lines.append(
            f"Note: {name} offered only a lasting approval; `allow` would let it do this again "
            "without asking."
        )
    return lines


def change_lines(decision: Decision) -> list[str]:
    """What an edit writes, whole: each file's diff in a code block, or what moves where."""
    lines: list[str] = []
    if decision.changes:
        count = len(decision.changes)
        lines.append(
            f"Changes ({count} file{'s' if count != 1 else ''}, exactly as Codex would write them; "
            "⟨…⟩ marks characters made visible):"
        )
    for change in decision.changes:
        path = visible(change.path)
        if change.action == "delete":
            lines.append(f"- delete {path}" + (f" ({change.lines} lines)" if change.lines else ""))
        elif change.action == "move":
            lines.append(f"- move {path} → {visible(change.dest or '')}" + (":" if change.diff else ""))
        else:
            lines.append(f"- {'new file' if change.action == 'add' else 'edit'} {path}:")
        if change.diff:
            lines.append(fenced(visible(change.diff, multiline=True), "diff"))
        elif change.action in ("add", "update"):
            lines.append("  (no content)")
    if decision.unshown:
        lines.append(
            "Codex sent no change for: "
            + ", ".join(visible(path) for path in decision.unshown)
            + " — you cannot see what it would write there (a move's old name, or a change too large "
            "for Codex to send); deny unless you know."
        )
    return lines


def credential_warning(text: str) -> list[str]:
    """A line naming the credentials in a command shown unredacted (it must be shown as it runs)."""
    found = redact.credentials_in(text)
    if not found:
        return []
    return [f"⚠ This command contains what looks like {', '.join(found)}, shown unredacted as it would run."]


def fenced(text: str, info: str = "") -> str:
    """A code block whose fence no backtick run inside ``text`` can close."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def result(value: TurnResult, saved: Saved | None = None) -> str:
    return pause(value) if isinstance(value, Pause) else outcome(value, saved)


def reset(report: ResetReport) -> str:
    if report.session_id is None:
        head = "Codex had no open session: nothing to drop."
    else:
        rounds = f"{report.rounds} debate round{'s' if report.rounds != 1 else ''}"
        head = f"Dropped Codex's session {report.session_id} ({rounds})."
    if report.stopped_turn is not None:
        head += f" Its running {report.stopped_turn} turn was stopped."
    return head + " The next call starts Codex fresh: brief it as you would a new colleague."


def nothing_to_review(description: str) -> str:
    return (
        f"Nothing to review: {description}. No turn was spent. Pass `base` (a branch or commit) to "
        "review committed work, `staged` for the index only, or the `diff` text itself."
    )


# -- status ------------------------------------------------------------------------------------------


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
        lines.append(f"agent: alive, {state.agent_name}, pid {state.agent_pid}")
    elif state.agent_exit is not None:
        lines.append(f"agent: not alive ({state.agent_exit})")
    elif state.state == "starting":
        lines.append("agent: starting (the session opens in a moment; a consult now waits for it)")
    else:
        lines.append("agent: not started (starts on the first consult)")
    origin = f" ({state.session_origin})" if state.session_id and state.session_origin else ""
    lines.append(f"session: {state.session_id or 'none'}{origin} · state: {state.state}")
    if state.mode_note:
        lines.append(f"mode: {state.mode_note}")
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
    lines.append(f"queue: {state.queue_length} waiting · turns completed: {state.turns_completed}")
    if state.debate_round:
        last = f" · last {verdict(state.last_verdict)}" if state.last_verdict is not None else ""
        lines.append(f"debate: round {state.debate_round}/{MAX_ROUNDS}{last}")
    if state.context_used is not None:
        lines.append(f"context: {state.context_used} of {state.context_size} tokens")
    lines.append(f"last error: {state.last_error or 'none'}")
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
            health = f"not alive ({state.agent_exit})"
        confined = checked.confined if checked is not None else spec.boundary_enforced
        boundary = "boundary: confined" if confined else "boundary: NOT confined (its first answer says why)"
        parts = [agent, f"session {state.session_id or 'none'}", boundary, health]
        if spec.model:
            parts.append(f"model {spec.model}")
        if state.last_error:
            parts.append(f"last error: {clip(state.last_error, 160)}")
        lines.append(f"- {spec.name}: " + " · ".join(parts))
    return "\n".join(lines)


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


_MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


def doctor(checks: list[Check]) -> str:
    """The doctor's report: one line per check, the fix indented under each that is not ✓."""
    lines = []
    for check in checks:
        lines.append(f"{_MARKS[check.status]} {check.what}: {check.detail}")
        if check.fix and check.status != "ok":
            lines.append(f"    fix: {check.fix}")
    failed = sum(check.status == "fail" for check in checks)
    lines.append(
        "All checks passed."
        if not failed
        else f"{failed} problem(s): fix them, then check again with `/codex-fusion:codex-setup` in Claude "
        "Code (in a terminal: the plugin's `bin/codex-fusion doctor`)."
    )
    return "\n".join(lines)


# -- progress ----------------------------------------------------------------------------------------


def progress_line(turn: Turn, update: SessionUpdate) -> str | None:
    """The progress message an update deserves, or None to keep the current one."""
    transcript = turn.transcript
    if isinstance(update, ContentChunk):
        # Only the tail is joined: joining the whole answer on every chunk is quadratic.
        if update.session_update == "agent_message_chunk":
            return tail("".join(transcript.text_parts[-64:]), PROGRESS_TAIL, one_line=True)
        if update.session_update == "agent_thought_chunk":
            return "💭 " + tail("".join(transcript.thought_parts[-64:]), PROGRESS_TAIL, one_line=True)
        return None
    if isinstance(update, ToolCallInfo):
        tool = transcript.tools.get(update.tool_call_id)
        return None if tool is None else tail("↳ " + activity(tool), PROGRESS_TAIL, one_line=True)
    if isinstance(update, PlanUpdate) and transcript.plan:
        return tail("plan: " + "; ".join(transcript.plan), PROGRESS_TAIL, one_line=True)
    return None


def heartbeat(started: float, doing: str, latest: str | None) -> str:
    elapsed = time.monotonic() - started
    return f"⏳ {elapsed:.0f}s · {doing}" + (f" · {latest}" if latest else "")


# -- the council -------------------------------------------------------------------------------------


def council(
    result: CouncilResult,
    saved: Mapping[str, Saved] | None = None,
    clean: Callable[[str], str] = lambda text: text,
) -> str:
    """A council round: Claude's take, each member's answer (or pause, or failure) under its name,
    the agreement line, and what to do next. ``saved``: answers cut to fit, by member. ``clean`` is
    applied to everything but a pause's request, which is shown byte for byte (what Claude approves
    is what runs)."""
    saved = saved or {}
    names = ", ".join(seat.name for seat in result.seats)
    if result.whole:
        blind = " · blind: no member saw your take or another's answer" if result.round == 1 else ""
        lines = [f"Council · {result.tool} · round {result.round}/{MAX_ROUNDS} · {names}{blind}"]
        if result.round == 1:
            lines += ["", "Your take (recorded before any member answered):", _quote(result.my_take)]
    else:
        lines = [f"Council · {result.tool} · round {result.round}/{MAX_ROUNDS} · {names}, after your permit"]
    head = clean("\n".join(lines))
    parts = [head]
    for seat in result.seats:
        answer = seat.answer
        body = pause(answer) if isinstance(answer, Pause) else clean(_seat(seat, saved.get(seat.name)))
        parts.append(f"━━ {seat.name} ━━\n{body}")
    parts.append(clean(agreement.line(result.standings) + f"\n[{council_next(result)}]"))
    return "\n\n".join(parts)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.strip().splitlines())


def _seat(seat: Seat, saved: Saved | None) -> str:
    answer = seat.answer
    if answer is None:
        return "(not asked this round)"
    if isinstance(answer, TurnOutcome):
        return outcome(answer, saved)
    return f"✗ {who(seat.name)} could not answer: {answer}"


def council_next(result: CouncilResult) -> str:
    """What Claude should do with a council round."""
    standings = result.standings
    paused = [seat for seat in result.seats if isinstance(seat.answer, Pause)]
    if paused:
        refs = ", ".join(
            f"{seat.answer.request.ref} ({seat.name})" for seat in paused if isinstance(seat.answer, Pause)
        )
        return (
            f'Answer the paused request(s) first: `permit` with "request": {refs}. The others\' answers '
            "stand; the agreement line is complete once every member has answered."
        )
    if result.limit_reached:
        return (
            f"Round {result.round} of {MAX_ROUNDS} without full agreement: stop debating. Decide "
            "yourself and tell the user where the members still disagree, and why you sided as you did."
        )
    if standings.unanimous and result.round > 1:
        return "Every member agrees: act on it, unless your own evidence says otherwise."
    return (
        "Weigh each answer against your take on its evidence, not by counting votes; a lone dissent "
        'with a file:line can outweigh the rest. `reply` {"message": …} continues with every member '
        '(each then sees your take and the others\' answers, named); add "members": ["<name>"] '
        f"for one. Decide by round {MAX_ROUNDS}."
    )
