"""The server's side of the hook's files (:mod:`codex_fusion.hookside.nonce` has their layout): reading
a window's reset records and finding the windows that have one, keeping the session link of each Claude
conversation, and leaving the one-line debate state the hook shows Claude after compaction.

The hook never imports this module (its start-up path is ``nonce`` and ``private`` only). Standard
library only, importable on Python 3.9, like the rest of ``hookside``.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from codex_fusion.hookside.nonce import (
    VERSION,
    Record,
    _hashable,
    _one_line,
    _record_from_json,
    _warn,
    parse_pid,
    record_paths,
    window_dir,
    workspace_key,
)
from codex_fusion.hookside.private import dumps, parse_json, read_json, write_files

__all__ = ["forget_link", "link_path", "parse_record", "read_record", "record_pids", "write_debate_state"]


def link_path(state: Path, workspace: str | os.PathLike[str], claude_session: str) -> Path:
    """Where the server keeps the Codex session of one Claude conversation (``continuity.py``)."""
    name = hashlib.sha256(_hashable(claude_session)).hexdigest()[:16]
    return Path(state) / "links" / workspace_key(workspace) / f"{name}.json"


def forget_link(state: Path, workspace: str | os.PathLike[str], claude_session: str) -> None:
    """Drop a conversation's Codex session link: it is never restored. Never raises."""
    path = link_path(state, workspace, claude_session)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        _warn(f"cannot remove the session link {path}: {exc}")


def record_pids(state: Path, workspace: str | os.PathLike[str]) -> list[int]:
    """Pids that have a ``pid-<pid>.json`` record for this workspace (sorted; ``[]`` on any error)."""
    try:
        names = os.listdir(window_dir(state, workspace))
    except OSError:
        return []
    pids = set()
    for name in names:
        if name.startswith("pid-") and name.endswith(".json"):
            pid = parse_pid(name[4:-5])
            if pid is not None:
                pids.add(pid)
    return sorted(pids)


def read_record(path: str | os.PathLike[str]) -> Record | None:
    """The record at ``path``; ``None`` if missing, or (with a warning) if unusable. Never raises."""
    try:
        raw = read_json(Path(path), "reset record")
        if raw is None:
            return None
        return _record_from_json(raw)
    except ValueError as exc:
        _warn(f"ignoring reset record {path}: {exc}")
    except Exception as exc:  # a reader must never take the hook or the server down
        _warn(f"ignoring reset record {path}: {type(exc).__name__}: {exc}")
    return None


def parse_record(data: bytes, path: str | os.PathLike[str]) -> Record | None:
    """The record in ``data`` (read from ``path``); ``None`` with a warning if unusable. Never raises."""
    try:
        return _record_from_json(parse_json(data, "reset record"))
    except ValueError as exc:
        _warn(f"ignoring reset record {path}: {exc}")
    except Exception as exc:  # a reader must never take the hook or the server down
        _warn(f"ignoring reset record {path}: {type(exc).__name__}: {exc}")
    return None


def write_debate_state(
    state: Path,
    workspace: str | os.PathLike[str],
    claude_pid: int | None,
    summary: str,
    session_id: str | None = None,
) -> Path:
    """Leave a one-line debate summary for the hook to show Claude after compaction.

    Written for this window (``claude_pid`` set) or, for a server that knows no window, for the whole
    workspace. The summary is collapsed to one line of at most ``MAX_SUMMARY_CHARS``; an empty summary
    clears the state (:func:`read_debate_state` then returns ``None``). ``session_id`` (Claude's, from
    the latest record, when known) keeps a summary from showing up in a later conversation of the window.
    """
    real = os.path.realpath(os.fspath(workspace))
    paths = record_paths(state, real, claude_pid)
    target = paths.window_debate or paths.workspace_debate
    pid = claude_pid if paths.window_debate is not None else None
    obj = {
        "version": VERSION,
        "summary": _one_line(summary),
        "at": time.time(),
        "claude_pid": pid,
        "workspace": real,
        "session_id": session_id or None,
    }
    write_files(Path(state), paths.directory, [(target.name, dumps(obj))])
    return target
