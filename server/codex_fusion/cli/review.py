"""``codex-fusion review``: a council review of the working tree, the index or a branch from a
terminal or a CI job. Prints the merged findings table; ``--json`` / ``--sarif`` write them for tools
(``-``: standard output); the exit code says whether a finding at or above ``--fail-on`` exists.

Exit codes: 0 nothing at or above ``--fail-on`` (or no ``--fail-on``); 1 such a finding exists;
2 a usage or configuration error; 3 no member could review and none was merely *unavailable*. A
member that is unavailable (quota, login, timeout, crash) is named on stderr and never fails the run:
an unavailable reviewer is not a finding.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio

from codex_fusion import __version__
from codex_fusion.council import table as findings_table
from codex_fusion.council.council import Council
from codex_fusion.council.result import CouncilResult
from codex_fusion.errors import ConfigError, FusionError
from codex_fusion.launch.config import Config
from codex_fusion.launch.planning import configure
from codex_fusion.member.turn import Pause
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review import report
from codex_fusion.review.diffs import DiffRequest, collect_diff
from codex_fusion.review.findings import SEVERITIES
from codex_fusion.text.redact import redact_credentials

EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_NOT_REVIEWED = 3
#: What the council records as the host's position: nobody is at a terminal to give one.
TAKE = "(a review run from the terminal by codex-fusion review: there is no host's take)"
DENY_NOTE = "Nobody can approve requests in a terminal review; review from the diff and the workspace."
MAX_DENIED = 3


def add_parser(sub: Any) -> None:
    """The ``review`` subcommand's arguments (``sub``: argparse's subparsers)."""
    parser = sub.add_parser(
        "review", help="a council review of the changes; findings as a table, JSON or SARIF"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--staged", action="store_true", help="only what is staged")
    which.add_argument("--base", metavar="REF", help="the changes since the merge base with REF")
    parser.add_argument("--members", metavar="A,B", help="configured members to ask (default: codex)")
    parser.add_argument("--json", metavar="FILE", help="write the findings as JSON ('-': stdout)")
    parser.add_argument("--sarif", metavar="FILE", help="write the findings as SARIF 2.1.0 ('-': stdout)")
    parser.add_argument("--fail-on", choices=SEVERITIES, help="exit 1 if a finding at or above this exists")


def run(args: argparse.Namespace) -> int:
    from codex_fusion.acp.process import kill_all_groups

    try:
        return anyio.run(_review, args)
    except KeyboardInterrupt:
        print("\ncodex-fusion: interrupted", file=sys.stderr)
        return 130
    finally:
        kill_all_groups()  # whatever an interrupted council left


async def _review(args: argparse.Namespace, config: Config | None = None, spawn: Any = None) -> int:
    try:
        config = config or configure()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    workspace = config.workspace.path
    if workspace is None:
        return _fail(config.workspace.error or "no workspace", EXIT_USAGE)
    request = DiffRequest(base=args.base, staged=bool(args.staged))
    try:
        material = await collect_diff(workspace, request, max_chars=config.max_answer_chars)
    except FusionError as exc:
        return _fail(exc.summary, EXIT_USAGE)
    if not material.files:
        print(f"Nothing to review: {material.description}", file=sys.stderr)
        _write(args, findings_table.FindingsTable("review_diff"))
        return 0
    council = Council(config) if spawn is None else Council(config, spawn=spawn)
    async with council:
        try:
            names = council.select(args.members.split(",") if args.members else ["codex"])
        except FusionError as exc:
            return _fail(exc.summary, EXIT_USAGE)
        brief = review_prompts.review_diff(material, None, None)
        result = await council.ask(brief, names, TAKE)
        await _deny_pauses(council, result)
        seats = council.debate.seats if council.debate is not None else {}
        answers = {name: seat.answer for name, seat in seats.items()}
    return _report(args, answers, findings_table.first("review_diff", answers, brief.files))


async def _deny_pauses(council: Council, result: CouncilResult) -> None:
    """Nobody can approve in a terminal review: every request is denied, a few times at most."""
    paused = [seat.answer.request.ref for seat in result.seats if isinstance(seat.answer, Pause)]
    for _ in range(MAX_DENIED):
        if not paused:
            return
        again: list[str] = []
        for ref in paused:
            answer = await council.permit("deny", DENY_NOTE, request=ref)
            seats = answer.seats if isinstance(answer, CouncilResult) else ()
            again += [s.answer.request.ref for s in seats if isinstance(s.answer, Pause)]
        paused = again


def _report(args: argparse.Namespace, answers: dict[str, Any], found: findings_table.FindingsTable) -> int:
    for name, answer in answers.items():
        if name not in found.unavailable and isinstance(answer, FusionError):
            print(f"codex-fusion: {name} failed: {redact_credentials(answer.summary)}", file=sys.stderr)
    text = redact_credentials(findings_table.render(found))
    print(text, file=sys.stdout if not _uses_stdout(args) else sys.stderr)
    _write(args, found)
    if not found.parsed:
        if found.unavailable:
            print("codex-fusion: not reviewed — every member was unavailable", file=sys.stderr)
            return 0
        return EXIT_NOT_REVIEWED
    return report.exit_code(found.rows, args.fail_on)


def _uses_stdout(args: argparse.Namespace) -> bool:
    return "-" in (args.json, args.sarif)


def _write(args: argparse.Namespace, found: findings_table.FindingsTable) -> None:
    unparsed = [name for name, status in found.parsed.items() if status == "unparsed"]
    if args.json:
        _emit(args.json, report.to_json(found.rows, found.unavailable, unparsed))
    if args.sarif:
        _emit(args.sarif, report.to_sarif(found.rows, __version__))


def _emit(where: str, document: dict[str, Any]) -> None:
    text = redact_credentials(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
    if where == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(where).write_text(text, encoding="utf-8")


def _fail(message: str, code: int) -> int:
    print(f"codex-fusion: {redact_credentials(message)}", file=sys.stderr)
    return code
