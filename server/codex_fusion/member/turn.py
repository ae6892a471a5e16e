"""One Codex turn: its state machine, what Codex streamed, and the permission requests it holds.

Everything that changes a turn's state lives in this file, as in h11's ``_state.py``: the rules
first, then the transition table, then :class:`Turn`, whose methods are the only writers of its
fields. The runner drives a turn (it sends prompts and reports answers); the ACP client feeds it
updates and permission requests; ``permit`` answers what it holds. Nobody else assigns to it.

The rules
---------

- A turn starts ``running``: a ``session/prompt`` is in flight.
- A permission request the guardian cannot allow is *held*: ``running → paused``. More requests
  may be held behind the first (``paused → paused``). When the last held request is answered or
  withdrawn, the turn runs again (``paused → running``) and its idle clock restarts.
- When Claude denies a request with an option that ends Codex's prompt, the turn keeps a
  continuation; if Codex's prompt then ends ``cancelled``, the continuation is sent as a new prompt
  and the same turn goes on (``running → running``, event ``resend``).
- Cancel and the idle timeout stop a live turn (``cancelling`` / ``timing out``); every held
  request is answered ``cancelled`` at once. Codex's answer ends it ``cancelled`` / ``timed out``;
  if Codex does not answer within the grace, the agent is killed (``hard_stop``).
- Codex's answer ends a running turn ``done``. Requests still held then are answered ``cancelled``
  first (an agent may end its prompt without withdrawing them).
- An error (the agent died, the prompt failed) ends any unfinished turn ``failed``.
- Anything else is a bug and raises :class:`IllegalTransition`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from codex_fusion.acp.schema import PERMISSION_CANCELLED, PromptResult, SessionUpdate
from codex_fusion.errors import ConsultError
from codex_fusion.guardian.decision import Decision, Rule
from codex_fusion.launch.models import Answered, Selected, answered, reported_model
from codex_fusion.launch.names import DISPLAY
from codex_fusion.member.notes import Audit, Note, NoteKind
from codex_fusion.member.signal import Changes
from codex_fusion.member.transcript import ToolActivity, Transcript, Usage
from codex_fusion.member.verdict import Round, judge

if TYPE_CHECKING:
    from codex_fusion.guardian.permissions import Choice, PendingPermission


class TurnState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    TIMING_OUT = "timing out"
    DONE = "done"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed out"
    FAILED = "failed"


class Event(StrEnum):
    HOLD = "hold"  # a permission request is held for Claude
    RELEASE = "release"  # the last held request was answered or withdrawn
    RESEND = "resend"  # a deny ended Codex's prompt: the continuation prompt goes out
    CANCEL = "cancel"  # Claude (or a reset) cancelled the turn
    TIME_OUT = "time_out"  # no progress from Codex within the idle bound
    END = "end"  # Codex answered the prompt
    HARD_STOP = "hard_stop"  # Codex did not stop within the grace; its process group was killed
    FAIL = "fail"  # the agent died or failed the prompt


S, E = TurnState, Event

TRANSITIONS: Final[Mapping[tuple[TurnState, Event], TurnState]] = MappingProxyType(
    {
        (S.RUNNING, E.HOLD): S.PAUSED,
        (S.PAUSED, E.HOLD): S.PAUSED,
        (S.PAUSED, E.RELEASE): S.RUNNING,
        (S.RUNNING, E.RESEND): S.RUNNING,
        (S.RUNNING, E.CANCEL): S.CANCELLING,
        (S.PAUSED, E.CANCEL): S.CANCELLING,
        (S.RUNNING, E.TIME_OUT): S.TIMING_OUT,
        (S.RUNNING, E.END): S.DONE,
        (S.CANCELLING, E.END): S.CANCELLED,
        (S.TIMING_OUT, E.END): S.TIMED_OUT,
        (S.CANCELLING, E.HARD_STOP): S.CANCELLED,
        (S.TIMING_OUT, E.HARD_STOP): S.TIMED_OUT,
        (S.RUNNING, E.FAIL): S.FAILED,
        (S.PAUSED, E.FAIL): S.FAILED,
        (S.CANCELLING, E.FAIL): S.FAILED,
        (S.TIMING_OUT, E.FAIL): S.FAILED,
    }
)

LIVE: Final = frozenset({S.RUNNING, S.PAUSED})
FINISHED: Final = frozenset({S.DONE, S.CANCELLED, S.TIMED_OUT, S.FAILED})

#: The stop reason a stopped turn reports (a finished one reports Codex's own).
_STOP_REASONS: Final = {S.CANCELLED: "cancelled", S.TIMED_OUT: "timeout"}


class IllegalTransition(RuntimeError):
    """A transition the table does not allow: a bug in codex-fusion, never the agent's fault."""

    def __init__(self, state: TurnState, event: Event) -> None:
        super().__init__(f"a {state} turn cannot take the event {event!r}")
        self.state = state
        self.event = event


