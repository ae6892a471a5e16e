"""Which ``python3`` the hooks really run with, recorded by the hook for the doctor.

``hooks.json`` runs ``python3`` as Claude Code finds it on its own ``PATH``; the doctor runs inside the
plugin's virtualenv, whose ``python3`` is another one (and always fine). So the hook, on a session
start, leaves ``<state>/hook-python.json`` = ``{"version": 1, "executable": …, "python": "3.12.3",
"at": <epoch seconds>}`` (private, 0600) and the doctor reports that. It is rewritten only when the
interpreter changed or the record is a day old, so a start costs one small read.

Standard library only, importable on Python 3.9 (the hook imports it). Never raises.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from codex_fusion.hookside.private import dumps, read_json, write_files

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Mapping

NAME = "hook-python.json"
VERSION = 1
#: The record is refreshed at least this often (seconds), so its age says when the hooks last ran.
REFRESH_S = 24 * 3600.0
#: The oldest Python the hook runs on.
MINIMUM = (3, 9)


def _this() -> tuple[str, str]:
    return sys.executable or "(unknown)", ".".join(str(part) for part in sys.version_info[:3])


def read(state: Path) -> Mapping[str, object] | None:
    """The last record, or None (missing or unusable)."""
    try:
        raw = read_json(Path(state) / NAME, "the hooks' interpreter record")
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        return None
    if not isinstance(raw.get("executable"), str) or not isinstance(raw.get("python"), str):
        return None
    if not isinstance(raw.get("at"), (int, float)):
        return None
    return raw


def record(state: Path, now: float | None = None) -> bool:
    """Record this interpreter unless the record says so already (and is recent). Whether it wrote."""
    executable, python = _this()
    current = time.time() if now is None else now
    last = read(state)
    if last is not None and (last["executable"], last["python"]) == (executable, python):
        at = last["at"]
        if isinstance(at, (int, float)) and 0 <= current - at < REFRESH_S:
            return False
    data = dumps({"version": VERSION, "executable": executable, "python": python, "at": current})
    try:
        write_files(Path(state), Path(state), [(NAME, data)])
    except OSError:
        return False
    return True


def too_old(python: str) -> bool:
    """Whether a version string (``3.8.10``) is below :data:`MINIMUM`."""
    parts = python.split(".")
    try:
        return (int(parts[0]), int(parts[1])) < MINIMUM
    except (ValueError, IndexError):
        return False
