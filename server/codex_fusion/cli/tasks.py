"""``codex-fusion task list | show ID | accept ID | rework ID --notes … | discard ID | retry ID``.

The same delegated tasks the ``task`` tool works on, from a terminal, sharing the server's task store
(``<state>/tasks``, ``tasks/store.py``) while a server runs:

- ``list`` and ``show`` read the records as they are on disk and take no lock (a record is replaced
  atomically, so a read never sees half of one).
- ``accept``, ``rework``, ``discard`` and ``retry`` act through a
  :class:`~codex_fusion.tasks.manager.TaskManager` of their own, which takes each task's lock the way
  a server does at start. A task a running server holds (a Claude Code window on this workspace) is
  refused with where to act instead: two processes never drive one task.
- ``rework`` and ``retry`` run the member in the foreground until the task settles, as ``ask`` does;
  a request the member makes is shown whole and the person at the terminal answers it (denied when
  stdin is not a terminal). Ctrl-C stops it: the task is then *interrupted*, and ``retry`` goes on.

While a command holds tasks (the seconds of an accept, the minutes of a rework) a Claude Code window
that starts on the workspace does not see them until it restarts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import anyio

from codex_fusion.errors import ConfigError, FusionError
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.planning import configure
from codex_fusion.member.turn import Pause
from codex_fusion.tasks import render
from codex_fusion.tasks.manager import TaskManager
from codex_fusion.tasks.record import TaskRecord
from codex_fusion.tasks.store import TaskLock, TaskStore
from codex_fusion.tasks.table import TaskState
from codex_fusion.tasks.task import Task
from codex_fusion.text.redact import redact_credentials

EXIT_FAILURE = 1
EXIT_USAGE = 2
#: How much of a patch a terminal shows (the whole of it is in the file named).
PATCH_SHOWN = 20_000
MemberFor = Callable[[str, Path], MemberSpec]
#: How a member's request is put to the person at the terminal (``main._ask_person``).
Ask = Callable[[Pause], Awaitable[tuple[Literal["allow", "deny"], str | None]]]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``task`` and its actions, on the main parser."""
    parser = sub.add_parser("task", help="delegated tasks: list, show, accept, rework, discard, retry")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="this workspace's tasks")
    for name, said in (
        ("show", "a task's state, report, checks and patch"),
        ("accept", "apply its reviewed patch to the workspace (all or nothing; never commits)"),
        ("discard", "stop it and remove its copy"),
    ):
        action = actions.add_parser(name, help=said)
        action.add_argument("id", help="e.g. t1")
    accept = actions.choices["accept"]
    accept.add_argument("--force", action="store_true", help="accept past failed checks (needs --notes)")
    accept.add_argument("--notes", help="with --force: why (logged with the task)")
    rework = actions.add_parser("rework", help="send notes back to the same session and copy (3 at most)")
    rework.add_argument("id")
    rework.add_argument("--notes", required=True, help="what to change")
    retry = actions.add_parser(
        "retry", help="a blocked, interrupted or failed task runs again, reworks reset"
    )
    retry.add_argument("id")
    retry.add_argument("--notes", help="what to do differently")


def _config() -> tuple[Config, Path, TaskStore]:
    config = configure()
    if config.workspace.path is None:
        raise ConfigError(config.workspace.error or "no workspace: set CODEX_FUSION_WORKSPACE")
    if config.state_dir is None:
        raise ConfigError("no data directory: run the plugin's bin/codex-fusion, or set CLAUDE_PLUGIN_DATA")
    return config, config.workspace.path, TaskStore(config.state_dir)


def _line(record: TaskRecord) -> str:
    parts = [record.id, str(record.state), record.member]
    if record.state in (TaskState.REVIEW, TaskState.BLOCKED):
        failed = len(record.failed_checks)
        parts.append(f"{record.file_count} file(s)")
        parts.append(f"{failed} check(s) failed" if failed else "checks passed")
    text = " ".join(record.brief.task.split())
    return " · ".join(parts) + f" · “{text[:69] + '…' if len(text) > 70 else text}”"


