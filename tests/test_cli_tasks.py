"""`codex-fusion task …`: the server's task store from a terminal, by its locks: a task a running
server holds is refused, never raced; rework and retry run in the foreground and settle."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_fusion.cli import tasks as cli_tasks
from codex_fusion.cli.main import _parser, main
from codex_fusion.tasks.table import MAX_REWORKS, TaskState

from .conftest import FakeAgentSetup
from .task_fixtures import any_member, brief, fingerprint, make_repo, manager

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_repo(fake.workspace, {"a.py": "one\n"})
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    return fake.workspace


async def _in_review(fake: FakeAgentSetup, text: str = "@fake write a.py changed") -> str:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief(text), "codex")
        await tasks.wait(task, 30)
        assert task.state is TaskState.REVIEW
        return task.id


async def _cli(*argv: str) -> int:
    return await anyio.to_thread.run_sync(main, list(argv))


async def test_list_show_and_accept_from_the_terminal(
    fake: FakeAgentSetup, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = await _in_review(fake)
    assert await _cli("task", "list") == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{task_id} · review · codex · 1 file(s)")
    assert await _cli("task", "show", task_id) == 0
    shown = capsys.readouterr().out
    assert f"Task {task_id} · review" in shown
    assert "+changed" in shown
    assert (repo / "a.py").read_text() == "one\n"
    assert await _cli("task", "accept", task_id) == 0
    assert "accepted" in capsys.readouterr().out
    assert (repo / "a.py").read_text() == "changed"
    assert await _cli("task", "show", "t99") == 1
    assert "No task 't99'" in capsys.readouterr().err


async def test_a_task_a_running_server_holds_is_refused_not_raced(
    fake: FakeAgentSetup, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = await _in_review(fake)
    async with manager(fake) as server:  # holds the task's lock, as a running server does
        assert task_id in server.tasks
        before = fingerprint(repo)
        for action in ("accept", "discard"):
            assert await _cli("task", action, task_id) == 1
            assert "held by a running codex-fusion server" in capsys.readouterr().err
        assert fingerprint(repo) == before
        assert server.tasks[task_id].state is TaskState.REVIEW
        assert await _cli("task", "list") == 0  # reading takes no lock
        assert task_id in capsys.readouterr().out


async def _run(fake: FakeAgentSetup, *argv: str) -> tuple[int, Any]:
    args = _parser().parse_args(list(argv))

    async def deny(pause: object) -> tuple[str, str]:
        return "deny", "no"

    config = fake.config()
    call = functools.partial(cli_tasks.run, args, deny, any_member(config))
    return await anyio.to_thread.run_sync(call), args


async def test_retry_from_the_terminal_unblocks_and_waits_for_the_result(
    fake: FakeAgentSetup, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write a.py first"), "codex")
        await tasks.wait(task, 30)
        task.record.reworks = MAX_REWORKS
        await tasks.rework(task, "once more")
        assert task.state is TaskState.BLOCKED
    code, _ = await _run(
        fake, "task", "retry", task.id, "--notes", "@fake write b.txt two\n@fake say SUMMARY: ok"
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"Task {task.id} · review" in out.out
    assert "retry by the terminal" in out.out
    code, _ = await _run(
        fake, "task", "rework", task.id, "--notes", "@fake write c.txt 3\n@fake say SUMMARY: c"
    )
    assert code == 0
    assert f"reworks 1/{MAX_REWORKS}" in capsys.readouterr().out
