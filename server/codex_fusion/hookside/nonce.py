"""Reset-nonce records: how Claude Code's hooks tell the MCP server what happened to the conversation.

Codex's context lives in the MCP server process, which Claude Code does not restart on ``/clear`` or
compaction. The plugin's hook (``hooks/codex_fusion_hook.py``) therefore writes a small JSON record on
every SessionStart / PreCompact / SessionEnd, and the server watches the records to reset or keep its
Codex session in step with Claude's conversation.

Layout (all private: directories 0700, files 0600, owned by us, never symlinks)::

    <state>/windows/<ws_key>/pid-<claude_pid>.json        this Claude Code window's latest event
    <state>/windows/<ws_key>/workspace.json               latest event of any window (fallback)
    <state>/windows/<ws_key>/pid-<claude_pid>.debate.json  one-line debate state left by the server
    <state>/windows/<ws_key>/workspace.debate.json         same, for a server that knows no window

A debate state is ``{"version": 1, "summary": <one line>, "at": <epoch seconds>, "claude_pid": int |
null, "workspace": <realpath>, "session_id": <Claude's session id, or null if the server did not know>}``.

``<state>`` is :func:`state_dir` (``$CLAUDE_PLUGIN_DATA/state``, else ``$XDG_STATE_HOME/codex-fusion``,
else ``~/.local/state/codex-fusion``; never the temp dir). ``<ws_key>`` is the first 16 hex digits of the
sha256 of the workspace's realpath, so every spelling of a workspace (symlinks, ``..``) maps to one key.
Files are replaced atomically (``.<name>.<random>.tmp`` in the same directory, fsync, ``os.replace``);
a watcher should ignore names starting with ``.`` and tell records from debate states by name.

A record is ``{"version": 1, "nonce": <fresh random hex>, "session_id": str, "event": one of EVENTS,
"detail": <raw source/trigger/reason or null>, "at": <epoch seconds>, "claude_pid": int | null,
"workspace": <realpath>}``. The nonce changes on every write, so "the nonce changed" means "an event
happened"; ``event`` says which.

Which record a server follows (its own window's, else ``workspace.json`` as a documented fallback)
is decided in :mod:`codex_fusion.hookside.windows` and :mod:`codex_fusion.host.follow`.

Reading never raises: a missing file is ``None``; a corrupt, truncated, foreign, oversized, symlinked,
non-regular or foreign-owned file is ``None`` plus a warning. Writing raises :class:`NonceStoreError`
(an ``OSError``) when it refuses a path, or the underlying ``OSError``.

Standard library only, importable on Python 3.9: the hook imports this module with the user's
``python3`` and must start in tens of milliseconds (``logging`` loads lazily).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from pathlib import Path

from codex_fusion.hookside.private import (
    MAX_FILE_BYTES,
    PrivateFileError,
    dumps,
    read_json,
    write_files,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, keeps `typing` off the hook's start-up path
    from collections.abc import Callable, Mapping

__all__ = [
    "EVENTS",
    "MAX_FILE_BYTES",
    "MAX_SUMMARY_CHARS",
    "VERSION",
    "NonceStoreError",
    "Record",
    "RecordPaths",
    "forget_records",
    "new_record",
    "parse_pid",
    "read_debate_state",
    "record_paths",
    "set_warning_sink",
    "state_dir",
    "window_dir",
    "workspace_key",
    "write_record",
]

VERSION = 1
EVENTS = ("startup", "resume", "clear", "compact", "fork", "end")
MAX_SUMMARY_CHARS = 500
MAX_TEXT_CHARS = 4096  # session_id / detail / workspace in a record; keeps records far below MAX_FILE_BYTES

_warning_sink: Callable[[str], None] | None = None


#: What writing raises for a path it refuses (a symlink, not a directory/file, owned by another user).
NonceStoreError = PrivateFileError


def set_warning_sink(sink: Callable[[str], None] | None) -> None:
    """Route warnings to ``sink`` (the hook prints them to stderr); ``None`` = the ``logging`` module."""
    global _warning_sink
    _warning_sink = sink


def _warn(message: str) -> None:
    if _warning_sink is not None:
        with contextlib.suppress(Exception):  # a warning must never become the failure
            _warning_sink(message)
        return
    import logging  # lazily: logging costs the hook several milliseconds of start-up

    logging.getLogger(__name__).warning("%s", message)


# --- where things live ---------------------------------------------------------------------------


def state_dir(env: Mapping[str, str]) -> Path:
    """The private state directory: ``$CLAUDE_PLUGIN_DATA/state``, ``$XDG_STATE_HOME/codex-fusion``,
    else ``~/.local/state/codex-fusion``. Relative values are ignored (they would resolve against the
    user's project); the temp dir is never used."""
    data = env.get("CLAUDE_PLUGIN_DATA", "")
    if data and os.path.isabs(data):
        # Claude Code creates the data dir 0755, so our private records get their own 0700 folder.
        return Path(data) / "state"
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "codex-fusion"
    home = env.get("HOME", "")
    if not (home and os.path.isabs(home)):
        home = os.path.expanduser("~")
    if not os.path.isabs(home):
        raise NonceStoreError("cannot find a state directory: no CLAUDE_PLUGIN_DATA, XDG_STATE_HOME or HOME")
    return Path(home) / ".local" / "state" / "codex-fusion"


def _hashable(text: str) -> bytes:
    """``text`` as bytes for hashing: a path's own bytes (undecodable ones are surrogate escapes);
    any other lone surrogate (from JSON) as itself, so no text fails."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def workspace_key(workspace: str | os.PathLike[str]) -> str:
    """First 16 hex digits of sha256(realpath(workspace)) — of the path's bytes, valid UTF-8 or not."""
    real = os.path.realpath(os.fspath(workspace))
    return hashlib.sha256(_hashable(real)).hexdigest()[:16]


def window_dir(state: Path, workspace: str | os.PathLike[str]) -> Path:
    """``<state>/windows/<ws_key>``: the directory holding a workspace's records."""
    return Path(state) / "windows" / workspace_key(workspace)


class _Value:
    """A small immutable value (as a frozen dataclass is, without importing ``dataclasses``: with
    ``inspect`` and ``ast`` it would cost the hook ~10 ms of its start-up)."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, **values: object) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Value) and type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class RecordPaths(_Value):
    """Where one window's records live. ``window`` is ``None`` when the Claude pid is unknown."""

    __slots__ = ("directory", "window", "window_debate", "workspace", "workspace_debate")
    directory: Path
    window: Path | None
    workspace: Path
    window_debate: Path | None
    workspace_debate: Path

    def __init__(
        self,
        directory: Path,
        window: Path | None,
        workspace: Path,
        window_debate: Path | None,
        workspace_debate: Path,
    ) -> None:
        super().__init__(
            directory=directory,
            window=window,
            workspace=workspace,
            window_debate=window_debate,
            workspace_debate=workspace_debate,
        )


def record_paths(state: Path, workspace: str | os.PathLike[str], claude_pid: int | None) -> RecordPaths:
    directory = window_dir(state, workspace)
    pid = claude_pid if _valid_pid(claude_pid) else None
    return RecordPaths(
        directory=directory,
        window=directory / f"pid-{pid}.json" if pid is not None else None,
        workspace=directory / "workspace.json",
        window_debate=directory / f"pid-{pid}.debate.json" if pid is not None else None,
        workspace_debate=directory / "workspace.debate.json",
    )


def forget_records(state: Path, workspace: str | os.PathLike[str], claude_pid: int | None) -> None:
    """Remove the window's and the workspace's records (the hook could not replace them: the server
    must not go on believing the old one). Removing needs no free space. Never raises."""
    try:
        paths = record_paths(state, os.path.realpath(os.fspath(workspace)), claude_pid)
    except Exception as exc:
        _warn(f"cannot remove the stale reset records: {type(exc).__name__}: {exc}")
        return
    for path in (paths.window, paths.workspace):
        if path is None:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            _warn(f"cannot remove the stale reset record {path}: {exc}")


def parse_pid(value: object) -> int | None:
    """A positive decimal pid from ``value`` (str or int), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 10:
            pid = int(text)
            return pid if pid > 0 else None
    return None


def _valid_pid(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# --- records -------------------------------------------------------------------------------------


class Record(_Value):
    __slots__ = ("at", "claude_pid", "detail", "event", "nonce", "session_id", "version", "workspace")
    version: int
    nonce: str
    session_id: str
    event: str
    detail: str | None
    at: float
    claude_pid: int | None
    workspace: str

    def __init__(
        self,
        version: int,
        nonce: str,
        session_id: str,
        event: str,
        detail: str | None,
        at: float,
        claude_pid: int | None,
        workspace: str,
    ) -> None:
        super().__init__(
            version=version,
            nonce=nonce,
            session_id=session_id,
            event=event,
            detail=detail,
            at=at,
            claude_pid=claude_pid,
            workspace=workspace,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "nonce": self.nonce,
            "session_id": self.session_id,
            "event": self.event,
            "detail": self.detail,
            "at": self.at,
            "claude_pid": self.claude_pid,
            "workspace": self.workspace,
        }


def new_record(
    *,
    session_id: str,
    event: str,
    workspace: str | os.PathLike[str],
    claude_pid: int | None = None,
    detail: str | None = None,
    at: float | None = None,
) -> Record:
    """A record with a fresh nonce, the current time and the workspace's realpath."""
    return Record(
        version=VERSION,
        nonce=os.urandom(16).hex(),
        session_id=session_id,
        event=event,
        detail=detail,
        at=time.time() if at is None else float(at),
        claude_pid=claude_pid,
        workspace=os.path.realpath(os.fspath(workspace)),
    )


def _opt_text(obj: dict[str, object], key: str) -> str | None:
    if key in obj and obj[key] is None:
        return None
    return _text(obj, key)


def _text(obj: dict[str, object], key: str, *, nonempty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} is not a string")
    if nonempty and not value:
        raise ValueError(f"{key!r} is empty")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{key!r} is too long")
    return value


def _number(obj: dict[str, object], key: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key!r} is not a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{key!r} is not finite")
    return result


def _check_version(obj: object) -> dict[str, object]:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    version = obj.get("version")
    if isinstance(version, bool) or version != VERSION:
        raise ValueError(f"unknown version {version!r}")
    return obj


def _record_from_json(raw: object) -> Record:
    obj = _check_version(raw)
    event = _text(obj, "event")
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    pid = obj.get("claude_pid")
    if pid is not None and not _valid_pid(pid):
        raise ValueError("'claude_pid' is not a positive integer")
    nonce = _text(obj, "nonce", nonempty=True)
    session_id = _text(obj, "session_id")
    workspace = _text(obj, "workspace", nonempty=True)
    return Record(
        version=VERSION,
        nonce=nonce,
        session_id=session_id,
        event=event,
        detail=_opt_text(obj, "detail"),
        at=_number(obj, "at"),
        claude_pid=pid if isinstance(pid, int) else None,
        workspace=workspace,
    )


def write_record(state: Path, record: Record) -> list[Path]:
    """Write ``record`` as this window's record (when ``claude_pid`` is set) and as the workspace record.

    Returns the paths written, window record first. Raises ``ValueError`` for an invalid record,
    :class:`NonceStoreError` for a path it refuses, ``OSError`` when the disk says no.
    """
    _record_from_json(record.to_json())  # the same rules as reading: never write what we would reject
    data = dumps(record.to_json())
    paths = record_paths(state, record.workspace, record.claude_pid)
    targets = [p for p in (paths.window, paths.workspace) if p is not None]
    write_files(Path(state), paths.directory, [(p.name, data) for p in targets])
    return targets


# --- debate state --------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > MAX_SUMMARY_CHARS:
        line = line[: MAX_SUMMARY_CHARS - 1].rstrip() + "…"
    return line


def read_debate_state(
    state: Path, workspace: str | os.PathLike[str], claude_pid: int | None, session_id: str | None = None
) -> str | None:
    """This window's debate summary, else the workspace-level one, else ``None``. Never raises.

    When both this ``session_id`` and the stored one are known and differ, the summary belongs to an
    earlier conversation and is skipped.
    """
    try:
        real = os.path.realpath(os.fspath(workspace))
        paths = record_paths(state, real, claude_pid)
    except Exception as exc:
        _warn(f"ignoring debate state: {type(exc).__name__}: {exc}")
        return None
    for path, pid in ((paths.window_debate, claude_pid), (paths.workspace_debate, None)):
        if path is None:
            continue
        try:
            raw = read_json(path, "debate state")
            if raw is None:
                continue
            obj = _check_version(raw)
            summary = _text(obj, "summary")
            _number(obj, "at")
            stored_session = _opt_text(obj, "session_id") if "session_id" in obj else None
            if obj.get("workspace") != real or obj.get("claude_pid") != pid:
                raise ValueError("it belongs to another workspace or window")
        except Exception as exc:
            _warn(f"ignoring debate state {path}: {exc}")
            continue
        if session_id and stored_session and stored_session != session_id:
            continue  # left for an earlier conversation of this window: stale, not broken
        return _one_line(summary) or None
    return None
