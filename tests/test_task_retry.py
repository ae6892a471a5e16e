"""`retry`: a blocked, interrupted or failed task runs again with a fresh rework budget, recorded in
its history; a task whose turn did not fail is reworked, not retried."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from codex_fusion.errors import TaskError
from codex_fusion.mcp.server import build_server
from codex_fusion.tasks import render
from codex_fusion.tasks.manager import Task, TaskManager
from codex_fusion.tasks.store import RECORD, TaskStore
from codex_fusion.tasks.table import MAX_REWORKS, TaskState

from .conftest import FakeAgentSetup
from .task_fixtures import any_member, brief, make_repo, manager
from .test_tools import text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(fake: FakeAgentSetup) -> Path:
    make_repo(fake.workspace, {"a.py": "one\n"})
    return fake.workspace


async def settle(tasks: TaskManager, task: Task) -> Task:
    await tasks.wait(task, 30)
    assert task.settled, task.progress
    return task


async def _blocked(tasks: TaskManager) -> Task:
    task = await settle(tasks, await tasks.delegate(brief("@fake write a.py first"), "codex"))
    task.record.reworks = MAX_REWORKS
    await tasks.rework(task, "once more")
    assert task.state is TaskState.BLOCKED
    return task


async def test_retry_unblocks_with_a_fresh_budget_and_a_history_line(
    fake: FakeAgentSetup, repo: Path
) -> None:
    async with manager(fake) as tasks:
        task = await _blocked(tasks)
        await tasks.retry(task, "finish it\n@fake write b.txt two\n@fake say SUMMARY: retried", by="the CLI")
        assert task.state is TaskState.RUNNING
        await settle(tasks, task)
        assert task.state is TaskState.REVIEW
        assert task.record.reworks == 0
        assert len(task.record.history) == 1
        assert f"retry by the CLI · blocked after {MAX_REWORKS} reworks" in task.record.history[0]
        summary, patch = await tasks.texts(task, 10_000)
        shown = render.review(task, summary, patch, 10_000, tasks.patch_path(task))
        assert "History:" in shown
        assert f"reworks 0/{MAX_REWORKS}" in shown
        sent = fake.received("session/prompt")[-1]["params"]["prompt"][0]["text"]
        assert "is now tried again" in sent
        await tasks.rework(task, "and a rework works again")  # the budget is fresh
        assert task.state is TaskState.RUNNING
        await settle(tasks, task)
    saved = (fake.data / "state" / "tasks" / task.id / RECORD).read_text()
    assert "retry by the CLI" in saved


async def test_a_task_whose_turn_did_not_fail_is_reworked_not_retried(
    fake: FakeAgentSetup, repo: Path
) -> None:
    async with manager(fake) as tasks:
        task = await settle(tasks, await tasks.delegate(brief("@fake write a.py first"), "codex"))
        assert task.state is TaskState.REVIEW
        with pytest.raises(TaskError, match="rework"):
            await tasks.retry(task)
        assert task.record.history == []


async def test_an_interrupted_task_is_retried_after_a_restart(fake: FakeAgentSetup, repo: Path) -> None:
    config = fake.config()
    async with TaskManager(config, spawn=fake.spawn(), member_for=any_member(config)) as tasks:
        task = await settle(tasks, await tasks.delegate(brief("@fake write a.py first"), "codex"))
        task_id = task.id
        task.record.state = TaskState.RUNNING  # as on disk when the server stops mid-turn
        TaskStore(fake.data / "state").save(task.record)
    async with TaskManager(config, spawn=fake.spawn(), member_for=any_member(config)) as again:
        found = again.get(task_id)
        assert found.state is TaskState.INTERRUPTED
        await again.retry(found, "@fake write c.txt three\n@fake say SUMMARY: done")
        await settle(again, found)
        assert found.state is TaskState.REVIEW
        assert "interrupted by a restart" in found.record.history[0]


async def test_retry_is_a_task_action(fake: FakeAgentSetup, repo: Path) -> None:
    config = fake.config()
    async with Client(build_server(config, spawn=fake.spawn(), task_member=any_member(config))) as client:
        started = text_of(await client.call_tool("delegate", {"task": brief("@fake write a.py x").task}))
        assert started.startswith("Task t1 · review"), started
        refused = await client.call_tool("task", {"id": "t1", "action": "retry"})
        assert refused.is_error
        assert "its turn did not fail: `rework` it" in text_of(refused)
