"""Where a permission request's paths are: each target resolved against the workspace (or its own
request's working directory), and an edit's changes with their paths as Claude should read them.
Resolving reads the filesystem (``lstat``/``realpath``, ``paths.py``)."""

from __future__ import annotations

from dataclasses import replace

from codex_fusion.guardian.decision import Change
from codex_fusion.guardian.paths import realpath, within
from codex_fusion.guardian.toolcall import Target, display_path


def shown_changes(
    edits: list[Change], targets: list[Target], workspace_real: str | None, kind: str
) -> tuple[tuple[Change, ...], tuple[str, ...]]:
    """The changes with their paths as Claude should read them, and (for an edit) the paths Codex
    named but sent no change for."""
    shown: dict[str, str] = {}
    for target in targets:
        if target.scopes:
            shown.setdefault(display_path(target.raw), target.shown(workspace_real))
    changes = tuple(
        replace(
            change,
            path=shown.get(change.path, change.path),
            dest=None if change.dest is None else shown.get(change.dest, change.dest),
        )
        for change in edits
    )
    if kind != "edit":
        return changes, ()
    covered = {path for change in edits for path in change.paths}
    unshown = [shown[raw] for raw in shown if raw not in covered]
    return changes, tuple(dict.fromkeys(path for path in unshown if path not in {c.path for c in changes}))


def resolved(found: list[Target], workspace_real: str | None) -> list[Target]:
    """Each target with its real path: a working directory from the workspace, any other relative
    path from its own request's working directory (unresolvable when that cannot be resolved)."""
    bases: dict[str, str | None] = {}
    targets: list[Target] = []
    seen: set[tuple[str, str, bool]] = set()
    for target in found:
        key = (display_path(target.raw), display_path(target.base), target.scopes)
        if key in seen:
            continue
        seen.add(key)
        base = workspace_real
        if isinstance(target.base, str):
            if target.base not in bases:
                bases[target.base] = realpath(target.base, workspace_real)
            base = bases[target.base]
        real = realpath(target.raw, base) if base is not None else None
        inside = real is not None and within(real, workspace_real)
        targets.append(replace(target, real=real, inside=inside))
    return targets
