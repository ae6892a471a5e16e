"""Every text Claude or a person at a terminal reads: results, pauses, notes, status, progress lines.

Pure functions of the values they render; no other module formats text for a reader.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .acp.schema import ContentChunk, PlanUpdate, SessionUpdate, ToolCallInfo
from .debate import MAX_ROUNDS, Round, Standing, VerdictLine
from .models import Answered
from .notes import Note, NoteKind
from .permissions import only_lasting_allow
from .transcript import ToolActivity
from .turn import Pause, Turn, TurnOutcome, TurnResult

if TYPE_CHECKING:
    from .doctor import Check
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


def note(item: Note) -> str:
    kind = item.kind
    if kind is NoteKind.AUTO_ALLOWED:
        return f"auto-allowed: {item.subject}"
    if kind is NoteKind.ALLOWED:
        return f"allowed by Claude: {item.subject}" + (f" ({item.detail})" if item.detail else "")
    if kind is NoteKind.DENIED:
        return f"denied by Claude: {item.subject}"
    if kind is NoteKind.WITHDRAWN:
        return f"Codex withdrew its request to {item.subject}"
    if kind is NoteKind.DROPPED:
        return f"Codex's request to {item.subject} was answered `cancelled` because the turn ended"
    if kind is NoteKind.LAST_STATUS:
        return f"Codex's last status: {item.subject}"
    if kind is NoteKind.RESTARTED:
        return "Codex did not stop in time and was restarted; its session context is lost"
    if kind is NoteKind.REFUSED:
        return f"refused without asking you, too large to show whole: {item.subject}"
    if kind is NoteKind.CAPPED:
        return (
            f"Codex asked for permission more than {item.detail} times in this turn, so codex-fusion "
            "stopped it. Ask a narrower question, or deny with a note saying what to do instead"
        )
    if kind is NoteKind.STOPPED:
        return "you stopped this turn with `permit` cancel"
    if kind is NoteKind.RESET:
        return "Codex's session was reset while this turn ran, so it was stopped"
    if kind is NoteKind.RESTORED:
        return f"Codex's earlier session {item.subject} was restored, with its context"
    if kind is NoteKind.NOT_RESTORED:
        return (
            f"Codex's previous context (session {item.subject}) could not be restored: this answer "
            "comes from a fresh session; re-brief Codex"
        )
    if kind is NoteKind.BOUNDARY:
        return item.subject
    if kind is NoteKind.NOT_FORKED:
        return (
            "Codex cannot fork its session, so the forked conversation got a fresh Codex session: re-brief it"
        )
    return f"{kind}: {item.subject}"


#: Notes about the session rather than the turn's requests.
_SESSION = frozenset({NoteKind.BOUNDARY, NoteKind.RESTORED, NoteKind.NOT_RESTORED, NoteKind.NOT_FORKED})
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


def model(ran: Answered) -> str:
    """``gpt-5.5 high``, or ``gpt-5.6-luna (set: gpt-5.5) high`` when the agent answered with another
    model than the one it reported selected."""
    name = ran.model or "model ?"
    if ran.setting is not None:
        name += f" (set: {ran.setting})"
    return f"{name} {ran.effort}" if ran.effort else name


def footer(outcome: TurnOutcome) -> str:
    parts: list[str] = []
    if outcome.model is not None:
        parts.append(model(outcome.model))
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
    return "— codex · " + " · ".join(parts)


@dataclass(frozen=True)
class Saved:
    """An answer too long for Claude's tool-output budget, cut, with the whole of it in a file."""

    path: str
    shown: int
    total: int


def outcome(result: TurnOutcome, saved: Saved | None = None) -> str:
    text = result.text.strip() or "(Codex returned no text.)"
    if saved is not None:
        text += (
            f"\n\n[Answer cut at {saved.shown:,} of {saved.total:,} characters to fit your tool-output "
            f"budget. The whole answer is in {saved.path}: read it if you need the rest.]"
        )
    shown = [note(item) for item in result.notes if item.kind in _SHOWN - _SESSION]
    if shown:
        text += "\n\n[" + "; ".join(shown) + "]"
    for item in result.notes:  # how the session came to be: each on a line of its own
        if item.kind in _SESSION:
            text += f"\n\n[{note(item)}]"
    if result.stop_reason == "timeout":
        text += (
            "\n\n[Timed out: Codex made no progress for the turn's idle limit. The answer above is what "
            "it had said so far. Ask again with a larger `timeout_s`, or narrow the question.]"
        )
    elif result.stop_reason == "cancelled":
        text += "\n\n[The turn was cancelled; the answer above is partial.]"
    elif result.stop_reason not in ("end_turn", ""):
        text += f"\n\n[Codex stopped early: {result.stop_reason}.]"
    advice = next_step(result.round)
    if advice:
        text += f"\n\n[{advice}]"
    return f"{text}\n\n{footer(result)}"


def next_step(debate: Round | None) -> str | None:
    """What Claude should do with a debate answer, when it is not obvious."""
    if debate is None or debate.number == 0:
        return None
    if debate.limit_reached:
        return (
            f"Round {debate.number} of {MAX_ROUNDS} without consensus: stop debating. Decide yourself, "
            "and tell the user where you and Codex still disagree."
        )
    if debate.verdict.standing is Standing.OPEN:
        return "Still open: `reply` with your concrete counter-argument, or decide."
    if debate.verdict.standing is Standing.MISSING:
        return "Codex gave no VERDICT line: weigh the answer yourself, or `reply` asking for one."
    return None


