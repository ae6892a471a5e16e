"""The consultation as a debate, without I/O: verdicts, rounds, and what Claude told Codex between turns.

The deliberative tools (consult, review_plan, review_diff, brainstorm) open a debate; ``reply``
continues it. Codex ends every answer with ``VERDICT: CONSENSUS — …`` or ``VERDICT: OPEN — …``;
:func:`parse_verdict` reads it (``missing`` when there is none: never guessed). After round
:data:`MAX_ROUNDS` without consensus, Claude is told to stop arguing and decide.

The Member owns one :class:`Debate` per Codex session. Prompt *text* comes from
:mod:`codex_fusion.text.prompts`; this module decides what goes into the next prompt.
"""

from __future__ import annotations

from typing import Final, Literal

from codex_fusion.guardian.permissions import Choice
from codex_fusion.member.verdict import MAX_ROUNDS, Round, Standing, VerdictLine, judge, parse_verdict
from codex_fusion.text import prompts
from codex_fusion.text.prompts import Brief

__all__ = ["DELIBERATIVE", "MAX_ROUNDS", "Debate", "Round", "Standing", "VerdictLine", "parse_verdict"]

#: The tools that open a debate; ``reply`` continues one; the others (explore) stand alone.
DELIBERATIVE: Final = frozenset({"consult", "review_plan", "review_diff", "brainstorm"})


class Debate:
    """The debate in the current Codex session: its rounds, the frame it has seen, and Claude's notes.

    It follows the session: a prompt for another session id starts over (a respawned agent, a
    reset), unless :meth:`expect` said that session is an earlier one coming back with its debate."""

    def __init__(self, frame: prompts.Frame | None = None) -> None:
        self._frame = frame if frame is not None else prompts.Frame()
        self._notes: list[str] = []
        self.rounds = 0  # answers in the current debate
        self.last: Round | None = None
        self._session: str | None = None
        self._seen: set[str] = set()  # frame blocks sent in the session
        self._expected: tuple[str, int, Round | None] | None = None
        self._carried: str | None = None  # an answer given outside this session, for its next prompt

    @property
    def open(self) -> bool:
        """A debate Codex has answered at least once, that ``reply`` can continue."""
        return self.rounds > 0 or self._expected is not None

    def reset(self) -> None:
        """A new Codex session knows nothing of earlier debates or notes."""
        self._notes.clear()
        self.rounds, self.last, self._session, self._expected = 0, None, None, None
        self._seen = set()
        self._carried = None

    def expect(self, session_id: str, rounds: int, last: Round | None) -> None:
        """``session_id`` is an earlier session being reopened: its debate stood at ``rounds``."""
        self._expected = (session_id, rounds, last)

    def _follow(self, session_id: str) -> None:
        if session_id == self._session:
            return
        expected, self._expected = self._expected, None
        self._session = session_id
        if expected is not None and expected[0] == session_id:
            self.rounds, self.last = expected[1], expected[2]
            self._seen = set(prompts.FRAME_BLOCKS)  # it had the frame before the restart
        elif self._carried is not None:
            self._seen = set()  # a review adopted from elsewhere: its round stands in this session
        else:
            self.rounds, self.last, self._seen = 0, None, set()

    def prompt(self, brief: Brief, session_id: str, *, system_prompt: bool) -> str:
        """The next prompt for ``session_id``: the frame blocks it has not seen yet (none when the
        session carries the frame as its system prompt), the notes Claude left since the last prompt
        (consumed), then the brief."""
        self._follow(session_id)
        frame = () if system_prompt else tuple(part for part in brief.frame if part not in self._seen)
        self._seen.update(frame)
        notes, self._notes = self._notes, []
        text = brief.text([self._frame.text_of(part) for part in frame])
        if self._carried is not None:
            text = prompts.carried(self._carried) + "\n\n" + text
            self._carried = None
        return prompts.with_notes(text, notes)

    def adopt(self, tool: str, answer: str) -> Round:
        """An answer given outside this session (a review done in parallel parts) opens this debate:
        it counts as round 1, and the next prompt carries it so ``reply`` has something to answer."""
        self._carried = answer
        return self.answered(tool, answer)

    def next_round(self, tool: str) -> int:
        """The round an answer to ``tool`` would close: a deliberative tool starts round 1, ``reply``
        the next; 0 for a turn that stands alone (explore)."""
        if tool in DELIBERATIVE:
            return 1
        return self.rounds + 1 if tool == "reply" else 0

    def answered(self, tool: str, answer: str) -> Round:
        """Count Codex's answer to ``tool`` (see :meth:`next_round`)."""
        return self.record(judge(self.next_round(tool), answer))

    def record(self, round_: Round) -> Round:
        """A finished turn's round (judged by the turn itself) is where the debate now stands."""
        if round_.number:
            self.rounds, self.last = round_.number, round_
        return round_

    def decided(self, what: str, verdict: Literal["allow", "deny"], choice: Choice, note: str) -> str | None:
        """Carry Claude's note on a permission decision to Codex. Returns the prompt that continues
        the same turn when a deny's option ends Codex's prompt (the turn sends it); otherwise the note
        starts the next prompt."""
        if verdict == "deny" and choice.ends_turn:
            return prompts.denied_continuation(what, note)
        if note:
            self._notes.append(prompts.decision_note(what, verdict == "allow", note))
        return None
