"""What Claude reads of one member's turn: results, pauses, notes, footers, resets.

Pure functions of the values they render.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codex_fusion.guardian.decision import Rule
from codex_fusion.guardian.permissions import only_lasting_allow
from codex_fusion.hookside.visible import visible
from codex_fusion.launch.models import Answered
from codex_fusion.launch.names import DISPLAY
from codex_fusion.member.notes import Note, NoteKind
from codex_fusion.member.transcript import ToolActivity, Transcript
from codex_fusion.member.turn import Pause, Turn, TurnOutcome, TurnResult
from codex_fusion.member.verdict import MAX_ROUNDS, Round, Standing, VerdictLine
from codex_fusion.text import redact
from codex_fusion.text.redact import redact_credentials, unfinished_credential

if TYPE_CHECKING:
    from codex_fusion.guardian.decision import Decision
    from codex_fusion.member.reports import ResetReport


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
    ran = unasked(result.notes, name)
    if ran:
        text += f"\n\n[{ran}]"
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


#: How many commands that ran unasked a result names (the rest are counted).
UNASKED_SHOWN = 5


def unasked(notes: Sequence[Note], name: str = "Codex") -> str | None:
    """The commands that ran without asking because the user turned ``allow_commands`` on: routine
    reads stay unsaid, but a command that ran as the user is something Claude must be able to see."""
    ran = [
        item.subject
        for item in notes
        if item.kind is NoteKind.AUTO_ALLOWED and item.rule is Rule.EXECUTE_FLAG
    ]
    if not ran:
        return None
    listed = "; ".join(ran[:UNASKED_SHOWN])
    if len(ran) > UNASKED_SHOWN:
        listed += f"; and {len(ran) - UNASKED_SHOWN} more"
    return f"{name} ran without asking (allow_commands is on): {listed}"


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


# -- progress lines ------------------------------------------------------------------------------

#: The longest progress line.
PROGRESS_TAIL = 140


def streamed_line(text: str, *, thought: bool, final: bool) -> str:
    """The progress line for Codex's text (or thoughts) so far: redacted as what Claude reads, the
    whole text before its tail is cut (a credential cut by the tail would match no rule), and while
    it streams without its last word when that is the start of a credential not yet complete."""
    if not final and text and not text[-1].isspace():
        last = text.split()[-1]
        if unfinished_credential(last):
            text = text[: len(text) - len(last)]
    line = tail(redact_credentials(text), PROGRESS_TAIL, one_line=True)
    return "💭 " + line if thought else line


def stream_of(transcript: Transcript, thought: bool) -> Callable[[bool], str]:
    """The progress line of a turn's text (or thoughts) so far, made when it is sent."""

    def make(final: bool) -> str:
        parts = transcript.thought_parts if thought else transcript.text_parts
        return streamed_line("".join(parts), thought=thought, final=final)

    return make


def turn_line(turn: Turn, final: bool = False) -> str | None:
    """A turn's progress line from what it streamed last: its text or thoughts so far, the tool it
    runs, or its plan; None before anything worth showing arrived."""
    transcript = turn.transcript
    latest = transcript.latest
    if latest == "text" or latest == "thought":
        return stream_of(transcript, latest == "thought")(final)
    if latest is not None and latest.startswith("tool:"):
        tool = transcript.tools.get(latest[5:])
        return None if tool is None else tail("↳ " + activity(tool), PROGRESS_TAIL, one_line=True)
    if latest == "plan" and transcript.plan:
        return tail("plan: " + "; ".join(transcript.plan), PROGRESS_TAIL, one_line=True)
    return None