def next_state(state: TurnState, event: Event) -> TurnState:
    """The state ``event`` leads to from ``state``, per :data:`TRANSITIONS`; anything else raises."""
    target = TRANSITIONS.get((state, event))
    if target is None:
        raise IllegalTransition(state, event)
    return target


Verdict = Literal["allow", "deny"]


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnOutcome:
    """What a finished turn produced, for the caller to present."""

    text: str
    stop_reason: str
    elapsed: float
    usage: Usage
    activity: list[ToolActivity]
    session_id: str
    notes: tuple[Note, ...] = ()
    round: Round | None = None  # where the debate stands after this answer (None: not a debate turn)
    member: str = "codex"  # the council member that answered
    model: Answered | None = None  # the model and effort that answered, as the agent reported them


@dataclass(frozen=True)
class Pause:
    """A turn paused on a permission request that only Claude may answer."""

    request: PendingPermission
    text_so_far: str
    elapsed: float
    waiting_behind: int  # further requests held behind this one
    member: str = "codex"  # the council member that asks

    @property
    def decision(self) -> Decision:
        return self.request.decision

    @property
    def kind(self) -> str:
        return self.request.decision.kind

    @property
    def summary(self) -> str:
        return self.request.decision.summary

    @property
    def rule(self) -> Rule:
        return self.request.decision.rule

    @property
    def reason(self) -> str | None:
        return self.request.reason

    @property
    def command(self) -> str | None:
        return self.request.command


TurnResult = TurnOutcome | Pause


# -- the turn ---------------------------------------------------------------------------------------


