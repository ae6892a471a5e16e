"""Delegated tasks in memory, with the scripted fake agent: the state table, delegate → review →
accept / rework / discard, the checks, the three-way accept and its refusals, restarts in every
state, orphan clean-up, parallel tasks (issue 20)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from codex_fusion.errors import TaskError
from codex_fusion.tasks import render
from codex_fusion.tasks.manager import TaskManager
from codex_fusion.tasks.store import TaskLock, TaskStore
from codex_fusion.tasks.table import MAX_REWORKS, TRANSITIONS, TaskEvent, TaskState, next_state, rework_event
from codex_fusion.tasks.task import Task

from .conftest import FakeAgentSetup
from .task_fixtures import brief, fingerprint, git, make_repo, manager

pytestmark = pytest.mark.anyio

FILES = {"a.py": "one\ntwo\nthree\nfour\nfive\nsix\nseven\n", "src/b.py": "print('b')\n"}


@pytest.fixture
def repo(fake: FakeAgentSetup) -> Path:
    make_repo(fake.workspace, FILES)
    return fake.workspace


async def settle(tasks: TaskManager, task: Task) -> Task:
    await tasks.wait(task, 30)
    assert task.settled, task.progress
    return task


def checks(task: Task) -> set[str]:
    return {f.check for f in task.record.failed_checks}


# -- the state table ---------------------------------------------------------------------------------


def test_the_state_table_allows_exactly_its_transitions() -> None:
    for state in TaskState:
        for event in TaskEvent:
            if (state, event) in TRANSITIONS:
                assert next_state("t1", state, event) is TRANSITIONS[(state, event)]
            else:
                with pytest.raises(TaskError, match=f"Task t1 is {state}"):
                    next_state("t1", state, event)
    assert next_state("t1", TaskState.REVIEW, TaskEvent.REWORK) is TaskState.RUNNING
    assert next_state("t1", TaskState.RUNNING, TaskEvent.RESTARTED) is TaskState.INTERRUPTED
    for terminal in (TaskState.ACCEPTED, TaskState.DISCARDED):
        assert not any(state is terminal for state, _ in TRANSITIONS)
    assert [rework_event(n) for n in range(MAX_REWORKS + 2)] == [TaskEvent.REWORK] * MAX_REWORKS + [
        TaskEvent.REWORK_LIMIT
    ] * 2


# -- delegate, review, accept ------------------------------------------------------------------------


async def test_a_task_is_reviewed_before_anything_changes_then_accepted_exactly(
    fake: FakeAgentSetup, repo: Path
) -> None:
    (repo / "a.py").write_text(FILES["a.py"] + "uncommitted\n")  # the copy has the user's work too
    (repo / "notes.txt").write_text("untracked\n")
    before = fingerprint(repo)
    async with manager(fake) as tasks:
        task = await tasks.delegate(
            brief(
                "@fake write a.py ONE\\ntwo\\nthree\\nfour\\nfive\\nsix\\nseven\\nuncommitted\\n",
                "@fake write src/new.py x = 1\\n",
                files="a.py, src/new.py",
            ),
            "codex",
        )
        await settle(tasks, task)
        assert task.state is TaskState.REVIEW
        assert fingerprint(repo) == before  # byte-identical, .git included
        summary, patch = await tasks.texts(task, 10_000)
        text = render.review(task, summary, patch, 10_000, tasks.patch_path(task))
        assert text.startswith("Task t1 · review · Codex · 2 files")
        assert "Checks: ✓ all passed." in text
        assert "+ONE" in patch
        assert "+x = 1" in patch
        assert "notes.txt" not in patch  # copied, unchanged
        assert str(tasks.patch_path(task)) in text
        accepted = await tasks.accept(task, force=False, reason=None)
    assert task.state is TaskState.ACCEPTED
    assert sorted(accepted.applied.written) == ["a.py", "src/new.py"]
    assert (repo / "a.py").read_text().startswith("ONE\ntwo")
    assert (repo / "src/new.py").read_text() == "x = 1\n"
    after = fingerprint(repo)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {"a.py", "src/new.py"}  # exactly the patch: .git (HEAD, index) untouched
    assert git(repo, "diff", "--cached", "--name-only") == ""  # not staged, not committed
    assert not (tasks.patch_path(task).parent / "tree").exists()


async def test_the_brief_names_paths_criteria_and_the_report(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(
            brief("@fake write a.py x", paths=("src", "a.py"), constraints="no new dependencies"), "codex"
        )
        await settle(tasks, task)
    sent = fake.received("session/prompt")[0]["params"]["prompt"][0]["text"]
    for needle in ("<allowed_paths>", "- src", "1. it works", "no new dependencies", "CRITERIA:", "FILES:"):
        assert needle in sent
    opened = fake.received("session/new")[0]["params"]
    assert opened["cwd"] == str(task.tree)  # the member's root is the worktree, not the workspace


async def test_delegate_returns_while_the_task_runs_and_show_waits_for_it(
    fake: FakeAgentSetup, repo: Path
) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake wait go", "@fake write a.py x"), "codex")
        await tasks.wait(task, 0.2)
        assert task.state is TaskState.RUNNING
        assert render.running(task).startswith("Task t1 · running · Codex")
        fake.gate("go").set()
        await settle(tasks, task)
        assert task.state is TaskState.REVIEW


# -- checks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "check"),
    [
        (["@fake write src/other.py x"], "outside-paths"),
        (["@fake write .claude/settings.json {}"], "execution-bearing"),
        (["@fake write .github/workflows/ci.yml on: push"], "execution-bearing"),
        (["@fake symlink a.py /etc/passwd"], "symlink"),
        (["@fake writebin a.py"], "binary"),
        (["@fake write a.py token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"], "credentials"),
        ([], "empty"),
    ],
)
async def test_each_check_fails_the_patch_and_accept_refuses_it(
    fake: FakeAgentSetup, repo: Path, lines: list[str], check: str
) -> None:
    before = fingerprint(repo)
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief(*lines, paths=("a.py", ".claude", ".github")), "codex")
        await settle(tasks, task)
        assert check in checks(task), task.record.findings
        with pytest.raises(TaskError, match="check\\(s\\) failed"):
            await tasks.accept(task, force=False, reason=None)
    assert fingerprint(repo) == before


async def test_outside_paths_is_checked_against_the_brief(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write src/other.py x", paths=("a.py",)), "codex")
        await settle(tasks, task)
    assert "outside-paths" in checks(task)


async def test_criteria_must_be_reported_met(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        text = "Do it.\n@fake write a.py x\n@fake say SUMMARY: s\\nTESTS: 2 failed\\nCRITERIA: 1 not met\\nFILES: a.py"
        task = await tasks.delegate(brief().__class__(text, criteria=("x", "y")), "codex")
        await settle(tasks, task)
    messages = [f.message for f in task.record.failed_checks]
    assert any("criterion 1" in m and "NOT met" in m for m in messages)
    assert any("criterion 2" in m and "not reported" in m for m in messages)
    assert "tests" in checks(task)


async def test_a_git_directory_written_in_the_worktree_never_reaches_the_workspace(
    fake: FakeAgentSetup, repo: Path
) -> None:
    hooks = repo / ".git" / "hooks"
    before = sorted(os.listdir(hooks))
    async with manager(fake) as tasks:
        task = await tasks.delegate(
            brief("@fake write .git/hooks/pre-commit #!/bin/sh", "@fake write a.py x"), "codex"
        )
        await settle(tasks, task)
        assert [c.path for c in task.record.files] == ["a.py"]  # git never stages a .git directory
        await tasks.accept(task, force=False, reason=None)
    assert sorted(os.listdir(hooks)) == before


async def test_force_needs_a_reason_and_logs_it(
    fake: FakeAgentSetup, repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write .envrc export X=1", files=".envrc"), "codex")
        await settle(tasks, task)
        assert "execution-bearing" in checks(task)
        with pytest.raises(TaskError, match="needs your reason"):
            await tasks.accept(task, force=True, reason=" ")
        await tasks.accept(task, force=True, reason="the user asked for this .envrc")
    assert (repo / ".envrc").read_text() == "export X=1"
    assert task.record.forced == "the user asked for this .envrc"
    assert "the user asked for this .envrc" in caplog.text


# -- accept: conflicts, merges, all or nothing -------------------------------------------------------


async def test_a_conflict_refuses_the_whole_accept_and_names_the_file(
    fake: FakeAgentSetup, repo: Path
) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(
            brief("@fake write a.py ONE\\n", "@fake write src/b.py print('B')\\n", files="a.py, src/b.py"),
            "codex",
        )
        await settle(tasks, task)
        (repo / "a.py").write_text("the user's own edit\n")  # changed underneath, overlapping
        before = fingerprint(repo)
        with pytest.raises(
            TaskError, match=r"a\.py \(changed since the task started, and the changes overlap\)"
        ):
            await tasks.accept(task, force=True, reason="force never overrides a conflict")
        assert fingerprint(repo) == before  # src/b.py was not written either
        assert task.state is TaskState.REVIEW


async def test_changes_on_both_sides_that_do_not_overlap_are_merged(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(
            brief("@fake write a.py ONE\\ntwo\\nthree\\nfour\\nfive\\nsix\\nseven\\n"), "codex"
        )
        await settle(tasks, task)
        (repo / "a.py").write_text(FILES["a.py"].replace("seven", "SEVEN"))
        accepted = await tasks.accept(task, force=False, reason=None)
    assert accepted.applied.merged == ("a.py",)
    assert (repo / "a.py").read_text() == "ONE\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n"
    assert "Merged with your own changes" in render.accepted(accepted)


async def test_a_file_created_meanwhile_conflicts(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write new.py mine", files="new.py"), "codex")
        await settle(tasks, task)
        (repo / "new.py").write_text("the user's\n")
        with pytest.raises(TaskError, match="created since the task started"):
            await tasks.accept(task, force=False, reason=None)
    assert (repo / "new.py").read_text() == "the user's\n"


async def test_nothing_is_written_through_a_symlinked_directory(
    fake: FakeAgentSetup, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write src/c.py x", files="src/c.py"), "codex")
        await settle(tasks, task)
        git(repo, "rm", "-q", "-r", "--cached", "src")
        os.rename(repo / "src", tmp_path / "src-moved")
        (repo / "src").symlink_to(outside)  # the workspace's src is now a link out of it
        with pytest.raises(TaskError, match="src is a symlink: nothing is written through one"):
            await tasks.accept(task, force=True, reason="no")
    assert list(outside.iterdir()) == []


# -- rework, blocked, discard ------------------------------------------------------------------------


async def test_rework_goes_to_the_same_session_in_the_same_worktree_three_times_then_blocks(
    fake: FakeAgentSetup, repo: Path
) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write a.py first"), "codex")
        await settle(tasks, task)
        for number in range(1, MAX_REWORKS + 1):
            await tasks.rework(
                task, f"again\n@fake write r{number}.txt {number}\n@fake say SUMMARY: r{number}"
            )
            await settle(tasks, task)
            assert task.state is TaskState.REVIEW
            assert task.record.reworks == number
        paths = sorted(c.path for c in task.record.files)
        assert paths == ["a.py", "r1.txt", "r2.txt", "r3.txt"]  # every attempt's work stays
        sessions = {m["params"]["sessionId"] for m in fake.received("session/prompt")}
        assert len(sessions) == 1
        assert len(fake.received("initialize")) == 1  # one agent for the task's whole life
        await tasks.rework(task, "a fourth time")
        assert task.state is TaskState.BLOCKED
        summary, patch = await tasks.texts(task, 10_000)
        assert "reworks are used" in render.review(task, summary, patch, 10_000, tasks.patch_path(task))
        with pytest.raises(TaskError, match="is blocked: it cannot rework"):
            await tasks.rework(task, "and again")
        await tasks.accept(task, force=True, reason="the criteria report lags the reworks")
    assert (repo / "r3.txt").read_text() == "3"


async def test_rework_notes_reach_the_member(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake write a.py first"), "codex")
        await settle(tasks, task)
        with pytest.raises(TaskError, match="`notes` is empty"):
            await tasks.rework(task, "  ")
        await tasks.rework(task, "NOTE-42: rename the function")
        await settle(tasks, task)
    last = fake.received("session/prompt")[-1]["params"]["prompt"][0]["text"]
    assert "NOTE-42: rename the function" in last
    assert "Rework 1 of 3" in last


async def test_discard_stops_the_member_and_removes_the_worktree(fake: FakeAgentSetup, repo: Path) -> None:
    before = fingerprint(repo)
    async with manager(fake) as tasks:
        task = await tasks.delegate(brief("@fake wait never", "@fake write a.py x"), "codex")
        await tasks.wait(task, 0.3)
        assert task.state is TaskState.RUNNING
        await tasks.discard(task)
        assert task.state is TaskState.DISCARDED
        assert task.consultant is None
        assert fake.hosts[-1].returncode is not None  # its agent is gone
        assert not task.tree.exists()
        with pytest.raises(TaskError, match="is discarded"):
            await tasks.accept(task, force=True, reason="x")
    assert fingerprint(repo) == before


# -- pauses ------------------------------------------------------------------------------------------


async def test_a_command_that_asks_pauses_the_task_for_permit(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await tasks.delegate(
            brief("@fake permit execute ts echo hi > made.txt", files="made.txt"), "codex"
        )
        await settle(tasks, task)
        assert task.state is TaskState.RUNNING
        assert task.pause is not None
        assert tasks.holder(None) is task
        assert tasks.holder(task.pause.request.ref) is task
        with pytest.raises(Exception, match="r99"):
            await tasks.permit(task, "allow", None, "r99")
        await tasks.permit(task, "allow", None, task.pause.request.ref)
        await settle(tasks, task)
        assert task.state is TaskState.REVIEW
    assert [c.path for c in task.record.files] == ["made.txt"]


# -- parallel tasks ----------------------------------------------------------------------------------


async def test_two_tasks_run_at_once_each_in_its_own_worktree_and_overlaps_are_named(
    fake: FakeAgentSetup, repo: Path
) -> None:
    async with manager(fake) as tasks:
        one = await tasks.delegate(brief("@fake wait go", "@fake write a.py ONE\\n"), "codex")
        two = await tasks.delegate(brief("@fake wait go", "@fake write a.py TWO\\n"), "codex")
        with anyio.fail_after(20):
            while len(fake.received("session/prompt")) < 2:
                await anyio.sleep(0.01)
        assert one.tree != two.tree
        assert {one.state, two.state} == {TaskState.RUNNING}
        listing = render.listing(list(tasks.tasks.values()))
        assert "tasks: 2 open" in listing
        assert "- t1 · running" in listing
        assert "- t2 · running" in listing
        fake.gate("go").set()
        await settle(tasks, one)
        await settle(tasks, two)
        accepted = await tasks.accept(one, force=False, reason=None)
        assert accepted.overlaps == (("t2", "review", ("a.py",)),)
        assert "Overlap: task t2 (review) changes a.py" in render.accepted(accepted)
        with pytest.raises(TaskError, match=r"a\.py \(changed since"):
            await tasks.accept(two, force=False, reason=None)  # its patch no longer applies
    assert (repo / "a.py").read_text() == "ONE\n"


async def test_a_council_member_takes_a_task_and_the_task_names_it(fake: FakeAgentSetup, repo: Path) -> None:
    config = fake.config("name=codex", CODEX_FUSION_MEMBERS=fake.members_json({"gemini": {}}))
    async with manager(fake, config) as tasks:
        task = await tasks.delegate(brief("@fake[gemini] write a.py by gemini"), "gemini")
        await settle(tasks, task)
        summary, patch = await tasks.texts(task, 10_000)
    assert task.record.member == "gemini"
    assert render.review(task, summary, patch, 10_000, Path("p")).startswith("Task t1 · review · Gemini")
    assert fake.received("session/prompt", agent="gemini")
    assert not fake.received("session/prompt", agent="codex")
    assert (task.record.files[0].path, task.record.files[0].added) == ("a.py", 1)


# -- restarts ----------------------------------------------------------------------------------------


async def test_restart_in_every_state(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        review = await settle(tasks, await tasks.delegate(brief("@fake write a.py R\\n"), "codex"))
        blocked = await settle(
            tasks, await tasks.delegate(brief("@fake write src/b.py B\\n", files="src/b.py"), "codex")
        )
        for _ in range(MAX_REWORKS):
            await tasks.rework(blocked, "more")
            await settle(tasks, blocked)
        await tasks.rework(blocked, "more")
        accepted = await settle(
            tasks, await tasks.delegate(brief("@fake write c.txt C", files="c.txt"), "codex")
        )
        await tasks.accept(accepted, force=False, reason=None)
        discarded = await settle(
            tasks, await tasks.delegate(brief("@fake write d.txt D", files="d.txt"), "codex")
        )
        await tasks.discard(discarded)
        running = await tasks.delegate(brief("@fake wait t5", "@fake write e.txt E", files="e.txt"), "codex")
        paused = await tasks.delegate(brief("@fake permit execute ts echo hi"), "codex")
        await tasks.wait(paused, 20)
        assert paused.pause is not None
        assert running.state is TaskState.RUNNING
        ids = {t.id: t.state for t in (review, blocked, accepted, discarded, running, paused)}
    assert ids == {
        "t1": "review",
        "t2": "blocked",
        "t3": "accepted",
        "t4": "discarded",
        "t5": "running",
        "t6": "running",
    }

    async with manager(fake) as again:
        states = {t.id: t.state for t in again.tasks.values()}
        assert states == {
            "t1": TaskState.REVIEW,
            "t2": TaskState.BLOCKED,
            "t3": TaskState.ACCEPTED,
            "t4": TaskState.DISCARDED,
            "t5": TaskState.INTERRUPTED,
            "t6": TaskState.INTERRUPTED,
        }
        assert sorted(again.interrupted) == ["t5", "t6"]
        t1 = again.get("t1")
        summary, patch = await again.texts(t1, 10_000)
        assert "+R" in patch
        assert summary.startswith("SUMMARY: done")  # read back from disk
        t5 = again.get("t5")
        assert render.interrupted(t5).startswith("Task t5 · interrupted")
        with pytest.raises(TaskError, match="is interrupted: it cannot accept"):
            await again.accept(t5, force=True, reason="x")
        fake.gate("t5").set()  # the resumed prompt repeats the task (the new session has not seen it)
        await again.rework(t5, "go on\n@fake write e.txt E2")
        await settle(again, t5)
        assert t5.state is TaskState.REVIEW
        assert t5.tree.joinpath("e.txt").read_text() == "E2"
        assert (
            "interrupted (codex-fusion restarted)"
            in fake.received("session/prompt")[-1]["params"]["prompt"][0]["text"]
        )
        await again.accept(again.get("t1"), force=False, reason=None)
        await again.accept(again.get("t2"), force=True, reason="reworks used, good enough")
        await again.discard(again.get("t6"))
        assert "t3" in render.listing(list(again.tasks.values()))
    assert (repo / "a.py").read_text() == "R\n"
    assert (repo / "src/b.py").read_text() == "B\n"
    store = TaskStore(fake.config().state_dir)  # type: ignore[arg-type]
    for task_id in ("t1", "t2", "t3", "t4", "t6"):
        assert not (store.directory(task_id) / "tree").exists(), task_id


async def test_orphans_are_cleaned_up_on_start_and_others_left_alone(
    fake: FakeAgentSetup, repo: Path
) -> None:
    config = fake.config()
    assert config.state_dir is not None
    store = TaskStore(config.state_dir)
    async with manager(fake, config) as tasks:
        done = await settle(tasks, await tasks.delegate(brief("@fake write a.py x"), "codex"))
        await tasks.discard(done)
    orphan = store.root / "t50"  # a task directory without a record (a crash mid-start)
    (orphan / "tree").mkdir(parents=True)
    (orphan / "tree" / "f").write_text("x")
    os.chmod(orphan / "tree", 0o500)  # read-only, as a command may leave it
    stale = store.directory("t1") / "tree"  # a finished task whose worktree survived a crash
    stale.mkdir()
    held = store.root / "t60"  # alive in another server: locked
    held.mkdir()
    lock = TaskLock.take(held)
    other = store.root / "t70"  # another workspace's task
    other.mkdir()
    record = json.loads((store.directory("t1") / "task.json").read_text())
    (other / "task.json").write_text(
        json.dumps({**record, "id": "t70", "workspace": "/elsewhere", "state": "running"})
    )
    (store.root / "not-a-task").mkdir()
    try:
        async with manager(fake, config) as again:
            assert sorted(again.cleaned) == ["t1/tree", "t50"]
            assert set(again.tasks) == {"t1"}
    finally:
        assert lock is not None
        lock.release()
    assert not orphan.exists()
    assert not stale.exists()
    assert held.exists()
    assert json.loads((other / "task.json").read_text())["state"] == "running"  # not ours to interrupt
    assert (store.root / "not-a-task").exists()


async def test_task_files_are_private(fake: FakeAgentSetup, repo: Path) -> None:
    async with manager(fake) as tasks:
        task = await settle(tasks, await tasks.delegate(brief("@fake write a.py x"), "codex"))
        for path in (task.directory, task.directory.parent, task.tree, task.directory / "git"):
            assert oct(path.stat().st_mode & 0o777) == "0o700", path
        for name in ("task.json", "summary.txt", "patch.diff"):
            assert oct((task.directory / name).stat().st_mode & 0o777) == "0o600", name


async def test_the_copy_never_reads_through_a_symlink(
    fake: FakeAgentSetup, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "b.py").write_text("OUTSIDE-SECRET\n")
    git(repo, "add", "-A")
    os.rename(repo / "src", tmp_path / "src-moved")
    (repo / "src").symlink_to(outside)  # tracked src/b.py, but src is now a link out of the workspace
    (repo / "link.txt").symlink_to(outside / "b.py")
    async with manager(fake) as tasks:
        task = await settle(tasks, await tasks.delegate(brief("@fake write a.py x"), "codex"))
        assert (task.tree / "src").is_symlink()  # copied as the link it now is (git lists it untracked)
        assert any("src/b.py (below a symlink" in s for s in task.record.skipped)
        assert os.readlink(task.tree / "link.txt") == str(outside / "b.py")  # a link stays a link
        for path in task.tree.rglob("*"):  # rglob does not follow the link
            if path.is_file() and not path.is_symlink():
                assert "OUTSIDE-SECRET" not in path.read_text(errors="replace")


async def test_a_file_changed_while_accept_runs_refuses_it_whole(
    fake: FakeAgentSetup, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codex_fusion.tasks import apply as task_apply

    reviewed = task_apply._reviewed

    async def racing(tg: object, change: object) -> object:
        (repo / "a.py").write_text("typed by the user just now\n")  # after the check, before the write
        return await reviewed(tg, change)  # type: ignore[arg-type]

    async with manager(fake) as tasks:
        task = await settle(
            tasks, await tasks.delegate(brief("@fake write a.py x", "@fake write z.py z"), "codex")
        )
        monkeypatch.setattr(task_apply, "_reviewed", racing)
        with pytest.raises(TaskError, match="changed while the patch was being applied"):
            await tasks.accept(task, force=True, reason="x")
    assert (repo / "a.py").read_text() == "typed by the user just now\n"
    assert not (repo / "z.py").exists()


async def test_an_error_half_way_through_the_write_puts_everything_back(
    fake: FakeAgentSetup, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = fingerprint(repo)
    real_rename = os.rename
    failed: list[object] = []

    def failing(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if os.fsdecode(dst) == "b.py" and not failed:  # src/b.py's swap (within src's handle), once
            failed.append(dst)
            raise OSError(28, "No space left on device")
        real_rename(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    async with manager(fake) as tasks:
        task = await settle(
            tasks,
            await tasks.delegate(
                brief("@fake write a.py A", "@fake write src/b.py B", "@fake write src/n/new.py N"), "codex"
            ),
        )
        monkeypatch.setattr(os, "rename", failing)
        with pytest.raises(OSError, match="No space left"):
            await tasks.accept(task, force=True, reason="x")
        monkeypatch.undo()
        assert task.state is TaskState.REVIEW
    assert fingerprint(repo) == before  # a.py restored, src/n removed, no temporary files left
