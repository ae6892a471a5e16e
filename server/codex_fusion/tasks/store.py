"""Where tasks live on disk: ``<state>/tasks/<id>/`` (0700), one per task, in the plugin's private
data directory.

Each task directory holds ``task.json`` (the record), ``summary.txt`` (the member's last answer),
``patch.diff`` (the whole patch Claude reviews), ``tree/`` (the worktree) and ``git/`` (the task's own
repository, outside the worktree). Files are 0600, written atomically and never through a symlink
(:mod:`codex_fusion.hookside.private`).

Several codex-fusion servers (windows) may share the data directory: a server holds an advisory lock
(``lock``, ``flock``) on every task it owns, from the moment it claims the id until it exits, so
another server neither adopts nor cleans up a task that is alive elsewhere. At start
(:meth:`TaskStore.adopt`) every unlocked task directory is looked at once: the workspace's tasks are
taken over (a running one becomes *interrupted*); a directory without a readable record, and the
worktree of a finished task, are removed. Blocking throughout: call it off the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from codex_fusion.hookside import private
from codex_fusion.tasks.record import TASK_ID, TaskRecord
from codex_fusion.tasks.table import TERMINAL, TaskEvent, TaskState, next_state

log = logging.getLogger(__name__)

RECORD: Final = "task.json"
SUMMARY: Final = "summary.txt"
PATCH: Final = "patch.diff"
TREE: Final = "tree"
GIT: Final = "git"
LOCK: Final = "lock"
#: Finished tasks kept (records and patches) per workspace; older ones are removed at start.
KEEP_FINISHED: Final = 20
#: Codex's answer as kept for ``show`` (the whole turn log has it all).
MAX_SUMMARY_CHARS: Final = 16_000
_RECORD_BUDGET: Final = private.MAX_FILE_BYTES - 1024

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, one server per data directory
    fcntl = None  # type: ignore[assignment]


class TaskLock:
    """An exclusive, non-blocking ``flock`` on a task directory, held until :meth:`release`."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def take(cls, directory: Path) -> TaskLock | None:
        """The lock, or None when another process holds it."""
        if fcntl is None:
            return cls(None)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(directory / LOCK, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


@dataclass
class Adopted:
    """What :meth:`TaskStore.adopt` found for this workspace."""

    records: list[tuple[TaskRecord, TaskLock]]
    interrupted: list[str]
    removed: list[str]  # orphan directories and finished tasks' worktrees cleaned up


class TaskStore:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.root = state_dir / "tasks"

    def directory(self, task_id: str) -> Path:
        if not TASK_ID.fullmatch(task_id):
            raise ValueError(f"bad task id {task_id[:20]!r}")
        return self.root / task_id

    # -- claiming and saving ---------------------------------------------------------------------

    def claim(self) -> tuple[str, Path, TaskLock]:
        """A new task id with its (empty, locked) directory; ids are never reused while a directory
        holds them, whichever server made it."""
        private.write_files(self.state_dir, self.root, [])  # the private directories
        taken = [int(name[1:]) for name in os.listdir(self.root) if TASK_ID.fullmatch(name)]
        number = max(taken, default=0) + 1
        while True:
            directory = self.root / f"t{number}"
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                number += 1
                continue
            lock = TaskLock.take(directory)
            if lock is None:  # pragma: no cover - someone locked it between mkdir and flock
                number += 1
                continue
            return f"t{number}", directory, lock

    def save(self, record: TaskRecord) -> None:
        record.updated = time.time()
        data = _fitted(record)
        private.write_files(self.state_dir, self.directory(record.id), [(RECORD, data)])

    def write_text(self, task_id: str, name: str, text: str) -> Path:
        directory = self.directory(task_id)
        private.write_files(self.state_dir, directory, [(name, text.encode("utf-8", "replace"))])
        return directory / name

    def read_text(self, task_id: str, name: str, limit: int) -> str | None:
        """The first ``limit`` bytes of one of the task's files, as text; None when unreadable."""
        path = self.directory(task_id) / name
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                return None
            return os.read(fd, limit).decode("utf-8", "replace")
        except OSError:
            return None
        finally:
            os.close(fd)

    # -- removing --------------------------------------------------------------------------------

    def remove_worktree(self, task_id: str) -> None:
        """The worktree and the task's repository go; the record, summary and patch stay."""
        directory = self.directory(task_id)
        for name in (TREE, GIT):
            remove_tree(directory / name)

    def remove(self, task_id: str) -> None:
        remove_tree(self.directory(task_id))

    def records(self, workspace: Path) -> list[TaskRecord]:
        """This workspace's task records as they are on disk, oldest first, taking no lock (records
        are replaced atomically): for reading while a server may hold them (``codex-fusion task``)."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        found = []
        for name in names:
            if not TASK_ID.fullmatch(name):
                continue
            try:
                record = TaskRecord.from_json(private.read_json(self.root / name / RECORD, "task record"))
            except (ValueError, OSError):
                continue
            if record.id == name and record.workspace == str(workspace):
                found.append(record)
        return sorted(found, key=lambda record: int(record.id[1:]))

    # -- start-up --------------------------------------------------------------------------------

    def adopt(self, workspace: Path) -> Adopted:
        """Take over this workspace's tasks nobody holds, and clean up what belongs to no task."""
        found = Adopted([], [], [])
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return found
        for name in names:
            directory = self.root / name
            if not TASK_ID.fullmatch(name) or not _is_dir(directory):
                continue
            try:
                lock = TaskLock.take(directory)
            except OSError as exc:
                log.warning("task %s: cannot lock its directory (%s); left alone", name, exc)
                continue
            if lock is None:
                continue  # alive in another server
            kept = False
            try:
                kept = self._adopt_one(name, directory, lock, workspace, found)
            finally:
                if not kept:
                    lock.release()
        self._prune(found)
        return found

    def _adopt_one(self, name: str, directory: Path, lock: TaskLock, workspace: Path, found: Adopted) -> bool:
        try:
            record = TaskRecord.from_json(private.read_json(directory / RECORD, "task record"))
            if record.id != name:
                raise ValueError(f"it names task {record.id}")
        except (ValueError, OSError) as exc:
            log.info("task directory %s has no usable record (%s): removing it", name, exc)
            remove_tree(directory)
            found.removed.append(name)
            return False
        if record.workspace != str(workspace):
            return False  # another workspace's: its own server adopts it
        if record.state is TaskState.RUNNING:
            record.state = next_state(record.id, record.state, TaskEvent.RESTARTED)
            self.save(record)
            found.interrupted.append(record.id)
        if record.state in TERMINAL and any(_is_dir(directory / d) for d in (TREE, GIT)):
            self.remove_worktree(record.id)
            found.removed.append(f"{record.id}/{TREE}")
        found.records.append((record, lock))
        return True

    def _prune(self, found: Adopted) -> None:
        finished = [(r, lock) for r, lock in found.records if r.state in TERMINAL]
        finished.sort(key=lambda item: item[0].updated)
        for record, lock in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            self.remove(record.id)
            lock.release()
            found.records.remove((record, lock))
            found.removed.append(record.id)


def _fitted(record: TaskRecord) -> bytes:
    """The record as JSON within the private files' size bound (fewer files listed when needed)."""
    data: dict[str, Any] = record.to_json()
    data["notes"] = [note[:1500] for note in record.notes[-3:]]
    data["history"] = [line[:300] for line in record.history[-10:]]
    encoded = private.dumps(data)
    while len(encoded) > _RECORD_BUDGET and (data["files"] or data["findings"]):
        data["files"] = data["files"][: len(data["files"]) // 2]
        data["findings"] = data["findings"][: len(data["findings"]) // 2]
        encoded = private.dumps(data)
    return encoded


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, never following a symlink; directories a command
    made read-only are made writable first. A symlink at ``path`` itself is unlinked, not followed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return
    _writable(str(path))
    for root, dirs, _files in os.walk(path, followlinks=False):
        for name in dirs:
            _writable(os.path.join(root, name))  # before os.walk descends into it
    shutil.rmtree(path)  # fd-based on Linux: symlinks below are removed, never followed


def _writable(directory: str) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(directory).st_mode):
            os.chmod(directory, 0o700)
