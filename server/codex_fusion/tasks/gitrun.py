"""Where the workspace's own git config says git finds programs and attributes (issue 25 item 3).

A patch that adds a file under the workspace's ``core.hooksPath`` directory arms a hook the user's next
``git commit`` runs; one under the file ``core.attributesFile`` names assigns filters. The config is
hostile: it is read with git locked down (``hookside/gitlock.py``), never parsed by hand.
"""

from __future__ import annotations

import logging
import os
import posixpath
import subprocess
from pathlib import Path

from codex_fusion.hookside import gitlock

#: Settings naming a place git takes programs (hooks) or attributes from → why a file there matters.
WATCHED = {
    "core.hookspath": "git runs the hooks in this directory (core.hooksPath)",
    "core.attributesfile": "names the filters and diff drivers git runs (core.attributesFile)",
}
READ_TIMEOUT_S = 10.0


def run_paths(workspace: Path | None) -> dict[str, str]:
    """Workspace-relative path (``/``-separated; ``""`` for the workspace itself) → why: the places
    the config's :data:`WATCHED` settings point at inside ``workspace``. Blocking."""
    if workspace is None:
        return {}
    try:
        top = os.fsdecode(
            gitlock.run_locked(str(workspace), ("rev-parse", "--show-toplevel"), READ_TIMEOUT_S)
        ).strip()
        listing = gitlock.read_config(str(workspace), READ_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        logging.getLogger(__name__).warning("cannot read the workspace's git config: %s", exc)
        return {}
    values: dict[str, str] = {}
    for scope, key, value in gitlock.parse(listing):
        if scope != "command" and key.lower() in WATCHED and value:  # command scope: our lockdown
            values[key.lower()] = value  # the last one wins, as in git
    found: dict[str, str] = {}
    for key, value in values.items():
        relative = inside(value, Path(top) if top else workspace, workspace)
        if relative is not None:
            found[relative] = WATCHED[key]
    return found


def inside(value: str, top: Path, workspace: Path) -> str | None:
    """``value`` (a path from git config: ``~/``, absolute, or relative to the work tree's top) as a
    path relative to ``workspace``, or None when it is outside it."""
    path = Path(os.path.expanduser(value)) if value.startswith("~") else Path(value)
    full = Path(os.path.realpath(top / path))
    base = Path(os.path.realpath(workspace))
    if full != base and base not in full.parents:
        return None
    rel = full.relative_to(base).as_posix()
    return "" if rel == "." else posixpath.normpath(rel)
