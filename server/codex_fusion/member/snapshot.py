"""What the Member reports: a typed snapshot for ``status``, and what a reset dropped.

Values only, computed on demand by :meth:`codex_fusion.member.parts.MemberParts.status` and
rendered by :mod:`codex_fusion.member.render_status`; nothing here is stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from codex_fusion import __version__
from codex_fusion.guardian.decision import Rule
from codex_fusion.launch.config import Config
from codex_fusion.launch.confine import Confinement
from codex_fusion.launch.models import Selected
from codex_fusion.member.debate import Debate, VerdictLine
from codex_fusion.member.notes import Audit, NoteKind
from codex_fusion.member.ports import SessionPort
from codex_fusion.member.reports import ResetReport
from codex_fusion.member.turn import Turn

__all__ = ["ResetReport", "State", "Status", "take"]

State = Literal["idle", "starting", "ready", "running", "paused", "stopping", "stopped"]


@dataclass(frozen=True)
class Status:
    """A snapshot of everything ``status`` shows; computed on demand, never stored."""

    version: str
    config: Config
    state: State
    agent_name: str | None = None
    agent_pid: int | None = None
    agent_alive: bool = False
    agent_exit: str | None = None
    session_id: str | None = None
    mode_note: str | None = None
    session_origin: str | None = None
    turn_elapsed: float | None = None
    turn_updates: int = 0
    pending: str | None = None
    pending_waited: float = 0.0
    audit: Mapping[tuple[NoteKind, Rule | None], int] = field(default_factory=dict)
    queue_length: int = 0
    turns_completed: int = 0
    debate_round: int = 0
    last_verdict: VerdictLine | None = None
    context_used: int | None = None
    context_size: int | None = None
    last_error: str | None = None
    stderr_tail: str | None = None
    #: What the running agent was checked to have (``confine.py``); None before it started.
    confinement: Confinement | None = None
    log_problem: str | None = None  # why CODEX_FUSION_LOG is not written, if it is not
    #: The model and effort Codex's session has selected, as the agent reports them (None: no session).
    model: Selected | None = None


def take(
    *,
    config: Config,
    state: State,
    session: SessionPort | None,
    turn: Turn | None,
    queue_length: int,
    audit: Audit,
    debate: Debate,
    turns_completed: int,
    last_error: str | None,
    log_problem: str | None = None,
    stderr: bool = True,
) -> Status:
    """Read the owners of each piece of state into one :class:`Status` (``stderr``: with the agent's
    stderr tail, redacted — only ``status`` shows it)."""
    agent = session.agent if session is not None else None
    pause = turn.pause() if turn is not None else None
    usage = session.context_usage if session is not None else None
    return Status(
        version=__version__,
        config=config,
        state=state,
        agent_name=agent.name if agent is not None else None,
        agent_pid=agent.process.pid if agent is not None else None,
        agent_alive=agent is not None and agent.alive,
        agent_exit=agent.process.describe_exit() if agent is not None and not agent.alive else None,
        session_id=session.session_id if session is not None else None,
        mode_note=session.mode_note if session is not None else None,
        session_origin=session.origin if session is not None else None,
        turn_elapsed=turn.elapsed if turn is not None else None,
        turn_updates=turn.transcript.updates if turn is not None else 0,
        pending=pause.summary if pause is not None else None,
        pending_waited=pause.request.waited if pause is not None else 0.0,
        audit=dict(audit.counts),
        queue_length=queue_length,
        turns_completed=turns_completed,
        debate_round=debate.rounds,
        last_verdict=debate.last.verdict if debate.last is not None else None,
        context_used=usage.used if usage is not None else None,
        context_size=usage.size if usage is not None else None,
        last_error=last_error,
        stderr_tail=agent.stderr_tail(1200) if agent is not None and stderr else None,
        confinement=agent.confinement if agent is not None and agent.alive else None,
        log_problem=log_problem,
        model=session.offer.current if session is not None and session.offer is not None else None,
    )
