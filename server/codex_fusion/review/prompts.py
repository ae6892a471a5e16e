"""The prompts of a diff review: ``review_diff``, its parts, and the review gate's review.

Pure functions of collected material (:class:`~codex_fusion.review.diffs.DiffMaterial`); the frame
and the shared blocks come from :mod:`codex_fusion.text.prompts`.
"""

from __future__ import annotations

from codex_fusion.review import filelist
from codex_fusion.review.diffs.material import DiffMaterial
from codex_fusion.text.prompts import FINDINGS_BLOCK, Brief, answer_format, block


def _changes(material: DiffMaterial) -> tuple[str, str]:
    """The ``<changes>`` summary of collected material, and its ``<left_out>`` note."""
    summary = filelist.listing(material.files)  # bounded: thousands of files are summarised
    return block("changes", f"{material.description}\n{summary}"), block("left_out", material.omitted_note)


def review_diff(material: DiffMaterial | None, diff: str | None, focus: str | None) -> Brief:
    """A code review of changes: collected by the server (``material``) or passed by Claude (``diff``)."""
    if material is not None:
        changes, note = _changes(material)
        text = material.text
    else:
        changes, note, text = "", "", diff or ""
    files = tuple((f.path, f.old_path) for f in material.files) if material is not None else ()
    return Brief(
        "review_diff",
        (
            "<task>\nReview these changes as a careful senior reviewer. Read the surrounding code "
            "where the diff alone does not tell you enough.\n</task>",
            changes,
            block("diff", text),
            note,
            block("focus", focus),
            answer_format(
                "Findings by severity (blocker, major, minor), each with file:line, what is wrong and "
                "the fix. If there are no real issues, say so plainly; do not invent nits.\n" + FINDINGS_BLOCK
            ),
        ),
        files=files,
    )


def gate_review(material: DiffMaterial) -> Brief:
    """The review gate's review of what one of Claude's turns changed, in a format it can parse
    (``gate.parse_findings``): Claude is blocked from stopping on the serious findings."""
    changes, note = _changes(material)
    return Brief(
        "review_diff",
        (
            "<task>\nClaude is about to end its turn; these are the changes it made in the turn. Review "
            "them as a careful senior reviewer, reading the surrounding code where the diff alone does "
            "not tell you enough. Report only real problems: bugs, security holes, broken behaviour, "
            "missing error handling that matters. Claude will be asked to fix what you report as "
            "blocker or major, so do not inflate severities and do not invent nits.\n</task>",
            changes,
            block("diff", material.text),
            note,
            answer_format(
                "One line per finding, exactly:\n"
                "FINDING: <blocker|major|minor> <path>:<line> — <what is wrong; the fix>\n"
                "With no findings, the single line `FINDING: none`. Then the VERDICT line."
            ),
        ),
    )
