"""The turn state machine: every listed transition is reachable through Turn's own methods, and every
other (state, event) pair raises."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from codex_fusion.acp.schema import PromptResult, permission_selected
from codex_fusion.errors import ConsultError
from codex_fusion.guardian.permissions import Choice, PendingPermission
from codex_fusion.guardian.policy import Decision, Rule
from codex_fusion.member.notes import NoteKind
from codex_fusion.member.turn import TRANSITIONS, Event, IllegalTransition, Turn, TurnState, next_state

S = TurnState


def request(summary: str = "run `x`") -> PendingPermission:
    return PendingPermission(
        1, {"toolCallId": "c1"}, [], Decision("ask", Rule.EXECUTE, "execute", summary, ())
    )


ALLOW = Choice(permission_selected("approved"), "approved")

# How to bring a fresh turn into each non-final state through its public methods.
SETUP: dict[TurnState, Callable[[Turn], None]] = {
    S.RUNNING: lambda turn: None,
    S.PAUSED: lambda turn: turn.hold(request()),
    S.CANCELLING: lambda turn: turn.stop(Event.CANCEL),
    S.TIMING_OUT: lambda turn: turn.stop(Event.TIME_OUT),
}


def _answer_first(turn: Turn) -> None:
    held = turn.held[0]
    turn.answer(held, "allow", ALLOW)


def _resend(turn: Turn) -> None:
    turn.continue_after("continue please")
    assert turn.prompt_ended(PromptResult(stop_reason="cancelled")) == "continue please"


# How to apply each event through the public methods.
APPLY: dict[Event, Callable[[Turn], None]] = {
    Event.HOLD: lambda turn: turn.hold(request("another")),
    Event.RELEASE: _answer_first,
    Event.RESEND: _resend,
    Event.CANCEL: lambda turn: turn.stop(Event.CANCEL),
    Event.TIME_OUT: lambda turn: turn.stop(Event.TIME_OUT),
    Event.END: lambda turn: turn.prompt_ended(PromptResult(stop_reason="end_turn")),
    Event.HARD_STOP: lambda turn: turn.hard_stop(),
    Event.FAIL: lambda turn: turn.fail(ConsultError("boom")),
}


@pytest.mark.parametrize(("source", "event"), sorted(TRANSITIONS), ids=lambda v: str(v))
def test_every_listed_transition_is_reachable(source: TurnState, event: Event) -> None:
    turn = Turn("s")
    SETUP[source](turn)
    assert turn.state is source
    APPLY[event](turn)
    assert turn.state is TRANSITIONS[source, event]


@pytest.mark.parametrize(
    ("state", "event"),
    [pair for pair in itertools.product(TurnState, Event) if pair not in TRANSITIONS],
    ids=lambda v: str(v),
)
def test_every_other_transition_raises(state: TurnState, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        next_state(state, event)


def test_final_states_are_final_and_every_live_state_can_end() -> None:
    finals = {S.DONE, S.CANCELLED, S.TIMED_OUT, S.FAILED}
    assert not any(source in finals for source, _ in TRANSITIONS)
    for state in SETUP:  # from every unfinished state some path leads to a final state
        seen, frontier = {state}, [state]
        while frontier:
            here = frontier.pop()
            for (source, _), target in TRANSITIONS.items():
                if source is here and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & finals, state


@pytest.mark.parametrize(
    ("setup", "call"),
    [
        ("done", lambda turn: turn.prompt_ended(PromptResult())),
        ("done", lambda turn: turn.hold(request())),
        ("done", lambda turn: turn.stop(Event.CANCEL)),
        ("running", lambda turn: turn.hard_stop()),
        ("paused", lambda turn: turn.stop(Event.TIME_OUT)),
    ],
)
def test_methods_in_the_wrong_state_raise(setup: str, call: Callable[[Turn], None]) -> None:
    turn = Turn("s")
    if setup == "done":
        turn.prompt_ended(PromptResult())
    elif setup == "paused":
        turn.hold(request())
    with pytest.raises(IllegalTransition):
        call(turn)


def test_requests_still_held_when_codex_ends_its_prompt_are_answered_cancelled() -> None:
    turn = Turn("s")
    first, second = request("run `a`"), request("run `b`")
    turn.hold(first)
    turn.hold(second)
    turn.prompt_ended(PromptResult(stop_reason="end_turn"))
    assert turn.state is S.DONE
    assert first.verdict == second.verdict == "cancelled"
    assert [note.kind for note in turn.notes] == [NoteKind.DROPPED, NoteKind.DROPPED]


def test_the_idle_clock_restarts_when_the_last_request_is_answered() -> None:
    turn = Turn("s")
    turn.hold(request())
    before = turn.last_progress
    time.sleep(0.01)  # Claude deliberates; that time must not count as Codex idling
    _answer_first(turn)
    assert turn.state is S.RUNNING
    assert turn.last_progress - before >= 0.01
