"""The server's delegated tasks: start, wait, permit, accept, rework, discard; restart and clean-up.

Each task owns a worktree (``worktree.py``) and, while it can still change, one member's conversation
— a :class:`~codex_fusion.member.consultant.Consultant` whose root is the worktree, with the member's
write-capable launch (``Config.task_member``) and the task frame. That conversation lives in a *host*
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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codex_fusion.acp.agent import Spawn, spawn_process
from codex_fusion.acp.schema import SessionUpdate
from codex_fusion.errors import ConsultError, FusionError, TaskError
from codex_fusion.guardian.permissions import check_ref, parse_ref
from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.mcp import progress
from codex_fusion.member.consultant import Consultant, Reopen
from codex_fusion.member.turn import Pause, Turn, TurnObserver, TurnOutcome, TurnResult
from codex_fusion.tasks import brief as prompts
from codex_fusion.tasks import worktree
from codex_fusion.tasks.apply import Applied, apply
from codex_fusion.tasks.checks import check_patch, unsafe_path
from codex_fusion.tasks.record import Finding, TaskBrief, TaskRecord
from codex_fusion.tasks.store import MAX_SUMMARY_CHARS, PATCH, SUMMARY, TREE, TaskLock, TaskStore
from codex_fusion.tasks.table import TERMINAL, TaskEvent, TaskState, next_state, rework_event
from codex_fusion.text.prompts import Brief
from codex_fusion.text.redact import credentials_in, redact_credentials

log = logging.getLogger(__name__)

#: Tasks that may be open at once (each runs an agent of its own).
MAX_OPEN: Final = 8
#: A task's idle bound: builds and test suites can be silent for long.
TASK_IDLE_S: Final = 1_800.0
#: Bound on git's work for one copy or patch (a hang detector).
GIT_TIMEOUT_S: Final = 300.0

MemberFor = Callable[[str, Path], MemberSpec]
Step = Callable[..., Awaitable[TurnResult]]  # (consultant, observe=…) → the turn's next pause or end


@dataclass
class Task:
    """One task of this server: its record and, while it can change, its member's conversation."""

    record: TaskRecord
    directory: Path
    lock: TaskLock
    consultant: Consultant | None = None
    pause: Pause | None = None
    progress: str | None = None
    started: float = field(default_factory=time.monotonic)  # the current attempt
    summary: str | None = None  # the member's last answer (read from disk after a restart)
    patch: str | None = None  # the patch as shown (likewise)
    listener: Callable[[str], None] | None = None  # the progress line of whoever waits now
    changed: anyio.Event = field(default_factory=anyio.Event)
    busy: anyio.Lock = field(default_factory=anyio.Lock)
    _close: anyio.Event | None = None
    _closed: anyio.Event | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> TaskState:
        return self.record.state

    @property
    def tree(self) -> Path:
        return self.directory / TREE

    @property
    def settled(self) -> bool:
        """Nothing to wait for: not running, or paused for Claude."""
        return self.record.state is not TaskState.RUNNING or self.pause is not None

    def notify(self) -> None:
        event, self.changed = self.changed, anyio.Event()
        event.set()


@dataclass(frozen=True)
class Accepted:
    task: Task
    applied: Applied
    overlaps: tuple[tuple[str, str, tuple[str, ...]], ...]  # (task id, its state, files in common)
    running: tuple[str, ...]  # tasks still running: their patches are not known yet


