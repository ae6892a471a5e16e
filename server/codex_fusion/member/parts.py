"""The parts one member owns, and what can be read of them (``status``, the council, progress).

Each part has one writer: the :class:`~codex_fusion.member.turn.TurnSlot` and the debate are written
by the member's operations (``consultant.py``), the queue by the
:class:`~codex_fusion.member.runner.Runner`, the session by
:class:`~codex_fusion.member.session.Session`. Reading never starts anything.
"""

from __future__ import annotations

import itertools
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from codex_fusion.acp.agent import Spawn, spawn_process
from codex_fusion.errors import ConfigError, ConsultError
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.models import ModelChoice
from codex_fusion.launch.names import CODEX
from codex_fusion.member import snapshot
from codex_fusion.member.debate import Debate
from codex_fusion.member.notes import Audit
from codex_fusion.member.ports import SessionPort
from codex_fusion.member.runner import Runner
from codex_fusion.member.signal import Changes
from codex_fusion.member.snapshot import State, Status
from codex_fusion.member.switch import Switch
from codex_fusion.member.turn import Turn, TurnSlot, TurnState
from codex_fusion.member.turnlog import TurnLog
from codex_fusion.member.usage import MemberUsage, parse_prices
from codex_fusion.text.prompts import Frame

_FIX_ENTRY = " Fix its entry in CODEX_FUSION_MEMBERS (or the plugin's members option) and restart."


class MemberParts:
    def __init__(
        self,
        config: Config,
        *,
        spawn: Spawn = spawn_process,
        member: MemberSpec | None = None,
        request_ids: itertools.count[int] | None = None,
        workspace: Path | None = None,
        frame: Frame | None = None,
        changes: Changes | None = None,
        ended: Changes | None = None,
    ) -> None:
        self.config = config
        #: Which council member this is (Codex unless told otherwise).
        self.member = member if member is not None else config.members[CODEX]
        self._spawn = spawn
        #: Where this member works: the configured workspace, or another root (a task's worktree).
        self.workspace = workspace if workspace is not None else config.workspace.path
        self._stack = AsyncExitStack()
        self._closing = anyio.Event()
        self._closed = False
        self._audit = Audit()
        # A delegated task's session gets its own frame (tasks/brief.py): it changes files.
        self._frame = frame if frame is not None else Frame.for_member(self.member.display, self.member.kind)
        self._debate = Debate(self._frame)
        # Shared by every member of a council, so a pause's id names one request across all of them.
        self._request_ids = request_ids if request_ids is not None else itertools.count(1)
        #: Told of every update and state change of this member's turns (progress reads it).
        self.changes = changes if changes is not None else Changes()
        #: Told when one of this member's turns ends (the follower saves links then).
        self.ended = ended if ended is not None else Changes()
        self._slot = TurnSlot()
        self._runner = Runner(self.member.display)
        self._switch = Switch(self._runner, self._slot, self._debate)
        self._waiters = 0
        self._tg: TaskGroup | None = None
        self._session: SessionPort | None = None
        self.turns_completed = 0
        self.last_error: str | None = None
        self._turnlog = TurnLog(config.log_path)
        #: Tokens, time and cost of this member's turns, as reported (issue 27; ``usage.py``).
        self.usage = MemberUsage(parse_prices(config.model_prices))

    def _ready(self) -> SessionPort:
        if self._session is None:
            if self.member.error is not None:
                # an error that says what to do itself (the repository's git config, ADR 0023) stands alone
                fix = "" if self.member.error.endswith("restart") else _FIX_ENTRY
                raise ConfigError(
                    f"The council member {self.member.name} cannot start: {self.member.error}.{fix}"
                )
            raise ConsultError(self.config.workspace.error or "No workspace.")
        return self._session

    # -- reading ---------------------------------------------------------------------------------

    @property
    def codex_session(self) -> str | None:
        """The agent's session now open, if any."""
        return self._session.session_id if self._session is not None else None

    @property
    def request_ids(self) -> itertools.count[int]:
        """The request-id counter this member shares with the rest of the council."""
        return self._request_ids

    @property
    def spawn(self) -> Spawn:
        return self._spawn

    @property
    def default_model(self) -> ModelChoice:
        """The model and effort this member's turns ask for unless a call says otherwise: Codex's from
        its entry in CODEX_FUSION_MEMBERS, else the plugin's ``model``/``effort`` options; another
        member's are given to it at launch (``launch/agents/``), so nothing is selected afterwards."""
        spec = self.member
        if spec.kind != "codex":
            return ModelChoice()
        mine = ModelChoice.of(spec.model, spec.effort, "the codex entry of CODEX_FUSION_MEMBERS")
        return mine.over(self.config.model)

    @property
    def debate_open(self) -> bool:
        """A debate this member answered, that ``reply`` can continue."""
        return self._debate.open

    @property
    def debate_round(self) -> int:
        """The agent's answers in the debate now open (0: none)."""
        return self._debate.rounds

    @property
    def unclaimed(self) -> Turn | None:
        """A turn that ended while nobody waited on it (its pause was withdrawn)."""
        return self._slot.unclaimed

    @property
    def current_turn(self) -> Turn | None:
        return self._slot.current

    @property
    def queue_length(self) -> int:
        return self._runner.queue_length

    @property
    def session(self) -> SessionPort | None:
        return self._session

    @property
    def state(self) -> State:
        if self._closed:
            return "stopped"
        turn = self._slot.current
        if turn is not None:
            if turn.state is TurnState.PAUSED:
                return "paused"
            return "running" if turn.live else "stopping"
        return self._session.state if self._session is not None else "idle"

    def status(self, *, stderr: bool = True) -> Status:
        """Where this member is now (``stderr``: with its agent's stderr tail, for ``status``)."""
        return snapshot.take(
            config=self.config,
            state=self.state,
            session=self._session,
            turn=self._slot.current,
            queue_length=self._runner.queue_length,
            audit=self._audit,
            debate=self._debate,
            turns_completed=self.turns_completed,
            last_error=self.last_error,
            log_problem=self._turnlog.problem,
            stderr=stderr,
        )
