"""A diff larger than one session should read, reviewed in parts at once, merged into one answer.

``review_diff`` collects the whole change (up to :data:`MAX_SHARDS` times the one-session budget).
When it does not fit one session, :func:`plan` splits it by file into parts of about one budget
each (longest processing time first: the largest file goes to the least loaded part), and
:func:`review` has each part reviewed by a session of its own, all at once, so the wall time is
about one part's, not the sum. Where the member's agent serves several sessions (:func:`host_of`:
codex-acp does), each part's session is an extra one on the member's running agent, so a review in
parts starts no agent (ADR 0032); otherwise each part starts a fresh instance of the same member,
with the same boundary. The parts' findings are kept verbatim, part by part, and end in one VERDICT
line (:func:`merge`): consensus only when every part found nothing open.

A part's reviewer cannot pause for Claude: a part that asks for permission is denied at once with a
note saying so, and the merged answer lists what was denied. Nothing is allowed that the guardian
would not allow in a lone review.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from codex_fusion.acp.agent import Spawn
from codex_fusion.errors import FusionError
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.member.conversation import Member
from codex_fusion.member.extra import ExtraSession
from codex_fusion.member.session import Session
from codex_fusion.member.signal import Changes
from codex_fusion.member.transcript import Usage
from codex_fusion.member.turn import Pause, TurnOutcome
from codex_fusion.member.verdict import Standing, parse_verdict
from codex_fusion.review import filelist, partplan
from codex_fusion.review import findings as review_findings
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs.material import DiffMaterial

log = logging.getLogger(__name__)

#: At most this many parts (and concurrent sessions) for one review.
MAX_SHARDS = 6
DENY_NOTE = (
    "You review one part of a large change in parallel with other reviewers; nobody can approve "
    "requests in this mode. Review from the diff and what you can read in the workspace."
)


def plan(
    material: DiffMaterial, limit: int, max_shards: int = MAX_SHARDS, focus: str | None = None
) -> list[DiffMaterial] | None:
    """The parts to review at once, each prompt within ``limit`` characters, or None when the whole
    change fits one session (``partplan.py``). A file that fits no part is left out of every part's
    diff and named for the reviewers to read in the workspace, as it would be in a lone review."""
    return partplan.plan(material, limit, max_shards, focus)


def host_of(member: Member) -> Session | None:
    """The member's session whose agent the parts open their sessions on, or None: each part starts
    an agent of its own. Only Codex (codex-acp serves several sessions in one process; other agents
    are not known to), and only a member working in the configured workspace, which is where the
    parts work: an agent is shared only with sessions of the same workspace and boundary."""
    session = member.session
    if not isinstance(session, Session) or isinstance(session, ExtraSession):
        return None  # not started here, or itself a part: parts share only a member's own agent
    if member.member.kind != "codex":
        return None
    if member.workspace != member.config.workspace.path:
        return None
    return session


@dataclass(frozen=True)
class PartReview:
    """What one part's reviewer gave: its answer (or why there is none) and what it was refused."""

    files: tuple[str, ...]
    outcome: TurnOutcome | None
    error: str | None
    denied: tuple[str, ...]


async def review(
    config: Config,
    member: MemberSpec,
    parts: Sequence[DiffMaterial],
    focus: str | None,
    *,
    spawn: Spawn,
    request_ids: itertools.count[int],
    states: list[str] | None = None,
    changes: Changes | None = None,
    timeout: float | None = None,
    host: Session | None = None,
) -> list[PartReview]:
    """Review every part at once, each in a session of its own; every reviewer is stopped at the end.

    With ``host`` (:func:`host_of`), each part's session opens on the host's agent and is closed when
    the part ends; without, each part starts and stops an agent of its own. ``states`` (the
    caller's) holds where each part is — queued, working, done, failed — and ``changes`` is told when
    one moves: progress reads them, nothing here calls up."""
    results: list[PartReview | None] = [None] * len(parts)
    states = states if states is not None else []
    states[:] = ["queued"] * len(parts)

    def show(index: int, text: str) -> None:
        states[index] = text
        if changes is not None:
            changes.notify()

    async def one(index: int, part: DiffMaterial) -> None:
        files = tuple(path for path, _ in part.sections)
        brief = review_prompts.review_diff(part, None, focus)
        denied: list[str] = []
        try:
            reviewer = Member(config, spawn=spawn, member=member, request_ids=request_ids)
            if host is not None:  # a session of its own on the member's running agent
                reviewer.share(ExtraSession.opener(host, config, member))
            async with reviewer:
                show(index, "working")
                result = await reviewer.consult(brief, timeout=timeout)
                while isinstance(result, Pause):
                    denied.append(result.summary)
                    result = await reviewer.permit("deny", DENY_NOTE, request=result.request.ref)
            results[index] = PartReview(files, result, None, tuple(denied))
            show(index, "done")
        except FusionError as exc:
            results[index] = PartReview(files, None, exc.summary, tuple(denied))
            show(index, "failed")

    async with anyio.create_task_group() as tg:
        for index, part in enumerate(parts):
            tg.start_soon(one, index, part)
    return [result for result in results if result is not None]