def list_tasks(store: TaskStore, workspace: Path) -> str:
    records = store.records(workspace)
    if not records:
        return f"No tasks for {workspace}."
    return "\n".join(_line(record) for record in records)


def show(store: TaskStore, workspace: Path, task_id: str) -> str:
    record = next((r for r in store.records(workspace) if r.id == task_id.strip().lower()), None)
    if record is None:
        raise FusionError(f"No task {task_id!r} for {workspace}: `codex-fusion task list` lists them.")
    return _text(store, Task(record, store.directory(record.id), TaskLock(None)))  # a view: no lock


def _text(store: TaskStore, task: Task) -> str:
    record = task.record
    if record.state in (TaskState.REVIEW, TaskState.BLOCKED):
        summary = store.read_text(record.id, "summary.txt", 64_000) or ""
        patch = store.read_text(record.id, "patch.diff", 4 * PATCH_SHOWN + 4) or ""
        path = task.directory / "patch.diff"
        return render.review(task, redact_credentials(summary), patch[: PATCH_SHOWN + 1], PATCH_SHOWN, path)
    if record.state is TaskState.INTERRUPTED:
        return render.interrupted(task)
    if record.state is TaskState.RUNNING:
        return (
            f"Task {record.id} · running · {record.member}: a codex-fusion server drives it (if none runs, "
            "it is interrupted: `retry` it)."
        )
    return render.finished(task)


def _held(store: TaskStore, workspace: Path, manager: TaskManager, task_id: str) -> Task:
    """The task, which this process now holds; a FusionError when another process holds it."""
    wanted = task_id.strip().lower()
    if wanted in manager.tasks:
        return manager.tasks[wanted]
    if any(record.id == wanted for record in store.records(workspace)):
        raise FusionError(
            f"Task {wanted} is held by a running codex-fusion server (a Claude Code window on this "
            "workspace): act on it there with the `task` tool, or close that window and try again."
        )
    return manager.get(wanted)  # its error lists the tasks there are


async def act(args: argparse.Namespace, ask: Ask, member_for: MemberFor | None = None) -> str:
    """Run one mutating action; returns what to print. ``ask(pause)`` answers a member's request."""
    config, workspace, store = _config()
    failure: FusionError | None = None
    async with TaskManager(config, member_for=member_for) as manager:
        try:
            return await _act(args, ask, store, workspace, manager)
        except FusionError as exc:
            failure = exc  # raised outside the manager's task group: an error, not an ExceptionGroup
    assert failure is not None
    raise failure


async def _act(
    args: argparse.Namespace, ask: Ask, store: TaskStore, workspace: Path, manager: TaskManager
) -> str:
    task = _held(store, workspace, manager, args.id)
    if args.action == "accept":
        return render.accepted(await manager.accept(task, force=args.force, reason=args.notes))
    if args.action == "discard":
        return render.finished(await manager.discard(task))
    if args.action == "rework":
        await manager.rework(task, args.notes)
    else:
        await manager.retry(task, args.notes, by="the terminal")
    await _follow(manager, task, ask)
    return _text(store, task)


async def _follow(manager: TaskManager, task: Task, ask: Ask) -> None:
    """Until the task settles for good: each request the member makes is put to the person."""
    while True:
        await manager.wait(task, 24 * 3600)
        if task.pause is None:
            return
        decision, note = await ask(task.pause)
        await manager.permit(task, decision, note, None)


def run(args: argparse.Namespace, ask: Ask, member_for: MemberFor | None = None) -> int:
    """``codex-fusion task …``; the exit status."""
    try:
        if args.action in ("list", "show"):
            _, workspace, store = _config()
            text = list_tasks(store, workspace) if args.action == "list" else show(store, workspace, args.id)
        else:
            text = anyio.run(act, args, ask, member_for)
    except KeyboardInterrupt:
        print("\ncodex-fusion: interrupted (the task is interrupted: `retry` goes on)", file=sys.stderr)
        return 130
    except ConfigError as exc:
        print(f"codex-fusion: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FusionError as exc:
        print(f"codex-fusion: {redact_credentials(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    print(text)
    return 0
