"""Where a path really points, and whether that is inside the workspace.

Real-path containment: symlinks and ``..`` are resolved, relative paths are taken from the workspace
(never the process cwd), ``~`` is expanded, and whatever cannot be resolved counts as outside.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

_MAX_PATH_CHARS: Final = 4096


def real_workspace(workspace: Path | str) -> str | None:
    try:
        text = os.fspath(workspace)
        if not isinstance(text, str) or not text or "\x00" in text:
            return None
        return os.path.realpath(os.path.abspath(os.path.expanduser(text)))
    except (OSError, ValueError, TypeError, RuntimeError):
        return None


def realpath(raw: object, workspace_real: str | None) -> str | None:
    """Absolute real path of ``raw`` (relative paths are taken from the workspace), or None.

    Existing prefixes are resolved with ``realpath(strict=True)``; components that do not exist
    yet are appended verbatim.  ``None`` (unresolvable) for non-strings, empty strings, NUL bytes,
    over-long paths, ``~`` that does not expand, dangling or looping symlinks, a ``..`` after a
    missing component, and any OS error.
    """
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_PATH_CHARS or "\x00" in raw:
        return None
    try:
        expanded = os.path.expanduser(raw)
        if expanded.startswith("~"):
            return None  # ~user that does not exist: refuse to guess
        if not os.path.isabs(expanded):
            if workspace_real is None:
                return None
            expanded = os.path.join(workspace_real, expanded)
        head = expanded
        tail: list[str] = []
        while True:
            try:
                os.lstat(head)
            except (FileNotFoundError, NotADirectoryError):
                parent, name = os.path.split(head)
                if parent == head:
                    return None
                tail.append(name)
                head = parent
                continue
            # ``head`` exists (possibly as a dangling/looping symlink, which raises here).
            real = os.path.realpath(head, strict=True)
            break
    except (OSError, ValueError, RuntimeError):
        return None
    rest: list[str] = []
    for part in reversed(tail):
        if part == "..":
            return None  # ".." after a component that does not exist: do not guess
        if part not in ("", "."):
            rest.append(part)
    return os.path.join(real, *rest) if rest else real


def within(real: str, workspace_real: str | None) -> bool:
    if workspace_real is None:
        return False
    return Path(real).is_relative_to(workspace_real)


def resolve_inside(path: str, workspace: Path) -> Path | None:
    """Real path of `path` if it is inside the (real) workspace, else None. Used for fs/read_text_file too.

    Relative paths are taken relative to the workspace (not the process cwd); ``~`` is expanded;
    symlinks and ``..`` are resolved.  The workspace root itself counts as inside.  Anything that
    cannot be resolved is treated as outside (None).
    """
    workspace_real = real_workspace(workspace)
    if workspace_real is None:
        return None
    real = realpath(path, workspace_real)
    if real is None or not within(real, workspace_real):
        return None
    return Path(real)
