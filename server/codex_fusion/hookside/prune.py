"""Dead windows' records go: nothing the hook writes per Claude Code start accumulates.

Every window leaves ``pid-<claude_pid>.json`` (and the server ``pid-<claude_pid>.debate.json``, the
review gate ``reuse-<claude_pid>.txt``) in its workspace's directory
(:mod:`codex_fusion.hookside.nonce`). Once that Claude Code process is gone no reader ever asks for
them again: a server follows only an ancestor's record, the hook reads only its own window's debate
state and reuse note. :func:`prune` removes a window's files when its process is gone **and**
it is old (:data:`MAX_AGE_S`) or more than :data:`KEEP_DEAD` dead windows are left (oldest first).

A window whose process exists is never touched, whatever its age: liveness is asked of the kernel
(signal 0), and any answer but "no such process" counts as alive — a reused pid keeps a dead record
a little longer, never the other way round. On Windows nothing is pruned (``os.kill`` there would
send a console event, not a probe). Never raises; the hook calls it on a session start.

Standard library only, importable on Python 3.9 (the hook imports it).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Callable
    from pathlib import Path

#: A dead window's records older than this go (seconds).
MAX_AGE_S = 24 * 3600.0
#: However recent, no more dead windows than this are kept per workspace.
KEEP_DEAD = 8
#: A window's files: its reset record and debate state, and the gate's reuse note (``gate_hook``).
_NAMES = (("pid-", (".debate.json", ".json")), ("reuse-", (".txt",)))


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts); unsure means alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: someone else's process; anything else: do not guess
    return True


def _window_pid(name: str) -> int | None:
    for prefix, suffixes in _NAMES:
        if not name.startswith(prefix):
            continue
        for suffix in suffixes:
            if name.endswith(suffix):
                digits = name[len(prefix) : -len(suffix)]
                return int(digits) if digits.isdigit() and len(digits) < 10 and int(digits) > 0 else None
    return None


def prune(
    directory: Path,
    own_pid: int | None,
    *,
    now: float | None = None,
    is_alive: Callable[[int], bool] = alive,
) -> list[str]:
    """Remove the records of dead windows in ``directory`` (one workspace's), never ``own_pid``'s or
    a live one's. Returns the names removed."""
    if os.name == "nt":
        return []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    windows: dict[int, list[str]] = {}
    for name in names:
        pid = _window_pid(name)
        if pid is not None and pid != own_pid:
            windows.setdefault(pid, []).append(name)
    dead: list[tuple[float, int]] = []
    for pid, files in windows.items():
        if is_alive(pid):
            continue
        newest = 0.0
        for name in files:
            try:
                newest = max(newest, os.lstat(os.path.join(directory, name)).st_mtime)
            except OSError:
                continue
        dead.append((newest, pid))
    dead.sort(reverse=True)  # newest first: the first KEEP_DEAD recent ones may stay
    current = time.time() if now is None else now
    removed: list[str] = []
    for rank, (at, pid) in enumerate(dead):
        if rank < KEEP_DEAD and current - at < MAX_AGE_S:
            continue
        for name in windows[pid]:
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                continue
            removed.append(name)
    return removed
