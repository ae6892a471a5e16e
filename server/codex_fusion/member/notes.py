"""What happened during a turn, as typed notes: guardian decisions, stops, how the session came to be.

Meaning travels as :class:`NoteKind`, never as sentences (those are in :mod:`codex_fusion.member.render`);
:class:`Audit` counts the guardian's decisions across the server's life.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from codex_fusion.guardian.decision import Decision, Rule


class NoteKind(StrEnum):
    AUTO_ALLOWED = "auto-allowed"
    ASKED = "asked Claude"
    ALLOWED = "allowed by Claude"
    DENIED = "denied by Claude"
    WITHDRAWN = "withdrawn by Codex"
    DROPPED = "answered cancelled"  # still held when the turn stopped or ended
    REFUSED = "refused by the guardian"  # e.g. too large to show Claude whole
    REFUSED_READ = "refused read outside workspace"
    CAPPED = "too many requests"  # the turn asked Claude too often and was stopped
    STOPPED = "stopped by Claude"  # `permit` with decision `cancel`
    RESET = "reset"  # the session was reset (the `reset` tool, or Claude's /clear) while it ran
    RESTORED = "restored"  # Codex's earlier session (subject) was opened again, with its context
    NOT_RESTORED = "not restored"  # … could not be: this turn ran in a fresh session
    NOT_FORKED = "not forked"  # Claude forked the conversation; Codex could not fork (subject)
    LOST_TRACK = "lost track"  # the hook's record vanished: Codex was reset to be safe (subject: why)
    BOUNDARY = "boundary"  # Codex's sandbox is not held to the workspace (subject: why)
    LAST_STATUS = "last status"  # the agent's last status line, on a timeout
    RESTARTED = "restarted"  # the agent was killed after a stop


#: Kinds that are guardian decisions (counted in the audit and written to the turn log).
GUARDIAN_KINDS: Final = frozenset(
    {
        NoteKind.AUTO_ALLOWED,
        NoteKind.ASKED,
        NoteKind.ALLOWED,
        NoteKind.DENIED,
        NoteKind.WITHDRAWN,
        NoteKind.DROPPED,
        NoteKind.REFUSED,
        NoteKind.REFUSED_READ,
    }
)


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    subject: str = ""  # the request's summary, or the status text
    rule: Rule | None = None  # the guardian rule, for auto-allowed requests
    detail: str = ""
    decision: Decision | None = None  # the whole request, for the turn log


class Audit:
    """How many requests the guardian allowed, asked about, … across the server's life."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[NoteKind, Rule | None]] = Counter()

    def count(self, note: Note) -> None:
        self.counts[note.kind, note.rule] += 1
