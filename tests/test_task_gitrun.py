"""A patch that arms the repository through its own execution config is flagged (issue 25 item 3):
a hook in the workspace's ``core.hooksPath`` directory, a directory shaped like a git directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_fusion.errors import TaskError
from codex_fusion.tasks import gitrun
from codex_fusion.tasks.checks import git_directories, repository_bearing
from codex_fusion.tasks.manager import Task, TaskManager

from .conftest import FakeAgentSetup
from .task_fixtures import brief, git, make_repo, manager

pytestmark = pytest.mark.anyio


async def settle(tasks: TaskManager, task: Task) -> Task:
    await tasks.wait(task, 30)
    assert task.settled, task.progress
    return task


def failed(task: Task) -> list[str]:
    return [f.message for f in task.record.failed_checks if f.check == "execution-bearing"]


async def test_a_hook_in_the_workspaces_hooks_path_is_refused_without_force(fake: FakeAgentSetup) -> None:
    make_repo(fake.workspace, {"a.py": "x\n"})
    git(fake.workspace, "config", "core.hooksPath", ".githooks")
    async with manager(fake) as tasks:
        task = await settle(
            tasks, await tasks.delegate(brief("@fake write .githooks/pre-commit #!/bin/sh"), "codex")
        )
        messages = failed(task)
        assert any(".githooks" in m and "core.hooksPath" in m for m in messages), task.record.findings
        with pytest.raises(TaskError, match="check\\(s\\) failed"):
            await tasks.accept(task, force=False, reason=None)
    assert not (fake.workspace / ".githooks" / "pre-commit").exists()


async def test_a_directory_shaped_like_a_git_directory_is_refused(fake: FakeAgentSetup) -> None:
    make_repo(fake.workspace, {"a.py": "x\n"})
    lines = (
        "@fake write vendor/x/HEAD ref: refs/heads/main",
        "@fake write vendor/x/config [core]",
        "@fake write vendor/x/objects/info/packs x",
        "@fake write vendor/x/refs/heads/keep x",
    )
    async with manager(fake) as tasks:
        task = await settle(tasks, await tasks.delegate(brief(*lines, paths=("vendor",)), "codex"))
        assert any("vendor/x looks like a git directory" in m for m in failed(task)), task.record.findings
        with pytest.raises(TaskError, match="check\\(s\\) failed"):
            await tasks.accept(task, force=False, reason=None)


def test_the_hooks_path_is_read_from_git_and_mapped_into_the_workspace(tmp_path: Path) -> None:
    make_repo(tmp_path, {"a.py": "x\n"})
    git(tmp_path, "config", "core.hooksPath", "tools/hooks")
    git(tmp_path, "config", "core.attributesFile", str(tmp_path / "attrs"))
    assert gitrun.run_paths(tmp_path) == {
        "tools/hooks": gitrun.WATCHED["core.hookspath"],
        "attrs": gitrun.WATCHED["core.attributesfile"],
    }
    git(tmp_path, "config", "core.hooksPath", "/usr/share/hooks")
    assert "tools/hooks" not in gitrun.run_paths(tmp_path)  # outside the workspace: not a patch's business


def test_the_shapes_that_make_a_git_directory() -> None:
    assert git_directories(["d/HEAD", "d/config"]) == {"d"}
    assert git_directories(["HEAD", "refs/heads/x"]) == {""}
    assert git_directories(["d/HEAD", "d/README"]) == set()
    assert repository_bearing("hooks/pre-commit", {"hooks": "git runs"}, set()) is not None
    assert repository_bearing("hooks/sub/x", {"hooks": "git runs"}, set()) is None
