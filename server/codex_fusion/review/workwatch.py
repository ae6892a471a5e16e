"""The workspace watch that lets a prompt reuse the last stop's snapshot (issue 26.3).

With the review gate on, the server watches the workspace (``watchfiles``: inotify, FSEvents, …;
``.git/`` aside, where our own snapshots write) and keeps, in its descriptor ``server-<pid>.json``,
when the watch began (``watch_since``) and when it last saw a change (``changed``). The prompt hook
then reuses the tree the last stop took when the watch covered that stop and saw nothing change since
it began (``gate_hook.Gate.reusable``): no git, no scan of the tree.

A change reported late only errs one way: the next review's baseline is older than the prompt, so
the review also shows what the user edited in between; it never hides what Claude changed. A watch
that cannot run (no inotify, a watch limit) leaves ``watch_since`` unset, and every prompt snapshots.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

log = logging.getLogger(__name__)


def _outside_git(workspace: Path) -> Callable[[object, str], bool]:
    git = str(workspace / ".git")

    def keep(_change: object, path: str) -> bool:
        return not (path == git or path.startswith(git + os.sep))

    return keep


async def watch(workspace: Path, changed: Callable[[float | None, float], Awaitable[None]]) -> None:
    """Call ``changed(since, at)`` when the watch begins (``since`` set) and at every batch of
    changes outside ``.git/`` (``since`` None); runs until cancelled. Gives up quietly (logged)
    where the platform cannot watch the tree."""
    import watchfiles  # lazily: only a server with the gate on watches

    stopped = anyio.Event()
    try:
        began = time.time()
        first = True
        async for batch in watchfiles.awatch(
            workspace,
            debounce=50,
            step=25,
            recursive=True,
            watch_filter=_outside_git(workspace),
            stop_event=stopped,
            rust_timeout=500,
            yield_on_timeout=True,
        ):
            if first:  # the watch is up: changes from here on are seen
                await changed(began, began)
                first = False
            if batch:
                await changed(None, time.time())
    except (OSError, RuntimeError) as exc:
        log.warning("review gate: cannot watch %s (%s); every prompt snapshots it", workspace, exc)
    finally:
        stopped.set()
