"""Which Claude Code window a server belongs to: its ancestors, and the record they left.

The MCP server is a descendant of its Claude Code process (through ``uv``); the hook records that
process's ``CLAUDE_PID``. Server-side only (the hook never needs it), but standard library only too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence

from codex_fusion.hookside.nonce import parse_pid


def _parse_proc_stat(data: bytes) -> int:
    """The ppid field of ``/proc/<pid>/stat``; the comm field may hold spaces and parentheses."""
    fields = data[data.rindex(b")") + 1 :].split()
    return int(fields[1])  # fields[0] is the state letter


def _proc_ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return _parse_proc_stat(f.read())


def _ps_ppids() -> dict[int, int]:
    import subprocess  # lazily: only the server needs this, and only without /proc

    out = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid="],
        capture_output=True,
        timeout=5,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout
    table: dict[int, int] = {}
    for line in out.decode("ascii", "replace").splitlines():
        cols = line.split()
        if len(cols) == 2 and cols[0].isdigit() and cols[1].isdigit():
            table[int(cols[0])] = int(cols[1])
    return table


def ancestor_pids(pid: int | None = None) -> list[int]:
    """Parent, grandparent, … of ``pid`` (default: this process), up to and including 1.

    Linux reads ``/proc/<pid>/stat``; elsewhere one ``ps -A -o pid=,ppid=`` call. Never raises: on any
    failure it returns what it found so far (possibly ``[]``).
    """
    chain: list[int] = []
    try:
        current = os.getpid() if pid is None else pid
        if isinstance(current, bool) or not isinstance(current, int) or current <= 0:
            return []
        lookup: Callable[[int], int | None]
        if os.path.exists("/proc/self/stat"):
            lookup = _proc_ppid
        else:
            table = _ps_ppids()
            if current not in table:
                return []
            lookup = table.get
        seen = {current}
        for _ in range(4096):
            parent = lookup(current)
            if parent is None or parent <= 0 or parent in seen:
                break
            chain.append(parent)
            if parent == 1:
                break
            seen.add(parent)
            current = parent
    except Exception:  # a vanished process, no /proc, no ps: degrade, never raise
        return chain
    return chain


def choose_window_pid(
    env: Mapping[str, str], ancestors: Sequence[int], existing_record_pids: Iterable[int]
) -> int | None:
    """The Claude Code window this server belongs to, or ``None`` (then watch ``workspace.json``).

    ``CLAUDE_PID`` from ``env`` when it is one of ``ancestors``; else the nearest ancestor with a pid
    record (``existing_record_pids``, e.g. from :func:`record_pids`); else ``None``.
    """
    claimed = parse_pid(env.get("CLAUDE_PID", ""))
    if claimed is not None and claimed in ancestors:
        return claimed
    existing = set(existing_record_pids)
    for pid in ancestors:
        if pid in existing:
            return pid
    return None
