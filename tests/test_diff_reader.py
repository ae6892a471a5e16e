"""The patch is read in a worker thread from a pipe of our own (ADR 0030): a diff that outlasts its
time limit, or whose caller gives up, still ends with git's whole process group killed, the thread
back, and the error saying what to do; a normal diff reads the same whole."""

from __future__ import annotations

import os
import shlex
import shutil
import threading
import time
from pathlib import Path

import anyio
import pytest

from codex_fusion.errors import DiffError
from codex_fusion.review.diffs import DiffRequest, collect_diff

from .conftest import group_alive
from .gitrepo import git
from .test_diffs import ended, wait_for_file, watch_slow_git, write

pytestmark = pytest.mark.anyio


@pytest.fixture
def slow_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that is the real one, except that `git diff` writes a little, starts a
    child that keeps the output pipe open, records both pids and waits forever."""
    real = shutil.which("git")
    assert real is not None
    pid_file = tmp_path / "slow-git.pid"
    quoted = shlex.quote(str(pid_file))
    script = f"""#!/bin/sh
case " $* " in
*" diff "*)
    printf ':100644 100644 0 0 M\\0a.txt\\0'
    sleep 90 &
    echo $$ $! > {quoted}.tmp && mv {quoted}.tmp {quoted}
    wait
    ;;
esac
exec {shlex.quote(real)} "$@"
"""
    write(tmp_path / "slow-bin" / "git", script).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'slow-bin'}{os.pathsep}{os.environ['PATH']}")
    return pid_file


def _repository(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    (path / "a.txt").write_text("one\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    (path / "a.txt").write_text("two\n")
    return path


async def test_a_diff_past_its_time_limit_kills_git_and_the_reader_returns(
    tmp_path: Path, slow_diff: Path
) -> None:
    workspace = _repository(tmp_path / "ws")
    threads = threading.active_count()
    with anyio.fail_after(30):  # the reader would block for ever on a pipe git's child keeps open
        with pytest.raises(DiffError, match=r"git diff did not finish within 2 s.*Pass `paths`"):
            await collect_diff(workspace, DiffRequest(), timeout=2)
    group, pidfds = watch_slow_git(slow_diff)
    await ended(pidfds)
    assert not group_alive(group)
    assert threading.active_count() <= threads + 1  # anyio keeps an idle worker; none still reading


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid (util-linux)")
async def test_a_child_outside_gits_group_holding_the_pipe_does_not_hold_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killing git's group closes its end of the pipe, but not a copy held outside the group: the
    reader is woken all the same, and the time limit is still a time limit."""
    real = shutil.which("git")
    assert real is not None
    escaped = tmp_path / "escaped.pid"
    script = f"""#!/bin/sh
case " $* " in
*" diff "*)
    setsid sh -c 'echo $$ > {shlex.quote(str(escaped))}; exec sleep 90' &
    wait
    ;;
esac
exec {shlex.quote(real)} "$@"
"""
    write(tmp_path / "escape-bin" / "git", script).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'escape-bin'}{os.pathsep}{os.environ['PATH']}")
    workspace = _repository(tmp_path / "ws")
    started = time.monotonic()
    try:
        with pytest.raises(DiffError, match=r"git diff did not finish within 2 s"):
            await collect_diff(workspace, DiffRequest(), timeout=2)
        assert time.monotonic() - started < 30, "the reader waited for the escaped child's pipe"
    finally:
        if escaped.exists():
            os.kill(int(escaped.read_text()), 9)  # the one process we started outside the group


async def test_a_caller_that_gives_up_mid_diff_leaves_no_git_behind(tmp_path: Path, slow_diff: Path) -> None:
    workspace = _repository(tmp_path / "ws")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collect_diff, workspace, DiffRequest())
            await wait_for_file(slow_diff)
            group, pidfds = watch_slow_git(slow_diff)
            tg.cancel_scope.cancel()
    await ended(pidfds)
    assert not group_alive(group)


async def test_a_large_diff_reads_whole_through_the_pipe(tmp_path: Path) -> None:
    """Several MiB, more than the pipe and the read step hold: every file is there, in order."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    git(workspace, "init", "-q")
    for index in range(60):
        (workspace / f"f{index:02d}.txt").write_text("".join(f"old {n} {'x' * 90}\n" for n in range(500)))
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "base")
    for index in range(60):
        (workspace / f"f{index:02d}.txt").write_text("".join(f"new {n} {'y' * 90}\n" for n in range(500)))
    material = await collect_diff(workspace, DiffRequest(), max_chars=10**8, timeout=60)
    assert [summary.path for summary in material.files] == [f"f{index:02d}.txt" for index in range(60)]
    assert all(summary.included and summary.added == 500 for summary in material.files)
    assert material.text.count("\n+new ") == 60 * 500