def pause(paused: Pause) -> str:
    ref = paused.request.ref
    lines = [
        f"⏸ Codex is paused, waiting for your decision. Nothing has run yet. Request id: {ref}.",
        *request_lines(paused),
    ]
    if paused.text_so_far.strip():
        lines.append("Codex so far: " + visible(tail(paused.text_so_far, 600)))
    lines.append(
        'Answer with `permit` {"decision": "allow"} to let it proceed once, '
        '{"decision": "deny", "note": "<why, or what to do instead>"} (the same turn resumes), or '
        f'{{"decision": "cancel"}} to stop the turn; add "request": "{ref}" so the answer cannot reach '
        "another request."
    )
    if paused.waiting_behind:
        lines.append(f"({paused.waiting_behind} more request(s) from Codex are queued behind this one.)")
    return "\n".join(lines)


def request_lines(paused: Pause) -> list[str]:
    """The request whole, as a person or Claude must see it to judge it."""
    decision = paused.decision
    lines = [f"Codex wants to: {paused.summary}", f"Kind: {paused.kind} (guardian rule: {paused.rule})"]
    command = decision.command
    if command is not None:
        source = f"the script of `{command.via}`" if command.via else "exactly as it would run"
        lines.append(f"Command ({source}; ⟨…⟩ marks characters made visible):")
        lines.append(fenced(visible(command.text)))
    if decision.cwd is not None:
        lines.append(f"Working directory: {visible(decision.cwd)}")
    if decision.url is not None:
        lines.append(f"URL: {visible(decision.url)}")
    if len(decision.resolved) > 1 or paused.summary.endswith("…"):
        lines.append(f"Paths ({len(decision.resolved)}):")
        lines.extend(f"- {visible(path)}" for path in decision.resolved)
    if paused.reason:
        lines.append(f"Codex's reason: {visible(paused.reason)}")
    if only_lasting_allow(paused.request.options):
        lines.append(
            "Note: Codex offered only a lasting approval; `allow` would let it do this again without asking."
        )
    return lines


_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_BLANK_RUN = re.compile("[ \t]{8,}")


def visible(text: str) -> str:
    """``text`` with nothing hidden: control, invisible and bidi characters as ⟨U+XXXX⟩ (a carriage
    return as ⟨CR⟩), and runs of eight or more blanks as ⟨N blanks⟩, so padding cannot push part of
    a command out of sight."""
    text = _BLANK_RUN.sub(lambda m: f"⟨{len(m.group())} blanks⟩", text)
    return _INVISIBLE.sub(lambda m: "⟨CR⟩" if m.group() == "\r" else f"⟨U+{ord(m.group()):04X}⟩", text)


def fenced(text: str) -> str:
    """A code block whose fence no backtick run inside ``text`` can close."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


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


def status(state: Status) -> str:
    config = state.config
    lines = [f"codex-fusion {state.version}"]
    workspace = config.workspace
    lines.append(f"workspace: {workspace.path}" if workspace.path else f"workspace: ERROR {workspace.error}")
    lines.append(f"agent command: {config.agent_command} (from {config.agent_source})")
    lines.append(f"agent mode: {config.agent_mode}")
    if config.boundary_enforced:
        lines.append(
            "boundary: enforced — Codex's sandbox reads the workspace and the system's minimal set, "
            "writes nothing, no network (codex-fusion's permission profile)"
        )
    if config.boundary_note:
        lines.append(f"boundary: {config.boundary_note}")
    if state.agent_alive:
        lines.append(f"agent: alive, {state.agent_name}, pid {state.agent_pid}")
    elif state.agent_exit is not None:
        lines.append(f"agent: not alive ({state.agent_exit})")
    else:
        lines.append("agent: not started (starts on the first consult)")
    origin = f" ({state.session_origin})" if state.session_id and state.session_origin else ""
    lines.append(f"session: {state.session_id or 'none'}{origin} · state: {state.state}")
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
    lines.append(f"last error: {state.last_error or 'none'}")
    if state.stderr_tail is not None:
        lines.append("agent stderr (tail):\n" + (state.stderr_tail or "(empty)"))
    return "\n".join(lines)


def model_status(state: Status) -> str:
    """``model: gpt-5.5 · effort high (Codex's report) · configured: gpt-5.5 (set by …)``."""
    config = state.config
    wanted = config.model
    asked = "the agent's default"
    if not wanted.empty:
        asked = " · ".join(filter(None, (wanted.model, wanted.effort and f"effort {wanted.effort}")))
        asked += f" ({wanted.origin})"
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


def following(window: int | None, followed: str | None, reset_on: frozenset[str]) -> str:
    """The status line about Claude's conversation as the hooks report it."""
    which = f"window pid {window}" if window is not None else "the workspace record (no window found)"
    session = followed or "not seen yet"
    resets = ", ".join(sorted(reset_on)) or "nothing"
    return f"claude: {which} · conversation {session} · resets on: {resets}"


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
        else f"{failed} problem(s): fix them, then run `codex-fusion doctor` again."
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
