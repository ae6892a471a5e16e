"""The council: every member's conversation, and the rounds that fan out over several of them.

A member is a :class:`~codex_fusion.member.conversation.Member` (its agent, session, queue, debate and
guardian state); the council is a thin loop over members. A call without ``members`` goes to Codex
alone, exactly as a lone consult. A council round:

- records Claude's own position (``my_take``) *before* any member answers and sends it to nobody in
  round 1 — members answer blind, to each other and to Claude;
- runs the members concurrently (wall time ≈ the slowest one); a member that fails, times out, is
  not logged in or pauses never sinks the others — its seat says what happened;
- reports each answer with its parsed VERDICT and one agreement line (:mod:`codex_fusion.council.agreement`);
- continues with ``reply`` to all members (each sees the others' latest answers, named, and Claude's
  take) or to some; the round limit applies to the council debate as a whole.

Pauses carry request ids unique across members (one counter), so ``permit`` reaches the member that
holds the request. Knows nothing about MCP.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypeVar

import anyio

from codex_fusion.acp.agent import Spawn, spawn_process
from codex_fusion.council import table
from codex_fusion.council.result import Answer, CouncilDebate, CouncilResult, Seat
from codex_fusion.errors import ConsultError, FusionError
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.names import CODEX
from codex_fusion.member.conversation import Member
from codex_fusion.member.notes import Note
from codex_fusion.member.reports import Reopen
from codex_fusion.text import prompts

if TYPE_CHECKING:
    from codex_fusion.launch.agents.plan import Boundary
from codex_fusion.guardian.permissions import parse_ref
from codex_fusion.member.signal import Changes
from codex_fusion.member.snapshot import ResetReport, Status
from codex_fusion.member.turn import Pause, TurnOutcome, TurnResult
from codex_fusion.text.prompts import Brief

log = logging.getLogger(__name__)
T = TypeVar("T")

ALL = "all"
#: The member kind that is the host itself (Claude Code): its agreement is not an outside voice.
HOST_KIND = "claude"


class Council:
    """Use as ``async with Council(config) as council:``; every member's agent dies with it."""

    def __init__(self, config: Config, *, spawn: Spawn = spawn_process) -> None:
        self.config = config
        self._stack = AsyncExitStack()
        request_ids = itertools.count(1)
        #: Every member's turns tell these (one event stream for the whole council): an update or
        #: a state change, and a turn that ended.
        self.changes, self.ended = Changes(), Changes()
        self.members: dict[str, Member] = {
            name: Member(
                config,
                spawn=spawn,
                member=spec,
                request_ids=request_ids,
                changes=self.changes,
                ended=self.ended,
            )
            for name, spec in config.members.items()
        }
        self.debate: CouncilDebate | None = None
        #: Which debate `reply` continues: the council's, or Codex's own.
        self.last: Literal["council", "single"] | None = None
        #: The member kind of the host's own model family (set by the host, mcp/hosted.py).
        self.host_kind = HOST_KIND

    async def __aenter__(self) -> Council:
        for member in self.members.values():  # cheap: no agent starts before its first use
            await self._stack.enter_async_context(member)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    @property
    def codex(self) -> Member:
        return self.members[CODEX]

    # -- who -------------------------------------------------------------------------------------

    def select(self, requested: Sequence[str] | str) -> list[str]:
        """The members a call names (``"all"``: every configured member), in configured order."""
        if isinstance(requested, str):
            requested = [requested]
        if any(name.strip().lower() == ALL for name in requested):
            return list(self.members)
        names = list(dict.fromkeys(name.strip().lower() for name in requested if name.strip()))
        unknown = [name for name in names if name not in self.members]
        if not names or unknown:
            configured = ", ".join(self.members)
            what = f"Unknown member(s): {', '.join(unknown)}." if unknown else "No member named."
            raise ConsultError(
                f'{what} Configured: {configured}. Name some of them, or "all". Others are added by the '
                "user in CODEX_FUSION_MEMBERS (or the plugin's members option), never by a call."
            )
        return [name for name in self.members if name in names]

    def _outside(self, names: Sequence[str]) -> frozenset[str]:
        return frozenset(n for n in names if self.members[n].member.kind != self.host_kind)

    # -- rounds ----------------------------------------------------------------------------------

    async def ask(
        self,
        brief: Brief,
        names: Sequence[str],
        my_take: str,
        *,
        timeout: float | None = None,
    ) -> CouncilResult:
        """Round 1: every member answers ``brief`` blind, concurrently."""
        if not my_take.strip():
            raise ConsultError(
                "`my_take` is empty: a council call needs your own position first (what you think and "
                "why, in a few sentences), so the panel cannot anchor you. It is sent to no member in "
                "round 1."
            )
        # Recorded before any member is asked: round 1 cannot see it, and neither can Claude change it.
        debate = CouncilDebate(brief, my_take, {n: Seat(n) for n in names}, self._outside(names))
        self.debate, self.last = debate, "council"
        for member in self.members.values():
            member.usage.new_debate()  # usage per debate starts again (status)
        log.info(
            "council %s with %s; Claude's take recorded (%d chars)",
            brief.tool,
            ", ".join(names),
            len(my_take),
        )
        round_one = prompts.council_round(brief)
        await self._fan_out(debate, {name: round_one for name in names}, timeout)
        debate.findings = table.first(brief.tool, {n: debate.seats[n].answer for n in names}, brief.files)
        return self._result(debate, names)

    async def reply(
        self,
        message: str,
        names: Sequence[str] | None,
        *,
        timeout: float | None = None,
    ) -> CouncilResult:
        """The next council round, for ``names`` (None: every seat)."""
        debate = self.debate
        if debate is None:
            raise ConsultError(
                "There is no council debate to reply to: start one with `members` and `my_take`."
            )
        targets = list(debate.seats) if names is None else [n for n in names if n in debate.seats]
        if not targets:
            raise ConsultError(
                f"None of those sat on this council ({', '.join(debate.seats)}); reply to them, or start a "
                "new council call."
            )
        debate.round += 1
        briefs = {}
        for name in targets:
            seat = debate.seats[name]
            others = [(n, s.last_text) for n, s in debate.seats.items() if n != name and s.last_text]
            fresh = not self.members[name].debate_open
            briefs[name] = prompts.council_reply(
                message,
                debate.round,
                my_take=None if seat.saw_take else debate.my_take,
                others=others,
                original=prompts.council_round(debate.brief) if fresh else None,
                findings=table.for_prompt(debate.findings),
            )
            seat.saw_take = True
        await self._fan_out(debate, briefs, timeout)
        if debate.findings is not None:
            table.update(debate.findings, {n: debate.seats[n].answer for n in targets})
        return self._result(debate, targets)

    async def _fan_out(
        self, debate: CouncilDebate, briefs: Mapping[str, Brief], timeout: float | None
    ) -> None:
        debate.asked = tuple(briefs)
        for name in briefs:
            debate.seats[name].stage, debate.seats[name].turn = "queued", None

        async def one(name: str, brief: Brief) -> None:
            member, seat = self.members[name], debate.seats[name]
            try:
                seat.turn = await member.start(brief, timeout=timeout)
                seat.stage = "working"
                answer: Answer = await member.wait(seat.turn)
            except FusionError as exc:
                answer = exc
            except Exception as exc:  # a bug serving one member must not sink the others
                log.exception("council member %s failed", name)
                answer = ConsultError(f"codex-fusion failed serving {name}: {exc!r}. `status` shows more.")
            self._seat(debate, name, answer)
            seat.stage, seat.turn = _word(answer), None
            self.changes.notify()

        async with anyio.create_task_group() as tg:
            for name, brief in briefs.items():
                tg.start_soon(one, name, brief)

    def _seat(self, debate: CouncilDebate, name: str, answer: Answer) -> None:
        seat = debate.seats[name]
        seat.answer = answer
        if isinstance(answer, TurnOutcome) and answer.text.strip():
            seat.last_text = answer.text

    def _result(self, debate: CouncilDebate, names: Sequence[str], *, whole: bool = True) -> CouncilResult:
        return CouncilResult(
            tool=debate.brief.tool,
            round=debate.round,
            my_take=debate.my_take,
            seats=tuple(debate.seats[n] for n in names),
            standings=debate.standings(),
            limit_reached=debate.limit_reached,
            whole=whole,
            findings=debate.findings,
            prices=self.codex.usage.prices,
        )

    # -- permissions -----------------------------------------------------------------------------

    def holder(self, request: str | None) -> Member:
        """The member a ``permit`` is for: the one holding ``request``, or the only one paused."""
        paused = {name: m for name, m in self.members.items() if _pause(m) is not None}
        wanted = parse_ref(request)
        if wanted is not None:
            for member in paused.values():
                pause = _pause(member)
                if pause is not None and pause.request.request_id == wanted:
                    return member
        if len(paused) == 1 and wanted is None:
            return next(iter(paused.values()))
        if len(paused) > 1 and wanted is None:
            held = ", ".join(f"{_pause(m).request.ref} ({n})" for n, m in paused.items())  # type: ignore[union-attr]
            raise ConsultError(
                f"Several members are paused: {held}. Pass `request` to say which one you answer."
            )
        if paused:  # `request` names none of the pending ones: the member's own check says what is pending
            return next(iter(paused.values()))
        return next((m for m in self.members.values() if m.unclaimed is not None), self.codex)

    async def permit(
        self,
        decision: Literal["allow", "deny", "cancel"],
        note: str | None = None,
        *,
        request: str | None = None,
        timeout: float | None = None,
    ) -> TurnResult | CouncilResult:
        """Answer a held request of whichever member holds it; in a council round, the result is that
        member's seat and the round's agreement line."""
        member = self.holder(request)
        result = await member.permit(decision, note, request=request, timeout=timeout)
        debate, name = self.debate, member.member.name
        if debate is not None and self.last == "council" and name in debate.seats:
            seat = debate.seats[name]
            if isinstance(seat.answer, Pause):
                self._seat(debate, name, result)
                return self._result(debate, [name], whole=False)
        return result

    # -- the debate's end, resets ----------------------------------------------------------------

    async def reset(
        self, *, then: Mapping[str, Reopen] | None = None, notice: Note | None = None
    ) -> ResetReport:
        """Reset every member at once (``then``: the earlier session each reopens next, by member;
        ``notice``: said in each member's next result). Returns Codex's report; a member that cannot
        be reset is logged, the others still are."""
        wanted = then or {}
        reports = await self._each("reset", lambda name, m: m.reset(then=wanted.get(name), notice=notice))
        self.debate, self.last = None, None
        return reports.get(CODEX, ResetReport(None, 0, None))

    async def fork(self) -> str | None:
        """Claude forked the conversation: fork every member's session; returns Codex's new id."""
        forked = await self._each("fork", lambda _name, m: m.fork())
        return forked.get(CODEX)

    async def _each(self, what: str, call: Callable[[str, Member], Awaitable[T]]) -> dict[str, T]:
        """``call`` on every member at once, by name. A member that fails with a FusionError is logged
        and left out; a bug is raised as it is once every member was tried (not as a group)."""
        done: dict[str, T] = {}
        bugs: list[Exception] = []

        async def one(name: str, member: Member) -> None:
            try:
                done[name] = await call(name, member)
            except FusionError as exc:
                log.info("%s of %s: %s", what, name, exc.summary)
            except Exception as exc:
                bugs.append(exc)

        async with anyio.create_task_group() as tg:
            for name, member in self.members.items():
                tg.start_soon(one, name, member)
        if bugs:
            raise bugs[0]
        return done

    # What the follower of Claude's conversation uses (follow.py), for every member at once.

    async def adopt(self, reopens: Mapping[str, Reopen]) -> list[str]:
        """Each member reopens its linked session next, unless it has one open; the names adopted."""
        adopted = []
        for name, reopen in reopens.items():
            member = self.members.get(name)
            if member is not None and member.member.error is None and await member.adopt(reopen):
                adopted.append(name)
        return adopted

    @property
    def codex_session(self) -> str | None:
        return self.codex.codex_session

    def status(self, *, stderr: bool = True) -> Status:
        return self.codex.status(stderr=stderr)

    def statuses(self, *, stderr: bool = True) -> list[tuple[MemberSpec, Status, Boundary | None]]:
        """Every member's spec, status and checked boundary, in configured order (for ``status``)."""
        return [
            (m.member, m.status(stderr=stderr), m.session.checked_boundary if m.session is not None else None)
            for m in self.members.values()
        ]

    async def warm(self) -> None:
        await self.codex.warm()  # the others start when first asked

    def single(self) -> None:
        """A lone consult opened Codex's own debate: `reply` continues that one now."""
        self.last = "single"


def _pause(member: Member) -> Pause | None:
    turn = member.current_turn
    return turn.pause() if turn is not None else None


def _word(answer: Answer) -> str:
    """A member's state in the progress line once its part of the round is over."""
    if isinstance(answer, Pause):
        return f"paused ({answer.request.ref})"
    if isinstance(answer, FusionError):
        return "failed"
    return "done" if answer.stop_reason == "end_turn" else answer.stop_reason