class TaskManager:
    """Use as ``async with TaskManager(config, spawn=…, request_ids=…) as tasks:``."""

    def __init__(
        self,
        config: Config,
        *,
        spawn: Spawn = spawn_process,
        request_ids: itertools.count[int] | None = None,
        member_for: MemberFor | None = None,
    ) -> None:
        self.config = config
        self._spawn = spawn
        self._request_ids = request_ids if request_ids is not None else itertools.count(1)
        self._member_for = member_for if member_for is not None else config.task_member
        self._store = TaskStore(config.state_dir) if config.state_dir is not None else None
        self.tasks: dict[str, Task] = {}
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None
        self._apply = anyio.Lock()
        self._closing = False
        # The first agent this server starts for a task starts alone: several Codex processes
        # initialising a fresh CODEX_HOME at once race on its state database ("failed to initialize
        # state runtime"). Once one has started, the others start in parallel.
        self._first_start = anyio.Lock()
        self._started_one = False
        #: What start-up found: tasks interrupted by the last stop, directories cleaned up.
        self.interrupted: list[str] = []
        self.cleaned: list[str] = []

    async def __aenter__(self) -> TaskManager:
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
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
        self._closing = True
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # drivers and hosts; each host closes its conversation, shielded
        await self._stack.__aexit__(exc_type, exc, tb)
        for task in self.tasks.values():
            task.lock.release()

    def share_request_ids(self, request_ids: itertools.count[int]) -> None:
        """Number pauses from the council's counter, so a request id names one request everywhere."""
        self._request_ids = request_ids

    # -- reading ---------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        task = self.tasks.get(task_id.strip().lower())
        if task is None:
            known = ", ".join(self.tasks) or "none"
            raise TaskError(f"No task {task_id!r} in this workspace (tasks: {known}). `status` lists them.")
        return task

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.state not in TERMINAL]

    def holder(self, request: str | None) -> Task | None:
        """The task whose member holds the paused request ``request`` (or the only paused one)."""
        paused = [t for t in self.tasks.values() if t.pause is not None]
        wanted = parse_ref(request)
        if wanted is not None:
            return next(
                (t for t in paused if t.pause is not None and t.pause.request.request_id == wanted), None
            )
        return paused[0] if len(paused) == 1 else None

    def paused(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.pause is not None]

    async def texts(self, task: Task, limit: int) -> tuple[str, str]:
        """The member's summary and the first ``limit`` characters of the patch (from disk if needed)."""
        if self._store is not None and (task.summary is None or task.patch is None):
            store = self._store
            summary = await anyio.to_thread.run_sync(store.read_text, task.id, SUMMARY, 4 * MAX_SUMMARY_CHARS)
            patch = await anyio.to_thread.run_sync(store.read_text, task.id, PATCH, 4 * limit + 4)
            task.summary = task.summary if task.summary is not None else summary or ""
            task.patch = task.patch if task.patch is not None else patch or ""
        return task.summary or "", (task.patch or "")[: limit + 1]

    def patch_path(self, task: Task) -> Path:
        return task.directory / PATCH

    async def wait(self, task: Task, seconds: float) -> None:
        """Until the task settles (review, paused, …) or ``seconds`` pass; the task goes on either way."""
        with anyio.move_on_after(seconds):
            while True:
                event = task.changed
                if task.settled:
                    return
                await event.wait()

    # -- delegate --------------------------------------------------------------------------------

    async def delegate(
        self, brief: TaskBrief, member: str, progress: Callable[[str], None] | None = None
    ) -> Task:
        """Start a task: claim its id, copy the workspace, open the member's session in the copy and
        send the brief. Returns as soon as the member is working; ``progress`` hears the copy's lines."""
        store, workspace = self._require()
        brief = _checked(brief)
        if len(self.open_tasks()) >= MAX_OPEN:
            raise TaskError(
                f"{MAX_OPEN} tasks are open already: accept or discard one first (`status` lists them)."
            )
        task_id, directory, lock = await anyio.to_thread.run_sync(store.claim)
        record = TaskRecord(task_id, str(workspace), member, brief, created=time.time())
        task = Task(record, directory, lock)
        try:
            await anyio.to_thread.run_sync(store.save, record)
            spec = await anyio.to_thread.run_sync(self._member_for, member, directory / TREE)
            snapshot = await worktree.create(
                workspace,
                directory,
                base=brief.base,
                timeout=GIT_TIMEOUT_S,
                allow_foreign_gitdir=self.config.allow_foreign_gitdir,
                progress=_copy_progress(task, progress),
                paths=brief.paths,
            )
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.remove, task_id)
            lock.release()
            if isinstance(exc, FusionError):
                raise TaskError(f"The task could not start: {exc}") from None
            raise
        record.base, record.base_label, record.skipped = snapshot.base, snapshot.label, snapshot.skipped
        await anyio.to_thread.run_sync(store.save, record)
        self.tasks[task_id] = task
        await self._open(task, spec)
        first = prompts.task(brief, spec.display, snapshot.label)
        log.info("task %s: %s copied %d files (%s); %s works on it", task_id, workspace, snapshot.files,
                 snapshot.label, member)  # fmt: skip
        self._drive(task, first)
        return task

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

    # -- the member's conversation ---------------------------------------------------------------

    async def _open(self, task: Task, spec: MemberSpec) -> None:
        assert self._tg is not None
        await self._tg.start(self._host, task, spec)

    async def _host(self, task: Task, spec: MemberSpec, *, task_status: TaskStatus[None]) -> None:
        """Keep the task's conversation open until the task is closed (or the server stops)."""
        flags = dataclasses.replace(self.config.flags, allow_writes=True)  # edits inside the worktree
        config = dataclasses.replace(
            self.config, flags=flags, turn_timeout=max(self.config.turn_timeout, TASK_IDLE_S)
        )
        task._close, task._closed = anyio.Event(), anyio.Event()
        try:
            async with Consultant(
                config,
                spawn=self._spawn,
                member=spec,
                request_ids=self._request_ids,
                workspace=task.tree,
                frame=prompts.frame(spec.display),
            ) as consultant:
                task.consultant = consultant
                task_status.started()
                await task._close.wait()
        finally:
            task.consultant = None
            task._closed.set()

    async def _shut(self, task: Task) -> None:
        """Close the task's conversation: its turn is stopped and its agent with it."""
        if task._close is not None and task._closed is not None:
            task._close.set()
            with anyio.CancelScope(shield=True):
                await task._closed.wait()
        task.pause = None

    def _drive(self, task: Task, brief: Brief) -> None:
        """A new attempt: send ``brief`` to the member; the turn runs in the background."""
        task.started = time.monotonic()
        task.progress = "starting"

        async def send(consultant: Consultant, observe: TurnObserver) -> TurnResult:
            return await consultant.consult(brief, observer=observe, on_start=lambda: _working(task))

        self._step(task, send)

    def _step(self, task: Task, step: Step) -> None:
        def observe(turn: Turn, update: SessionUpdate) -> None:
            line = progress.progress_line(turn, update)
            if line is not None:
                task.progress = line
                if task.listener is not None:
                    task.listener(redact_credentials(line))

        assert self._tg is not None
        self._tg.start_soon(self._turn, task, functools.partial(step, observe=observe))

    async def _turn(self, task: Task, step: Callable[[Consultant], Awaitable[TurnResult]]) -> None:
        """Drive one step of the member's turn; at its end, the patch and the review."""
        consultant = task.consultant
        result: TurnResult | None = None
        failure: str | None = None
        if consultant is None:
            failure = "the member's session is closed"
        else:
            try:
                await self._start_first(consultant)
                result = await step(consultant)
            except FusionError as exc:
                failure = exc.summary
            except Exception as exc:  # a bug serving one task must not sink the server
                log.exception("task %s: the turn failed", task.id)
                failure = f"codex-fusion failed serving the task: {exc!r}"
        if self._closing:
            return
        if isinstance(result, Pause):
            task.pause = result
            task.progress = f"paused on {result.request.ref}"
            task.notify()
            return
        await self._finish(task, result, failure)

    async def _start_first(self, consultant: Consultant) -> None:
        if self._started_one:
            return
        async with self._first_start:
            if not self._started_one:
                await consultant.warm()  # failures surface on the turn, which tries again
                self._started_one = consultant.last_error is None

    async def _finish(self, task: Task, result: TurnResult | None, failure: str | None) -> None:
        store = self._store
        assert store is not None
        async with task.busy:
            record = task.record
            if record.state is not TaskState.RUNNING:
                return  # discarded meanwhile
            task.pause = None
            answer = result.text if isinstance(result, TurnOutcome) else ""
            if isinstance(result, TurnOutcome) and result.stop_reason not in ("end_turn", ""):
                failure = failure or f"it stopped: {result.stop_reason}"
            if task.consultant is not None:
                record.session_id = task.consultant.codex_session or record.session_id
            patch = b""
            try:
                changes = await worktree.changes(task.directory, record.base, GIT_TIMEOUT_S)
            except FusionError as exc:
                failure = (failure + "; " if failure else "") + f"the patch could not be computed: {exc}"
                record.files, record.result = (), ""
            else:
                record.files, record.result, patch = changes.files, changes.result, changes.patch
            text = patch.decode("utf-8", "replace")
            findings = check_patch(
                record.files,
                patch_bytes=len(patch),
                paths=record.brief.paths,
                criteria=record.brief.criteria,
                answer=answer,
                turn_error=failure,
            )
            credentials = credentials_in(text)
            if credentials:
                findings.insert(
                    0,
                    Finding(
                        "credentials", True, f"the patch holds what looks like {', '.join(credentials[:5])}"
                    ),
                )
            record.findings, record.file_count, record.patch_chars = (
                tuple(findings),
                len(record.files),
                len(text),
            )
            record.turn_error, record.elapsed = failure, time.monotonic() - task.started
            record.state = next_state(record.id, record.state, TaskEvent.FINISHED)
            task.summary, task.patch = answer[:MAX_SUMMARY_CHARS], text
            await anyio.to_thread.run_sync(store.write_text, record.id, SUMMARY, task.summary)
            await anyio.to_thread.run_sync(store.write_text, record.id, PATCH, text)
            await anyio.to_thread.run_sync(store.save, record)
            task.progress = None
            log.info("task %s: review, %d files, %d failed checks", record.id, len(record.files),
                     len(record.failed_checks))  # fmt: skip
        task.notify()

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

        async def answer(consultant: Consultant, observe: TurnObserver) -> TurnResult:
            return await consultant.permit(decision, note, request=ref, observer=observe)

        log.info("task %s: Claude answered %s with %s", task.id, ref, decision)
        task.progress = "working"
        self._step(task, answer)

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
                await self._open(task, spec)
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
            self._drive(task, prompt)
        task.notify()
        return task

    async def discard(self, task: Task) -> Task:
        """Stop the member, remove the worktree; the record and the patch stay for ``show``."""
        store, _ = self._require()
        async with task.busy:
            record = task.record
            record.state = next_state(record.id, record.state, TaskEvent.DISCARD)
            await anyio.to_thread.run_sync(store.save, record)
        await self._shut(task)
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
            tg = await (await worktree.TaskGit.open(task.directory, GIT_TIMEOUT_S)).locked()
            changes = await worktree.compare(tg, record.base, record.result)  # every file, as reviewed
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
        await self._shut(task)
        await anyio.to_thread.run_sync(store.remove_worktree, task.id)
        task.notify()
        overlaps, running = self._overlaps(task, [c.path for c in changes.files])
        return Accepted(task, applied, overlaps, running)

    def _overlaps(
        self, accepted: Task, paths: Iterable[str]
    ) -> tuple[tuple[tuple[str, str, tuple[str, ...]], ...], tuple[str, ...]]:
        mine = set(paths)
        overlaps = []
        running = []
        for other in self.open_tasks():
            if other is accepted:
                continue
            if other.state in (TaskState.RUNNING, TaskState.INTERRUPTED):
                running.append(other.id)
                continue
            common = tuple(sorted(mine & {c.path for c in other.record.files}))
            if common:
                overlaps.append((other.id, other.state.value, common))
        return tuple(overlaps), tuple(running)


def _working(task: Task) -> None:
    task.progress = "working"


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


def _copy_progress(task: Task, hear: Callable[[str], None] | None) -> Callable[[str], None]:
    """The copy's progress line, as the task's (``status``) and to whoever asked for it."""

    def tell(line: str) -> None:
        task.progress = line
        if hear is not None:
            hear(f"{task.id}: {line}")

    return tell
