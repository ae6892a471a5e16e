"""Merged findings for pipelines: JSON, and SARIF 2.1.0 for code-scanning annotations. Pure.

Each SARIF result carries its file (a workspace-relative URI) and lines; the members that raised it
and at what severity are in the message and in ``properties``. A finding located at a plan step has
no file, so it has no location.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from codex_fusion.review.findings import SEVERITIES, Merged

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
RULE = "codex-fusion/finding"
#: SARIF's levels: critical and major fail a check run; minor warns; a nit is a note.
LEVELS = {"critical": "error", "major": "error", "minor": "warning", "nit": "note"}


def to_json(rows: Sequence[Merged], unavailable: dict[str, str], unparsed: Sequence[str]) -> dict[str, Any]:
    return {
        "version": 1,
        "findings": [
            {
                "id": row.id,
                "severity": row.severity,
                "path": row.path,
                "start_line": row.start,
                "end_line": row.end,
                "step": row.step,
                "claim": row.claim,
                "evidence": row.evidence,
                "raised_by": [
                    {
                        "member": r.member,
                        "severity": r.finding.severity,
                        "location": r.finding.location,
                        "claim": r.finding.claim,
                    }
                    for r in row.raised
                ],
                "lone": row.lone,
            }
            for row in rows
        ],
        "unavailable": dict(unavailable),
        "not_parsed": list(unparsed),
    }


def to_sarif(rows: Sequence[Merged], version: str) -> dict[str, Any]:
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "codex-fusion",
                        "version": version,
                        "rules": [
                            {
                                "id": RULE,
                                "shortDescription": {"text": "A finding of a council review"},
                                "helpUri": "https://github.com/codex-fusion/codex-fusion#findings",
                            }
                        ],
                    }
                },
                "results": [_result(row) for row in rows],
            }
        ],
    }


def _result(row: Merged) -> dict[str, Any]:
    who = ", ".join(f"{r.member} ({r.finding.severity})" for r in row.raised)
    text = f"[{row.severity}] {row.claim}" + (f" Evidence: {row.evidence}" if row.evidence else "")
    result: dict[str, Any] = {
        "ruleId": RULE,
        "level": LEVELS[row.severity],
        "message": {"text": f"{text} (raised by {who})"},
        "properties": {
            "id": row.id,
            "severity": row.severity,
            "raisedBy": [r.member for r in row.raised],
            "lone": row.lone,
        },
    }
    if row.path is not None:
        location: dict[str, Any] = {"artifactLocation": {"uri": quote(row.path)}}
        if row.start is not None:
            location["region"] = {"startLine": row.start, "endLine": max(row.end or row.start, row.start)}
        result["locations"] = [{"physicalLocation": location}]
    return result


def exit_code(rows: Sequence[Merged], fail_on: str | None) -> int:
    """1 when a finding at or above ``fail_on`` exists, else 0."""
    if fail_on is None:
        return 0
    rank = SEVERITIES.index(fail_on)
    return 1 if any(SEVERITIES.index(row.severity) <= rank for row in rows) else 0
