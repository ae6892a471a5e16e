"""Helpers for the delegated-task tests: a git workspace, its fingerprint, a TaskManager in memory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from codex_fusion.launch.config import Config
from codex_fusion.launch.members import MemberSpec
from codex_fusion.tasks.manager import TaskManager
from codex_fusion.tasks.record import TaskBrief

from .conftest import FakeAgentSetup
from .gitrepo import git

#: A report that meets criterion 1 and lists the files.
REPORT = "SUMMARY: done\\nTESTS: python3 -m pytest — passed\\nCRITERIA: 1 met\\nFILES: {files}"


def make_repo(workspace: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(workspace, "init", "-q")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "initial")


def fingerprint(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (``.git`` included) with its kind, mode and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            info = path.lstat()
            if path.is_symlink():
                out[rel] = f"link {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = f"dir {info.st_mode:o}"
            else:
                out[rel] = f"file {info.st_mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return out


def brief(
    *lines: str, files: str = "a.py", criteria: tuple[str, ...] = ("it works",), **kw: object
) -> TaskBrief:
    """A task brief whose text carries ``@fake`` directives, ending with a report for ``files``."""
    text = "\n".join(["Do the thing.", *lines, "@fake say " + REPORT.format(files=files)])
    return TaskBrief(text, criteria=criteria, **kw)  # type: ignore[arg-type]


def any_member(config: Config) -> Callable[[str, Path], MemberSpec]:
    """The test seam for ``Config.task_member``: the fake agent cannot be confined (it is no
    codex-acp), so the tests take the configured member as it is."""
    return lambda name, _tree: config.members[name]


def manager(fake: FakeAgentSetup, config: Config | None = None) -> TaskManager:
    config = config or fake.config()
    return TaskManager(config, spawn=fake.spawn(), member_for=any_member(config))
