"""A delegated task's states, as a transition table (pure).

::

    running ──finished──▶ review ──accept──▶ accepted
       │  ▲                 │ │
       │  └────rework───────┘ ├──rework (after 3)──▶ blocked ──accept──▶ accepted
       │                      └──discard──▶ discarded        └─discard─▶ discarded
       └─restarted─▶ interrupted ──rework──▶ running
                          └──discard──▶ discarded

    blocked, interrupted, review (after a failed turn) ──retry──▶ running  (a fresh rework budget)

``running`` covers a turn paused for Claude's ``permit`` too (the pause is shown, the state is the
same). A failed turn still *finishes*: the worktree holds what Codex did, the patch is computed and
a failed check says the turn failed. Every move goes through :func:`next_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from codex_fusion.errors import TaskError

#: Reworks Claude may ask for; the next one blocks the task.
MAX_REWORKS: Final = 3


class TaskState(StrEnum):
    RUNNING = "running"
    REVIEW = "review"
    INTERRUPTED = "interrupted"  # the server stopped while it ran
    BLOCKED = "blocked"  # the reworks are used up
    ACCEPTED = "accepted"
    DISCARDED = "discarded"


class TaskEvent(StrEnum):
    FINISHED = "finished"  # the member's turn ended (answered, failed, cancelled or timed out)
    RESTARTED = "restarted"  # the server started again; the turn is gone
    ACCEPT = "accept"
    REWORK = "rework"
    REWORK_LIMIT = "rework-limit"  # a rework asked for once MAX_REWORKS are used
    DISCARD = "discard"
    RETRY = "retry"  # back to running with a fresh rework budget (tasks/retry.py says when)


S, E = TaskState, TaskEvent

TRANSITIONS: Final[Mapping[tuple[TaskState, TaskEvent], TaskState]] = {
    (S.RUNNING, E.FINISHED): S.REVIEW,
    (S.RUNNING, E.RESTARTED): S.INTERRUPTED,
    (S.RUNNING, E.DISCARD): S.DISCARDED,
    (S.REVIEW, E.ACCEPT): S.ACCEPTED,
    (S.REVIEW, E.REWORK): S.RUNNING,
    (S.REVIEW, E.REWORK_LIMIT): S.BLOCKED,
    (S.REVIEW, E.DISCARD): S.DISCARDED,
    (S.INTERRUPTED, E.REWORK): S.RUNNING,
    (S.INTERRUPTED, E.REWORK_LIMIT): S.BLOCKED,
    (S.INTERRUPTED, E.DISCARD): S.DISCARDED,
    (S.BLOCKED, E.ACCEPT): S.ACCEPTED,
    (S.BLOCKED, E.DISCARD): S.DISCARDED,
    (S.BLOCKED, E.RETRY): S.RUNNING,
    (S.INTERRUPTED, E.RETRY): S.RUNNING,
    (S.REVIEW, E.RETRY): S.RUNNING,  # only after a failed turn (tasks/retry.py)
}

#: States a task no longer changes from; its worktree is gone.
TERMINAL: Final = frozenset({S.ACCEPTED, S.DISCARDED})

#: What Claude can do in each state (the actions of the ``task`` tool), for error messages.
_ACTIONS: Final = {
    S.RUNNING: "show (to wait for it), discard",
    S.REVIEW: "show, accept, rework, discard (retry after a failed turn)",
    S.INTERRUPTED: "show, rework or retry (to let it go on), discard",
    S.BLOCKED: "show, accept, retry (a fresh rework budget), discard",
    S.ACCEPTED: "show",
    S.DISCARDED: "show",
}


def next_state(task_id: str, state: TaskState, event: TaskEvent) -> TaskState:
    """The state after ``event``, or a :class:`TaskError` saying what the task can do now."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        verb = "rework" if event is E.REWORK_LIMIT else event.value
        raise TaskError(
            f"Task {task_id} is {state}: it cannot {verb} now. What it can do: {_ACTIONS[state]}."
        ) from None


def rework_event(reworks: int) -> TaskEvent:
    """A rework asked for after ``reworks`` earlier ones: another one, or the one that blocks."""
    return E.REWORK if reworks < MAX_REWORKS else E.REWORK_LIMIT
