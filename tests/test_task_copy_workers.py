"""The copy's worker processes (issue 26 item 1, ADR 0029): a copy split over several of them is still
exactly the files and the base a full copy gives; a worker that dies fails the step, saying what to
do, with nothing written; a cancelled copy leaves no worker running."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_fusion.errors import TaskError
from codex_fusion.tasks import workcopy

from .gitrepo import git
from .test_task_copy import create, full_tree, make_workspace, tree_of

pytestmark = pytest.mark.anyio


def spawns(monkeypatch: pytest.MonkeyPatch, then: Any = None) -> list[workcopy.Worker]:
    """Every worker the copy starts, in order (``then`` runs on each as it starts)."""
    started: list[workcopy.Worker] = []
    spawn = workcopy._spawn

    async def counted(paths: Any) -> workcopy.Worker:
        worker = await spawn(paths)
        started.append(worker)
        if then is not None:
            then(worker)
        return worker

    monkeypatch.setattr(workcopy, "_spawn", counted)
    return started


async def test_a_copy_split_over_several_workers_is_the_full_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_workspace(tmp_path)
    monkeypatch.setattr(workcopy, "FILES_PER_WORKER", 2)  # 9 files: runs that split directories
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    started = spawns(monkeypatch)
    task = tmp_path / "task"
    snap = await create(ws, task)
    assert len(started) == 4
    assert all(worker.process.returncode is not None for worker in started)
    assert snap.files == 9
    assert tree_of(task, snap.base) == full_tree(task)
    for name in ("a.py", "src/b.py", "src/deep/c.txt", "untracked.txt", "run.sh"):
        assert (task / "tree" / name).read_bytes() == (ws / name).read_bytes()
    assert os.readlink(task / "tree" / "link") == "src/b.py"


async def test_a_worker_that_dies_fails_the_step_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_workspace(tmp_path)
    started = spawns(monkeypatch, then=lambda worker: worker.process.kill())
    task = tmp_path / "task"
    with pytest.raises(TaskError, match=r"A copy worker ended unexpectedly .*delegate again"):
        await create(ws, task)
    assert started
    assert all(worker.process.returncode is not None for worker in started)
    assert list(task.iterdir()) == []


async def test_a_cancelled_copy_leaves_no_worker_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    (ws / "d").mkdir(parents=True)
    for index in range(3000):
        (ws / "d" / f"f{index}.txt").write_text(f"{index}\n")
    git(ws, "init", "-q")
    monkeypatch.setattr(workcopy, "PROGRESS_S", 0.0)
    started = spawns(monkeypatch)
    with anyio.CancelScope() as scope:
        await create(ws, tmp_path / "task", progress=lambda _line: scope.cancel())
    assert scope.cancelled_caught
    assert started
    assert all(worker.process.returncode is not None for worker in started)
