"""What a delegated task is, as data: its brief, the files its patch changes, the checks' findings,
and the record persisted for it (``task.json``, read back after a restart)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

from codex_fusion.tasks.table import TaskState

#: Task ids: ``t`` and a number, unique in the data directory (claimed by ``mkdir``).
TASK_ID: Final = re.compile(r"t[1-9][0-9]{0,5}")
#: A record lists at most this many files and findings (the patch file has them all).
MAX_LISTED: Final = 200


@dataclass(frozen=True)
class TaskBrief:
    """What Claude asked for."""

    task: str
    paths: tuple[str, ...] = ()  # workspace-relative; empty: anywhere
    criteria: tuple[str, ...] = ()  # how to tell it is done, numbered from 1 in the prompt
    constraints: str | None = None
    base: str | None = None  # a commit to start from; None: the working tree as it is


@dataclass(frozen=True)
class FileChange:
    """One file the patch changes (computed by the server from the worktree)."""

    path: str
    status: str  # A added, M modified, D deleted, T type changed (file ↔ symlink)
    old_mode: str  # "000000" when added
    new_mode: str  # "000000" when deleted; 120000 a symlink, 160000 a submodule (gitlink)
    added: int | None = None  # lines; None for a binary file
    removed: int | None = None
    size: int = 0  # bytes after the change
    old_oid: str = ""  # blob ids in the task's own repository (base and result)
    new_oid: str = ""

    @property
    def binary(self) -> bool:
        return self.added is None and self.status != "D" and self.new_mode not in ("120000", "160000")


@dataclass(frozen=True)
class Finding:
    """One check's result: ``failed`` ones refuse ``accept`` unless Claude forces it with a reason."""

    check: str
    failed: bool
    message: str


@dataclass
class TaskRecord:
    """Everything about a task that survives the server (``task.json``, 0600)."""

    id: str
    workspace: str
    member: str
    brief: TaskBrief
    state: TaskState = TaskState.RUNNING
    reworks: int = 0
    created: float = 0.0  # wall-clock seconds
    updated: float = 0.0
    base: str = ""  # the base commit in the task's own repository
    base_label: str = ""  # what the worktree was copied from, for Claude
    result: str = ""  # the tree Claude reviewed (what accept applies), once there is a patch
    session_id: str | None = None  # the member's session, to reopen after a restart
    files: tuple[FileChange, ...] = ()
    file_count: int = 0  # all changed files (``files`` may list fewer)
    findings: tuple[Finding, ...] = ()
    patch_chars: int = 0
    elapsed: float = 0.0  # of the last attempt
    turn_error: str | None = None  # how the last attempt ended, when not with an answer
    skipped: tuple[str, ...] = ()  # what the copy left out, and why
    forced: str | None = None  # Claude's reason to accept past failed checks (logged)
    applied: tuple[str, ...] = ()  # files accept wrote, merged ones marked
    notes: list[str] = field(default_factory=list)  # Claude's rework notes, in order
    history: list[str] = field(default_factory=list)  # retries, one line each (tasks/retry.py)

    @property
    def failed_checks(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.failed]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["files"] = [asdict(f) for f in self.files[:MAX_LISTED]]
        data["findings"] = [asdict(f) for f in self.findings[:MAX_LISTED]]
        return data

    @classmethod
    def from_json(cls, data: object) -> TaskRecord:
        """The record, or ValueError when the file does not hold one (it is then an orphan)."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        try:
            brief = data["brief"]
            record = cls(
                id=_text(data["id"]),
                workspace=_text(data["workspace"]),
                member=_text(data["member"]),
                brief=TaskBrief(
                    task=_text(brief["task"]),
                    paths=tuple(_text(p) for p in brief.get("paths") or ()),
                    criteria=tuple(_text(c) for c in brief.get("criteria") or ()),
                    constraints=_optional(brief.get("constraints")),
                    base=_optional(brief.get("base")),
                ),
                state=TaskState(data["state"]),
                reworks=int(data.get("reworks", 0)),
                created=float(data.get("created", 0.0)),
                updated=float(data.get("updated", 0.0)),
                base=_text(data.get("base", "")),
                base_label=_text(data.get("base_label", "")),
                result=_text(data.get("result", "")),
                session_id=_optional(data.get("session_id")),
                files=tuple(FileChange(**f) for f in data.get("files") or ()),
                file_count=int(data.get("file_count", 0)),
                findings=tuple(Finding(**f) for f in data.get("findings") or ()),
                patch_chars=int(data.get("patch_chars", 0)),
                elapsed=float(data.get("elapsed", 0.0)),
                turn_error=_optional(data.get("turn_error")),
                skipped=tuple(_text(s) for s in data.get("skipped") or ()),
                forced=_optional(data.get("forced")),
                applied=tuple(_text(s) for s in data.get("applied") or ()),
                notes=[_text(n) for n in data.get("notes") or ()],
                history=[_text(h) for h in data.get("history") or ()],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a task record ({exc!r})") from None
        if not TASK_ID.fullmatch(record.id):
            raise ValueError(f"bad task id {record.id[:20]!r}")
        return record

    def copy(self) -> TaskRecord:
        return replace(self, notes=list(self.notes), history=list(self.history))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _optional(value: object) -> str | None:
    return None if value is None else _text(value)


@dataclass(frozen=True)
class Applied:
    """What an accept wrote into the workspace: files written, merged with the user's edits, or
    already there as the task made them."""

    written: tuple[str, ...]
    merged: tuple[str, ...]
    already: tuple[str, ...]
