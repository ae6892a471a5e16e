"""What Claude reads of a council round: the take, each seat under its name, the agreement line and
the next step. Pure functions of the values they render.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from codex_fusion.council import agreement, forgery, table, usage
from codex_fusion.member.debate import MAX_ROUNDS
from codex_fusion.member.turn import Pause, TurnOutcome

if TYPE_CHECKING:
    from codex_fusion.council.result import CouncilResult, Seat

from codex_fusion.member.render import Saved, outcome, pause, who

# -- the council -------------------------------------------------------------------------------------


def council(
    result: CouncilResult,
    saved: Mapping[str, Saved] | None = None,
    clean: Callable[[str], str] = lambda text: text,
) -> str:
    """A council round: Claude's take, each member's answer (or pause, or failure) under its name,
    the agreement line, and what to do next. ``saved``: answers cut to fit, by member. ``clean`` is
    applied to everything but a pause's request, which is shown byte for byte (what Claude approves
    is what runs)."""
    saved = saved or {}
    names = ", ".join(seat.name for seat in result.seats)
    if result.whole:
        blind = " · blind: no member saw your take or another's answer" if result.round == 1 else ""
        lines = [f"Council · {result.tool} · round {result.round}/{MAX_ROUNDS} · {names}{blind}"]
        if result.round == 1:
            lines += ["", "Your take (recorded before any member answered):", _quote(result.my_take)]
    else:
        lines = [f"Council · {result.tool} · round {result.round}/{MAX_ROUNDS} · {names}, after your permit"]
    head = clean("\n".join(lines))
    parts = [head]
    if result.whole and result.findings is not None and result.findings.shown:
        parts.append(clean(table.render(result.findings)))
    for seat in result.seats:
        answer = seat.answer
        body = pause(answer) if isinstance(answer, Pause) else clean(_seat(seat, saved.get(seat.name)))
        parts.append(f"━━ {seat.name} ━━\n{body}")
    footer = usage.round_footer(result.seats, result.prices) if result.whole else None
    parts.append(
        clean(
            agreement.line(result.standings)
            + (f"\n{footer}" if footer else "")
            + f"\n[{council_next(result)}]"
        )
    )
    return "\n\n".join(parts)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.strip().splitlines())


def _seat(seat: Seat, saved: Saved | None) -> str:
    answer = seat.answer
    if answer is None:
        return "(not asked this round)"
    if isinstance(answer, TurnOutcome):
        # the member's words cannot forge a seat header, the agreement line or an instruction
        return outcome(dataclasses.replace(answer, text=forgery.neutralise(answer.text)), saved)
    return f"✗ {who(seat.name)} could not answer: {answer}"


def council_next(result: CouncilResult) -> str:
    """What Claude should do with a council round."""
    standings = result.standings
    paused = [seat for seat in result.seats if isinstance(seat.answer, Pause)]
    if paused:
        refs = ", ".join(
            f"{seat.answer.request.ref} ({seat.name})" for seat in paused if isinstance(seat.answer, Pause)
        )
        return (
            f'Answer the paused request(s) first: `permit` with "request": {refs}. The others\' answers '
            "stand; the agreement line is complete once every member has answered."
        )
    if result.limit_reached:
        return (
            f"Round {result.round} of {MAX_ROUNDS} without full agreement: stop debating. Decide "
            "yourself and tell the user where the members still disagree, and why you sided as you did."
        )
    if standings.unanimous and result.round > 1:
        return "Every member agrees: act on it, unless your own evidence says otherwise."
    return (
        "Weigh each answer against your take on its evidence, not by counting votes; a lone dissent "
        'with a file:line can outweigh the rest. `reply` {"message": …} continues with every member '
        '(each then sees your take and the others\' answers, named); add "members": ["<name>"] '
        f"for one. Decide by round {MAX_ROUNDS}."
    )
