"""What a member taking a task is told (pure): its frame, the task brief, a rework.

The frame replaces the consult frame for a task's session (a consultant is told never to change
anything; a task's member is told to). Every brief repeats what matters, since an agent without a
system prompt sees only the briefs.
"""

from __future__ import annotations

from collections.abc import Sequence

from codex_fusion.tasks.record import TaskBrief
from codex_fusion.tasks.table import MAX_REWORKS
from codex_fusion.text.prompts import Brief, Frame, block

ROLE = """<role>
You are {name}, taking a task delegated by Claude, another coding agent. Claude reviews your work as a
patch before any of it reaches the user's files: do the task well, and report truthfully.
</role>"""

WORKTREE = """<worktree>
- You work in a private copy of the project (your working directory). Change files here freely; run
  builds and tests here. Nothing outside it is writable, and there is no network.
- Only files git tracks or would track were copied: ignored ones (node_modules, .venv, build output)
  are missing, and there is no git history (git commands do not work here). If a test cannot run
  for lack of them, say so in TESTS instead of working around it.
- Change only what the task needs, within the allowed paths. Do not touch CI, agent or editor
  settings, git hooks or .gitattributes unless the task asks for it.
- If you truly need something outside (a path, the network, a package), request escalated
  permissions with a justification; Claude decides.
</worktree>"""

REPORT = """<report>
End your final answer with exactly these four lines (each may go on over more lines):
SUMMARY: <what you changed and why>
TESTS: <each command you ran and its result: passed, failed (how), or not run (why)>
CRITERIA: <each criterion by its number: met or not met, with the evidence>
FILES: <every file you changed, comma-separated>
</report>"""


def frame(name: str) -> Frame:
    """The frame of a task's session for member ``name`` (its system prompt where it takes one)."""
    return Frame((ROLE.format(name=name), WORKTREE, REPORT))


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{number}. {item.strip()}" for number, item in enumerate(items, start=1))


def task(brief: TaskBrief, name: str, base_label: str) -> Brief:
    """The first prompt of a task: the frame (for agents without a system prompt), then the task."""
    paths = "\n".join(f"- {p}" for p in brief.paths) if brief.paths else None
    return Brief(
        "delegate",
        (
            ROLE.format(name=name),
            WORKTREE,
            block("task", brief.task),
            block("allowed_paths", paths and f"Change files only under:\n{paths}"),
            block("acceptance_criteria", _numbered(brief.criteria) if brief.criteria else None),
            block("constraints", brief.constraints),
            block("copy", f"The copy holds {base_label}."),
            REPORT,
        ),
        debate=False,
        framed=False,
    )


def rework(notes: str, number: int, criteria: Sequence[str]) -> Brief:
    """Claude's notes on the patch it reviewed: the same session, the same worktree."""
    again = block("acceptance_criteria", _numbered(criteria)) if criteria else ""
    return Brief(
        "rework",
        (
            block(
                "rework",
                f"Rework {number} of {MAX_REWORKS}. Claude reviewed your patch and asks for changes. The "
                f"worktree still holds your work; change it as asked.\n\nClaude's notes:\n{notes.strip()}",
            ),
            again,
            REPORT,
        ),
        debate=False,
        framed=False,
    )


def resume(brief: TaskBrief, name: str, base_label: str, notes: str | None, number: int) -> Brief:
    """After a restart interrupted the task (the session may be a new one): the task again, and that
    the worktree holds what was done so far."""
    said = f"\n\nClaude's notes:\n{notes.strip()}" if notes and notes.strip() else ""
    first = task(brief, name, base_label)
    interrupted = block(
        "interrupted",
        f"Rework {number} of {MAX_REWORKS}. Your work on this task was interrupted (codex-fusion restarted). "
        f"The worktree holds what had been done; look at it, finish the task and report.{said}",
    )
    return Brief("rework", (*first.blocks[:-1], interrupted, REPORT), debate=False, framed=False)