class Turn:
    """The live state of one turn (a ``session/prompt``, plus any continuation after a deny)."""

    def __init__(
        self,
        session_id: str,
        *,
        tool: str = "consult",
        member: str = "codex",
        timeout: float = 300.0,
        audit: Audit | None = None,
        round_number: int | None = None,
        selected: Selected | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.session_id = session_id
        #: The debate round a finished answer closes (the member knows it when it composes the
        #: prompt; 0: outside any debate); None: the answer is not judged.
        self._round_number = round_number
        self.tool = tool
        self.member = member
        self.timeout = timeout  # idle bound in seconds; ``permit`` may change it for the rest of the turn
        self.audit = audit if audit is not None else Audit()
        self._changes = changes
        self.transcript = Transcript(changes=changes)
        self.notes: list[Note] = []
        self.started = time.monotonic()
        #: When Codex last made progress; the idle timeout counts from here (see ADR 0004).
        self.last_progress = self.started
        self.outcome: TurnOutcome | None = None
        self.error: Exception | None = None
        self.finished = anyio.Event()
        self.asked = 0  # requests held for Claude in this turn
        self._state = TurnState.RUNNING
        self._held: list[PendingPermission] = []
        self._continuation: str | None = None
        self._changed = anyio.Event()
        #: The model and effort the agent reported selected for this turn (before it was sent).
        self.selected = selected if selected is not None else Selected()
        self._reported: str | None = None  # the model the agent says answered the last prompt

    # -- reading ---------------------------------------------------------------------------------

    @property
    def state(self) -> TurnState:
        return self._state

    @property
    def live(self) -> bool:
        """Running or paused: Codex may still send requests, and a stop is possible."""
        return self._state in LIVE

    @property
    def done(self) -> bool:
        return self._state in FINISHED

    @property
    def held(self) -> tuple[PendingPermission, ...]:
        return tuple(self._held)

    @property
    def text(self) -> str:
        return self.transcript.text

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def pause(self) -> Pause | None:
        """The pause Claude should see now, or None when nothing is held."""
        if not self._held:
            return None
        return Pause(self._held[0], self.text, self.elapsed, len(self._held) - 1, self.member)

    async def wait_changed(self) -> None:
        """Wait until the turn's state changes (a pause appears, it ends, …)."""
        await self._changed.wait()

    # -- the stream ------------------------------------------------------------------------------

    def apply(self, update: SessionUpdate) -> None:
        """An update from the agent (the transcript tells the member's :class:`Changes`)."""
        if self.transcript.apply(update):
            self.last_progress = time.monotonic()

    def set_idle_limit(self, seconds: float) -> None:
        """A new idle bound for the rest of the turn (``permit`` with ``timeout_s``)."""
        self.timeout = seconds

    def tool_fields(self, tool_call_id: object) -> dict[str, Any]:
        """What the stream said about a tool call so far (a request may follow its ``tool_call``)."""
        activity = self.transcript.tools.get(str(tool_call_id))
        return dict(activity.fields) if activity is not None else {}

    # -- permission requests ---------------------------------------------------------------------

    def session_notice(self, note: Note) -> None:
        """How this turn's Codex session was opened (restored, or not), for Claude to read."""
        self.notes.append(note)

    def auto_allowed(self, decision: Decision) -> None:
        self._note(Note(NoteKind.AUTO_ALLOWED, decision.summary, decision.rule, decision=decision))

    def refused(self, decision: Decision) -> None:
        """The guardian refused a request without asking Claude (it could not be shown whole)."""
        self._note(Note(NoteKind.REFUSED, decision.summary, decision.rule, decision=decision))

    def hold(self, request: PendingPermission) -> None:
        """Hold a request for Claude: the turn pauses on the first one held."""
        self._go(Event.HOLD)
        self._held.append(request)
        self.asked += 1
        self.audit.count(Note(NoteKind.ASKED, request.decision.summary))
        if len(self._held) == 1:
            request.shown()

    def answer(self, request: PendingPermission, verdict: Verdict, choice: Choice) -> None:
        """Claude's answer to a held request; the next held one (if any) is shown, else the turn runs."""
        request.answer(choice.outcome, verdict)
        kind = NoteKind.ALLOWED if verdict == "allow" else NoteKind.DENIED
        self._note(Note(kind, request.decision.summary, detail=choice.note, decision=request.decision))
        self._release(request)

    def continue_after(self, prompt: str) -> None:
        """Send ``prompt`` if Codex's prompt ends ``cancelled`` (a deny that ends Codex's turn)."""
        self._continuation = prompt

    def withdraw(self, request: PendingPermission) -> None:
        """Codex withdrew a held request (``$/cancel_request``) before anyone answered it."""
        if request in self._held:
            self._note(Note(NoteKind.WITHDRAWN, request.decision.summary, decision=request.decision))
            self._release(request)

    def _release(self, request: PendingPermission) -> None:
        self._held.remove(request)
        if self._held:
            self._held[0].shown()
            self._wake()  # a new request to show
        else:
            self.last_progress = time.monotonic()  # time spent waiting for Claude does not count
            self._go(Event.RELEASE)

    def _drop_held(self) -> None:
        """Answer every held request ``cancelled`` (the turn is stopping or over)."""
        for request in self._held:
            request.answer(PERMISSION_CANCELLED, "cancelled")
            self._note(Note(NoteKind.DROPPED, request.decision.summary, decision=request.decision))
        self._held.clear()

    # -- the end ---------------------------------------------------------------------------------

    def stop(self, event: Literal[Event.CANCEL, Event.TIME_OUT], why: Note | None = None) -> None:
        """Cancel or time out a live turn; held requests are answered ``cancelled`` at once.

        The runner then tells Codex and, if Codex does not stop within the grace, kills it."""
        self._go(event)
        if why is not None:
            self.notes.append(why)
        self._drop_held()

    async def stop_and_wait(
        self, event: Literal[Event.CANCEL, Event.TIME_OUT], why: Note | None = None
    ) -> None:
        """:meth:`stop` a live turn and wait for its end (its stopper, ``drive.see_stops``, tells the
        agent and kills it past the grace). A caller cancelled meanwhile leaves that to the stopper."""
        if self.live:
            self.stop(event, why)
        await self.finished.wait()

    def prompt_ended(self, result: PromptResult) -> str | None:
        """Codex answered a prompt. Returns the continuation to send, or None: the turn is over."""
        self.transcript.usage.merge_prompt_usage(result.usage)
        self._reported = reported_model((result.model_extra or {}).get("_meta")) or self._reported
        if self._held:
            self._drop_held()
            self._go(Event.RELEASE)
        continuation, self._continuation = self._continuation, None
        if continuation and result.stop_reason == "cancelled" and self._state is TurnState.RUNNING:
            self._go(Event.RESEND)
            self.transcript.text_parts.append("\n\n")
            return continuation
        failure = self.transcript.system_error
        if failure is not None and self._state is TurnState.RUNNING and result.stop_reason == "end_turn":
            name = DISPLAY.get(self.member, self.member)
            self.fail(
                ConsultError(
                    f"{name}'s model service failed this turn: {failure.rstrip('.')}. The session is kept; "
                    "try again later, or call `status` for the agent's stderr."
                )
            )
            return None
        self._go(Event.END)
        if self._state is TurnState.TIMED_OUT and self.transcript.notice:
            self.notes.append(Note(NoteKind.LAST_STATUS, self.transcript.notice))
        self._finish(_STOP_REASONS.get(self._state, result.stop_reason))
        return None

    def hard_stop(self) -> None:
        """Codex did not stop in time and its agent was killed: end with what it said so far."""
        self._go(Event.HARD_STOP)
        if self._state is TurnState.TIMED_OUT and self.transcript.notice:
            self.notes.append(Note(NoteKind.LAST_STATUS, self.transcript.notice))
        self.notes.append(Note(NoteKind.RESTARTED))
        self._finish(_STOP_REASONS[self._state])

    def fail(self, error: Exception) -> None:
        self._drop_held()
        self._go(Event.FAIL)
        self.error = error
        self.finished.set()
        self._wake()

    def _finish(self, stop_reason: str) -> None:
        number = self._round_number if self._state is TurnState.DONE else None
        self.outcome = TurnOutcome(
            text=self.text,
            stop_reason=stop_reason,
            elapsed=self.elapsed,
            usage=self.transcript.usage,
            activity=list(self.transcript.tools.values()),
            session_id=self.session_id,
            notes=tuple(self.notes),
            round=judge(number, self.text) if number is not None else None,
            member=self.member,
            model=answered(self.selected, self._reported),
        )
        self.finished.set()
        self._wake()

    # -- internals -------------------------------------------------------------------------------

    def _go(self, event: Event) -> None:
        self._state = next_state(self._state, event)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
        if self._changes is not None:
            self._changes.notify()

    def _note(self, note: Note) -> None:
        self.notes.append(note)
        self.audit.count(note)


class TurnSlot:
    """The turn a member has in flight, and the last one that ended with nobody waiting on it.

    Written only by the member that owns it; read by its permission client (which turn a request
    belongs to) and by ``status``."""

    def __init__(self) -> None:
        self.current: Turn | None = None
        #: A turn that ended while nobody waited on it (its pause was withdrawn): ``permit`` returns it.
        self.unclaimed: Turn | None = None
