"""Every text Claude reads about a delegated task (pure). The first line always names it: ``Task <id>``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from codex_fusion.hookside.visible import one_line, visible
from codex_fusion.member import render
from codex_fusion.member.turn import Pause
from codex_fusion.tasks.record import FileChange, Finding, TaskRecord
from codex_fusion.tasks.table import MAX_REWORKS, TaskState
from codex_fusion.tasks.task import Accepted, Task

SUMMARY_CHARS = 6_000


def _who(record: TaskRecord) -> str:
    return render.who(record.member)


def _stat(record: TaskRecord) -> str:
    added = sum(f.added or 0 for f in record.files)
    removed = sum(f.removed or 0 for f in record.files)
    count = record.file_count or len(record.files)
    return f"{count} file{'s' if count != 1 else ''} +{added} −{removed}"


def _block(text: str, limit: int) -> str:
    text = text.strip()
    return (
        text
        if len(text) <= limit
        else text[:limit].rstrip() + "\n[… cut; the whole answer is in the task's summary.txt]"
    )


def _names(paths: Sequence[str]) -> str:
    return ", ".join(visible(path) for path in paths)


def _quote(text: str) -> str:
    return one_line(" ".join(text.split()), 70)


def _task_line(task: Task, now: float | None = None) -> str:
    record = task.record
    parts = [f"{record.id}", str(record.state), record.member]
    if record.state is TaskState.RUNNING:
        elapsed = (now or time.monotonic()) - task.started
        parts[1] = f"running {elapsed:.0f}s"
        if task.pause is not None:
            parts.append(f"paused on {task.pause.request.ref}: `permit` it")
        elif task.progress:
            parts.append(one_line(task.progress, 60))
    elif record.state in (TaskState.REVIEW, TaskState.BLOCKED):
        parts.append(_stat(record))
        failed = len(record.failed_checks)
        parts.append(f"{failed} check{'s' if failed != 1 else ''} failed" if failed else "checks passed")
    elif record.state is TaskState.ACCEPTED:
        parts.append(f"{len(record.applied)} files applied")
    return " · ".join(parts) + f" · “{_quote(record.brief.task)}”"


def listing(tasks: Sequence[Task]) -> str:
    """The tasks block of ``status``: open tasks first, then the latest finished ones."""
    open_ = [t for t in tasks if t.state not in (TaskState.ACCEPTED, TaskState.DISCARDED)]
    done = [t for t in tasks if t not in open_][-3:]
    if not open_ and not done:
        return "tasks: none (`delegate` starts one)"
    lines = [f"tasks: {len(open_)} open" + (f", {len(done)} finished shown" if done else "")]
    lines += [f"- {_task_line(t)}" for t in (*open_, *done)]
    return "\n".join(lines)


def findings(items: Sequence[Finding]) -> list[str]:
    failed = [f for f in items if f.failed]
    notes = [f for f in items if not f.failed]
    if not items:
        return ["Checks: ✓ all passed."]
    head = (
        f"Checks: ✗ {len(failed)} failed (accept refuses without `force`)" if failed else "Checks: ✓ passed"
    ) + (f", {len(notes)} note{'s' if len(notes) != 1 else ''}" if notes else "")
    lines = [head + ":"]
    # messages quote paths and the member's report: each stays one line, nothing hidden (issue 25)
    lines += [f"- ✗ {f.check}: {one_line(f.message, 400)}" for f in failed[:30]]
    lines += [f"- · {f.check}: {one_line(f.message, 400)}" for f in notes[:15]]
    if len(failed) > 30 or len(notes) > 15:
        lines.append("- … (more in the patch file)")
    return lines


def diffstat(files: Sequence[FileChange], total: int) -> list[str]:
    if not files:
        return []
    names = [visible(f.path) for f in files[:60]]  # a name with a line break cannot forge a line
    width = min(60, max(len(name) for name in names))
    lines = [f"Files ({total}):"]
    for change, name in zip(files[:60], names, strict=True):
        counts = "binary" if change.binary else f"+{change.added or 0} −{change.removed or 0}"
        kind = {"120000": " (symlink)", "160000": " (submodule)"}.get(change.new_mode, "")
        lines.append(f" {change.status} {name:<{width}} {counts}{kind}")
    if total > 60:
        lines.append(f" … and {total - 60} more (all in the patch file)")
    return lines


def running(task: Task) -> str:
    record = task.record
    elapsed = time.monotonic() - task.started
    attempt = f" · rework {record.reworks}/{MAX_REWORKS}" if record.reworks else ""
    last = f" · last: {one_line(task.progress, 120)}" if task.progress else ""
    return (
        f"Task {record.id} · running · {_who(record)}{attempt} · {elapsed:.0f}s{last}\n"
        f"{_who(record)} works in its own copy of the workspace; nothing in your workspace has changed.\n"
        f'Next: `task` {{"id": "{record.id}", "action": "show", "wait_s": 600}} waits for the result (a long '
        "wait runs in the background and you are notified); `status` lists every task. Go on with other "
        "work meanwhile."
    )


def paused(task: Task, pause: Pause, shown: str) -> str:
    record = task.record
    return (
        f"Task {record.id} · running · {_who(record)} is paused on request {pause.request.ref}; the task "
        f"waits for your `permit` (nothing in your workspace has changed).\n{shown}"
    )


def review(task: Task, summary: str, patch: str, limit: int, patch_file: Path) -> str:
    record = task.record
    blocked = record.state is TaskState.BLOCKED
    state = "blocked (reworks used up)" if blocked else "review"
    lines = [
        f"Task {record.id} · {state} · {_who(record)} · {_stat(record)} · reworks {record.reworks}/"
        f"{MAX_REWORKS} · {record.elapsed:.0f}s",
        f"Nothing in your workspace has changed: this is a patch for you to review. The copy held "
        f"{record.base_label}.",
    ]
    if record.skipped:
        lines.append(f"Not copied: {_names(record.skipped[:10])}.")
    lines += ["", f"{_who(record)}'s report:", _block(summary, SUMMARY_CHARS) or "(no answer)", ""]
    lines += findings(record.findings)
    lines += ["", *diffstat(record.files, record.file_count)]
    if patch:
        whole = len(patch) <= limit
        size = f"{record.patch_chars:,} characters"
        lines += [
            "",
            f"Patch ({size}{'' if whole else f', the first {limit:,} shown'}; the whole of it is in "
            f"{patch_file}{'' if whole else ': read it before you accept'}):",
            render.fenced(patch if whole else patch[:limit] + "\n…"),
        ]
    if record.history:
        lines += ["", "History:", *(f"- {line}" for line in record.history[-5:])]
    if blocked:
        lines.append(
            f"\nThe {MAX_REWORKS} reworks are used: accept it as it is (if it is good enough), "
            f'`task` {{"id": "{record.id}", "action": "retry", "notes": "…"}} to let it go on with a fresh '
            "budget (recorded in its history), or discard it and delegate again with a sharper brief."
        )
    else:
        left = MAX_REWORKS - record.reworks
        lines.append(
            f'\nNext: read the patch. Then `task` {{"id": "{record.id}", "action": "accept"}} applies it to '
            'your workspace (all of it or nothing; never committed), "rework" with `notes` sends it back '
            f'({left} of {MAX_REWORKS} left), "discard" drops it. Never accept a patch you have not read.'
        )
    return "\n".join(lines)


def interrupted(task: Task) -> str:
    record = task.record
    return (
        f"Task {record.id} · interrupted · {_who(record)}: codex-fusion stopped while it ran. The worktree "
        "keeps what was done; nothing in your workspace has changed.\n"
        f'Next: `task` {{"id": "{record.id}", "action": "rework", "notes": "…"}} lets it finish (the same '
        'session when the agent can reopen it), "retry" (the same, with a fresh rework budget), or "discard".'
    )


def accepted(result: Accepted) -> str:
    record = result.task.record
    applied = result.applied
    lines = [
        f"Task {record.id} · accepted · {len(applied.written) + len(applied.merged)} file(s) written to your "
        "workspace, not staged and not committed."
    ]
    if applied.merged:
        lines.append(
            f"Merged with your own changes since the task started (check them): {_names(applied.merged)}."
        )
    if applied.already:
        lines.append(f"Already as the patch has them: {_names(applied.already[:10])}.")
    if record.forced:
        lines.append(f"Accepted past failed checks; your reason (logged): {render.clip(record.forced, 300)}")
    for other, state, common in result.overlaps:
        lines.append(
            f"Overlap: task {other} ({state}) changes {_names(common[:8])} too — its patch was made "
            f"without this one; `task` show {other}, and rework or discard it if accept refuses."
        )
    if result.running:
        lines.append(
            f"Still running: {', '.join(result.running)} — their patches are checked against your workspace "
            "when you accept them."
        )
    lines.append("Next: run the tests, then review and commit the change yourself.")
    return "\n".join(lines)


def finished(task: Task) -> str:
    record = task.record
    if record.state is TaskState.ACCEPTED:
        return (
            f"Task {record.id} · accepted · {len(record.applied)} file(s) applied: "
            f"{_names(record.applied[:20])}."
        )
    return f"Task {record.id} · discarded: its worktree and session are gone; the record stays for `status`."