def merge(reviews: Sequence[PartReview], who: str, started: float) -> TurnOutcome:
    """One answer: each part's findings verbatim under its files, then one VERDICT line."""
    count = len(reviews)
    plural = "s" if count != 1 else ""
    sections = [f"Reviewed in {count} part{plural} at once, each by a {who} session of its own."]
    points: list[str] = []
    settled: list[str] = []
    usage = Usage(total_tokens=0)
    for number, part in enumerate(reviews, start=1):
        head = f"### Part {number} of {count}: {_files(part.files)}"
        if part.outcome is None:
            sections.append(f"{head}\n✗ This part could not be reviewed: {part.error}")
            points.append(f"part {number} was not reviewed")
            continue
        body = part.outcome.text.strip()
        verdict = parse_verdict(body)
        body = _without_verdict(body)
        if part.denied:
            body += "\n[denied automatically in a parallel part: " + "; ".join(part.denied) + "]"
        sections.append(f"{head}\n{body or '(no findings text)'}")
        if verdict.standing is Standing.CONSENSUS:
            settled.append(verdict.summary)
        else:
            points.append(f"part {number}: {verdict.summary or 'no verdict'}")
        tokens = part.outcome.usage.tokens
        if tokens is not None and usage.total_tokens is not None:
            usage.total_tokens += tokens
    table = _findings_table(reviews)
    if table:
        sections.insert(1, table)
    if points:
        sections.append("VERDICT: OPEN — " + "; ".join(points))
    else:
        sections.append("VERDICT: CONSENSUS — " + "; ".join(dict.fromkeys(s for s in settled if s)))
    text = "\n\n".join(sections)
    return TurnOutcome(
        text=text,
        stop_reason="end_turn",
        elapsed=time.monotonic() - started,
        usage=usage,
        activity=[],
        session_id="",
    )


def _files(paths: Sequence[str], shown: int = 5) -> str:
    """A part's files in its heading: a few names, then a count."""
    named = ", ".join(filelist.short(path, 100) for path in paths[:shown])
    return named if len(paths) <= shown else f"{named} and {len(paths) - shown:,} more"


def _without_verdict(text: str) -> str:
    lines = text.splitlines()
    while lines and (not lines[-1].strip() or parse_verdict(lines[-1]).standing is not Standing.MISSING):
        lines.pop()
    return "\n".join(lines)


def _findings_table(reviews: Sequence[PartReview]) -> str:
    """The parts' findings in one table (each part reviews other files, so no row merges parts)."""
    answers = {
        f"part {number}": review_findings.parse(part.outcome.text).findings
        for number, part in enumerate(reviews, start=1)
        if part.outcome is not None
    }
    rows = review_findings.merge(answers)
    unparsed = [
        f"part {n}"
        for n, part in enumerate(reviews, start=1)
        if part.outcome is not None and review_findings.parse(part.outcome.text).status == "unparsed"
    ]
    head = f"Findings · {len(rows)} from {len(answers)} part(s)" + (
        f" · not parsed (read their text): {', '.join(unparsed)}" if unparsed else ""
    )
    return "\n".join([head, *review_findings.markdown(rows)])
