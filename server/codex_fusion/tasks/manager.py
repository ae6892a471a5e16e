"""The server's delegated tasks: start, wait, permit, accept, rework, discard; restart and clean-up.

Each task owns a worktree (``worktree.py``) and, while it can still change, one member's conversation
— a :class:`~codex_fusion.member.conversation.Member` whose root is the worktree, with the member's
write-capable launch (``planning.task_member``) and the task frame. That conversation lives in a *host*
task of the manager's task group, so it outlives the tool call that started it: ``delegate`` returns
while the member works, and ``rework`` goes to the same session. Each turn is driven by a *driver*
task that waits on it (the idle bound runs there) and, when it ends, computes the patch, runs the
checks and moves the task to review. A pause waits for Claude's ``permit``, as in a consult.

The state moves only through :func:`~codex_fusion.tasks.table.next_state`, under the task's own lock;
every move is saved to disk at once (``store.py``). Knows nothing about MCP.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import posixpath
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

import anyio

from codex_fusion.acp.agent import Spawn, spawn_process
from codex_fusion.errors import ConsultError, FusionError, TaskError
from codex_fusion.guardian.permissions import check_ref, parse_ref
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.planning import task_member
from codex_fusion.member.reports import Reopen
from codex_fusion.member.signal import Changes
from codex_fusion.tasks import brief as prompts
from codex_fusion.tasks import patchset, retry, worktree
from codex_fusion.tasks.apply import apply
from codex_fusion.tasks.book import TaskBook
from codex_fusion.tasks.checks import unsafe_path
from codex_fusion.tasks.host import Hosts
from codex_fusion.tasks.record import TaskBrief, TaskRecord
from codex_fusion.tasks.settle import GIT_TIMEOUT_S
from codex_fusion.tasks.store import TREE, TaskStore
from codex_fusion.tasks.table import TaskEvent, TaskState, next_state, rework_event
from codex_fusion.tasks.task import Accepted, Answer, Task

log = logging.getLogger(__name__)

#: Tasks that may be open at once (each runs an agent of its own).
MAX_OPEN: Final = 8
#: Bound on git's work for one copy or patch (a hang detector).

MemberFor = Callable[[str, Path], MemberSpec]


class TaskManager(TaskBook):
    """Use as ``async with TaskManager(config, spawn=…, request_ids=…) as tasks:``."""

    def __init__(
        self,
        config: Config,
        *,
        spawn: Spawn = spawn_process,
        request_ids: itertools.count[int] | None = None,
        member_for: MemberFor | None = None,
    ) -> None:
        super().__init__(config, TaskStore(config.state_dir) if config.state_dir is not None else None)
        self._spawn = spawn
        self._request_ids = request_ids if request_ids is not None else itertools.count(1)
        self._member_for = member_for if member_for is not None else functools.partial(task_member, config)
        #: Every task member's turns tell it of their updates (progress reads the tasks then).
        self.changes = Changes()
        #: Tasks whose workspace copy is being made (not yet in ``tasks``): progress reads them.
        self.copying: dict[str, Task] = {}
        self._stack = AsyncExitStack()
        self._hosts: Hosts | None = None
        self._apply = anyio.Lock()
        #: What start-up found: tasks interrupted by the last stop, directories cleaned up.
        self.interrupted: list[str] = []
        self.cleaned: list[str] = []

    async def __aenter__(self) -> TaskManager:
        tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._hosts = Hosts(
            self.config,
            self._store,
            tg,
            spawn=self._spawn,
            request_ids=self._request_ids,
            changes=self.changes,
        )
        workspace = self.config.workspace.path
        if self._store is not None and workspace is not None:
            try:
                found = await anyio.to_thread.run_sync(self._store.adopt, workspace)
            except OSError as exc:
                log.warning("cannot look at earlier tasks: %s", exc)
            else:
                for record, lock in found.records:
                    self.tasks[record.id] = Task(record, self._store.directory(record.id), lock)
                self.interrupted, self.cleaned = found.interrupted, found.removed
                if found.interrupted or found.removed:
                    log.info("tasks: %s interrupted; cleaned up %s", found.interrupted, found.removed)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A running task stays "running" on disk: the next start reports it interrupted.
        assert self._hosts is not None
        self._hosts.closing = True
        self._hosts.cancel()  # drivers and hosts; each host closes its conversation, shielded
        await self._stack.__aexit__(exc_type, exc, tb)
        for task in self.tasks.values():
            task.lock.release()

    def share_request_ids(self, request_ids: itertools.count[int]) -> None:
        """Number pauses from the council's counter, so a request id names one request everywhere."""
        self._request_ids = request_ids
        if self._hosts is not None:
            self._hosts.request_ids = request_ids

    # -- delegate --------------------------------------------------------------------------------

    async def delegate(self, brief: TaskBrief, member: str) -> Task:
        """Start a task: claim its id, copy the workspace, open the member's session in the copy and
        send the brief. Returns as soon as the member is working. While the copy runs the task is in
        :attr:`copying`, its stage the copy's progress line (``changes`` is told of each)."""
        store, workspace = self._require()
        brief = _checked(brief)
        if len(self.open_tasks()) >= MAX_OPEN:
            raise TaskError(
                f"{MAX_OPEN} tasks are open already: accept or discard one first (`status` lists them)."
            )
        task_id, directory, lock = await anyio.to_thread.run_sync(store.claim)
        record = TaskRecord(task_id, str(workspace), member, brief, created=time.time())
        task = Task(record, directory, lock, stage="copying the workspace")
        self.copying[task_id] = task
        try:
            await anyio.to_thread.run_sync(store.save, record)
            spec = await anyio.to_thread.run_sync(self._member_for, member, directory / TREE)
            snapshot = await worktree.create(
                workspace,
                directory,
                base=brief.base,
                timeout=GIT_TIMEOUT_S,
                allow_foreign_gitdir=self.config.allow_foreign_gitdir,
                progress=_copy_progress(task, self.changes),
                paths=brief.paths,
            )
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.remove, task_id)
            lock.release()
            if isinstance(exc, FusionError):
                raise TaskError(f"The task could not start: {exc}") from None
            raise
        finally:
            self.copying.pop(task_id, None)
        record.base, record.base_label, record.skipped = snapshot.base, snapshot.label, snapshot.skipped
        await anyio.to_thread.run_sync(store.save, record)
        self.tasks[task_id] = task
        await self._hosts_().open(task, spec)
        first = prompts.task(brief, spec.display, snapshot.label)
        log.info("task %s: %s copied %d files (%s); %s works on it", task_id, workspace, snapshot.files,
                 snapshot.label, member)  # fmt: skip
        self._hosts_().drive(task, first)
        return task

    def _hosts_(self) -> Hosts:
        assert self._hosts is not None, "TaskManager used outside `async with`"
        return self._hosts

    def _require(self) -> tuple[TaskStore, Path]:
        workspace = self.config.workspace.path
        if workspace is None:
            raise TaskError(self.config.workspace.error or "No workspace.")
        if self._store is None:
            raise TaskError(
                "Delegating needs codex-fusion's private data directory for the task's copy, and there is "
                "none: set CLAUDE_PLUGIN_DATA or HOME."
            )
        return self._store, workspace

    # -- Claude's answers ------------------------------------------------------------------------

    async def permit(
        self,
        task: Task,
        decision: Literal["allow", "deny", "cancel"],
        note: str | None,
        request: str | None,
    ) -> None:
        """Answer the task's paused request; its turn goes on in the background."""
        pause = task.pause
        if pause is None:
            raise ConsultError(f"Task {task.id} has no pending request. `task` show says where it is.")
        check_ref(parse_ref(request), pause.request, pause.summary)
        task.pause = None
        ref = pause.request.ref
        log.info("task %s: Claude answered %s with %s", task.id, ref, decision)
        self._hosts_().drive(task, Answer(decision, note, ref))

    async def rework(self, task: Task, notes: str) -> Task:
        """Send Claude's notes to the same session, in the same worktree (at most 3 times)."""
        store, _ = self._require()
        if not notes.strip():
            raise TaskError("`notes` is empty: say what the member should change (rework sends only that).")
        async with task.busy:
            record = task.record
            previous = record.state
            event = rework_event(record.reworks)
            state = next_state(record.id, previous, event)
            if state is TaskState.BLOCKED:
                record.state = state
                await anyio.to_thread.run_sync(store.save, record)
                log.info("task %s: blocked after %d reworks", record.id, record.reworks)
                task.notify()
                return task
            if not await anyio.to_thread.run_sync(_is_dir, task.tree):
                raise TaskError(f"Task {task.id}'s worktree is gone: discard it and delegate again.")
            fresh = task.consultant is None
            if fresh:
                spec = await anyio.to_thread.run_sync(self._member_for, record.member, task.tree)
                await self._hosts_().open(task, spec)
                assert task.consultant is not None
                if record.session_id is not None:
                    await task.consultant.adopt(Reopen(record.session_id))
            record.reworks += 1
            record.notes.append(notes.strip())
            record.state = state
            await anyio.to_thread.run_sync(store.save, record)
            assert task.consultant is not None
            name = task.consultant.member.display
            if fresh or previous is TaskState.INTERRUPTED:
                prompt = prompts.resume(record.brief, name, record.base_label, notes, record.reworks)
            else:
                prompt = prompts.rework(notes, record.reworks, record.brief.criteria)
            task.summary = task.patch = None
            self._hosts_().drive(task, prompt)
        task.notify()
        return task

    async def retry(self, task: Task, notes: str | None = None, *, by: str = "Claude") -> Task:
        """A blocked, interrupted or failed task runs again, with a fresh rework budget and a line in
        its history (``tasks/retry.py`` decides when and says what to the member)."""
        store, _ = self._require()
        async with task.busy:
            record = task.record
            state = retry.retried_state(record)
            if not await anyio.to_thread.run_sync(_is_dir, task.tree):
                raise TaskError(f"Task {task.id}'s worktree is gone: discard it and delegate again.")
            if task.consultant is None:
                spec = await anyio.to_thread.run_sync(self._member_for, record.member, task.tree)
                await self._hosts_().open(task, spec)
                assert task.consultant is not None
                if record.session_id is not None:
                    await task.consultant.adopt(Reopen(record.session_id))
            assert task.consultant is not None
            brief = retry.prompt(record, task.consultant.member.display, notes)
            record.history.append(retry.history_line(record, by))
            record.reworks, record.state, record.turn_error = 0, state, None
            if notes and notes.strip():
                record.notes.append(notes.strip())
            await anyio.to_thread.run_sync(store.save, record)
            log.info("task %s: %s", record.id, record.history[-1])
            task.summary = task.patch = None
            self._hosts_().drive(task, brief)
        task.notify()
        return task

    async def discard(self, task: Task) -> Task:
        """Stop the member, remove the worktree; the record and the patch stay for ``show``."""
        store, _ = self._require()
        async with task.busy:
            record = task.record
            record.state = next_state(record.id, record.state, TaskEvent.DISCARD)
            await anyio.to_thread.run_sync(store.save, record)
        await self._hosts_().shut(task)
        await anyio.to_thread.run_sync(store.remove_worktree, task.id)
        log.info("task %s discarded", task.id)
        task.notify()
        return task

    async def accept(self, task: Task, *, force: bool, reason: str | None) -> Accepted:
        """Apply the reviewed patch to the workspace, all of it or nothing; never commits."""
        store, workspace = self._require()
        async with self._apply, task.busy:
            record = task.record
            next_state(record.id, record.state, TaskEvent.ACCEPT)  # refuses in any other state
            if not record.result:
                raise TaskError(
                    f"Task {task.id} has no patch to apply (it could not be computed): rework or discard it."
                )
            failed = record.failed_checks
            if failed and not force:
                raise TaskError(
                    f"Accept refused: {len(failed)} check(s) failed — "
                    + "; ".join(f"{f.check}: {f.message}" for f in failed[:8])
                    + ". Read the patch, then rework it, or accept with `force` and your reason in `notes` "
                    "(it is logged)."
                )
            if failed and not (reason or "").strip():
                raise TaskError("`force` needs your reason in `notes` (it is logged with the task).")
            tg = await (await patchset.TaskGit.open(task.directory, GIT_TIMEOUT_S)).locked()
            changes = await patchset.compare(tg, record.base, record.result)  # every file, as reviewed
            applied = await apply(workspace, tg, changes.files)
            if failed:
                record.forced = (reason or "").strip()
                log.warning("task %s accepted past failed checks %s; Claude's reason: %s", task.id,
                            [f.check for f in failed], record.forced)  # fmt: skip
            record.applied = (*applied.written, *(f"{p} (merged)" for p in applied.merged))
            record.state = next_state(record.id, record.state, TaskEvent.ACCEPT)
            await anyio.to_thread.run_sync(store.save, record)
            log.info("task %s accepted: %d files written, %d merged", task.id, len(applied.written),
                     len(applied.merged))  # fmt: skip
        await self._hosts_().shut(task)
        await anyio.to_thread.run_sync(store.remove_worktree, task.id)
        task.notify()
        overlaps, running = self._overlaps(task, [c.path for c in changes.files])
        return Accepted(task, applied, overlaps, running)


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _checked(brief: TaskBrief) -> TaskBrief:
    """The brief with its paths normalised, or TaskError saying what is wrong."""
    if not brief.task.strip():
        raise TaskError("`task` is empty: say what to change, where, and how to tell it is done.")
    paths: list[str] = []
    for raw in brief.paths:
        path = posixpath.normpath(raw.strip().replace("\\", "/")).rstrip("/") if raw.strip() else ""
        why = unsafe_path(path) if path not in ("", ".") else None
        if not raw.strip() or why is not None:
            raise TaskError(
                f"`paths` entry {raw!r} is not usable ({why or 'empty'}): give workspace-relative paths."
            )
        if path not in paths:
            paths.append(path)
    criteria = tuple(c.strip() for c in brief.criteria if c.strip())
    return dataclasses.replace(brief, paths=tuple(paths), criteria=criteria)


def names(tasks: Sequence[Task]) -> str:
    return ", ".join(t.id for t in tasks)


def _copy_progress(task: Task, changes: Changes) -> Callable[[str], None]:
    """The copy's progress line becomes the task's stage (what ``status`` and progress read)."""

    def tell(line: str) -> None:
        task.stage = line
        changes.notify()

    return tell
