"""The task's copy and base (issue 25 item 6, issue 26 item 1): the base built from the copy's own blob
ids gives the same tree and patch as hashing the whole copy; a crafted index cannot make the base
differ from the files the member gets; an over-limit workspace is refused before anything is written;
a copy is never a hard link; a FIFO git would wait on fails the step; a huge file is summarised."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tracemalloc
from pathlib import Path

import anyio
import pytest

from codex_fusion.errors import TaskError
from codex_fusion.tasks import patchset, workcopy, worktree
from codex_fusion.tasks.patchset import DIFF

from .gitrepo import git, isolated_env

pytestmark = pytest.mark.anyio


def make_workspace(root: Path) -> Path:
    """Tracked, modified (staged and not), untracked, deleted, symlinks and modes: a dirty index."""
    ws = root / "ws"
    (ws / "src" / "deep").mkdir(parents=True)
    files = {
        "a.py": "one\n",
        "src/b.py": "b\n",
        "src/deep/c.txt": "c\n",
        "gone.txt": "deleted in the working tree\n",
        "staged-gone.txt": "deleted in the index\n",
        "run.sh": "#!/bin/sh\n",
        "mode.sh": "x\n",
    }
    for name, text in files.items():
        (ws / name).write_text(text)
    os.chmod(ws / "run.sh", 0o755)
    (ws / "link").symlink_to("src/b.py")
    (ws / ".gitignore").write_text("ignored/\n")
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "base")
    (ws / "a.py").write_text("one, modified\n")  # modified, not staged
    (ws / "src" / "b.py").write_text("b, staged\n")
    git(ws, "add", "src/b.py")  # modified and staged
    (ws / "src" / "b.py").write_text("b, staged, then changed again\n")  # the index differs from both
    os.unlink(ws / "gone.txt")
    git(ws, "rm", "-q", "staged-gone.txt")
    os.chmod(ws / "mode.sh", 0o755)  # a mode change only
    (ws / "untracked.txt").write_text("new\n")
    (ws / "link2").symlink_to("/nowhere/at/all")
    (ws / "ignored").mkdir()
    (ws / "ignored" / "big.bin").write_bytes(b"\0" * 1000)
    return ws


def full_tree(task: Path) -> str:
    """Today's way: every file of the copy hashed and written by git, with a fresh index."""
    env = isolated_env(GIT_INDEX_FILE=str(task / "full-index"))
    args = ["git", f"--git-dir={task / 'git'}", f"--work-tree={task / 'tree'}"]
    subprocess.run([*args, "add", "-A", "-f"], env=env, check=True, capture_output=True)
    made = subprocess.run([*args, "write-tree"], env=env, check=True, capture_output=True, text=True)
    return made.stdout.strip()


async def create(ws: Path, task: Path, **kw: object) -> worktree.Snapshot:
    task.mkdir(exist_ok=True)
    return await worktree.create(ws, task, base=None, timeout=60, allow_foreign_gitdir=False, **kw)  # type: ignore[arg-type]


def tree_of(task: Path, commit: str) -> str:
    return git(task, f"--git-dir={task / 'git'}", "rev-parse", f"{commit}^{{tree}}").strip()


async def test_the_base_from_the_copy_is_the_tree_and_patch_of_a_full_copy(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    task = tmp_path / "task"
    snap = await create(ws, task)
    assert tree_of(task, snap.base) == full_tree(task)  # the base is exactly the copy
    listed = git(task, f"--git-dir={task / 'git'}", "ls-tree", "-r", "--name-only", snap.base).split()
    assert "gone.txt" not in listed
    assert "staged-gone.txt" not in listed
    assert "ignored/big.bin" not in listed
    assert {"untracked.txt", "link", "link2", "mode.sh", "run.sh", "src/deep/c.txt"} <= set(listed)
    # the member's changes: a patch as the full hashing gives it, base blobs fetched where needed
    tree = task / "tree"
    (tree / "a.py").write_text("member\n")
    (tree / "src" / "deep" / "c.txt").write_text("c, by the member\n")  # its base blob is the workspace's
    os.unlink(tree / "run.sh")
    os.chmod(tree / "mode.sh", 0o644)
    (tree / "link").unlink()
    (tree / "link").symlink_to("a.py")
    (tree / "added.txt").write_text("added\n")
    changes = await patchset.changes(task, snap.base, 60)
    assert changes.result == full_tree(task)
    reference = git(task, f"--git-dir={task / 'git'}", "diff", "--binary", "--full-index", *DIFF, snap.base,
                    changes.result)  # fmt: skip
    assert changes.patch.decode() == reference
    assert "+c, by the member" in reference
    assert "-c" in reference
    assert {c.path: c.status for c in changes.files} == {
        "a.py": "M", "added.txt": "A", "link": "M", "mode.sh": "M", "run.sh": "D", "src/deep/c.txt": "M",
    }  # fmt: skip


async def test_a_crafted_index_never_makes_the_base_differ_from_the_copy(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text("good\n")
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "base")
    good = git(ws, "rev-parse", "HEAD:a.py").strip()
    (ws / "a.py").write_text("evil\n")  # same size
    past = os.stat(ws / "a.py").st_mtime - 10
    os.utime(ws / "a.py", (past, past))  # not "racily clean": git trusts the stat data
    git(ws, "add", "a.py")  # the index now has evil's id with stat data matching the file …
    evil = git(ws, "rev-parse", ":a.py").strip()
    index = (ws / ".git" / "index").read_bytes()[:-20]
    index = index.replace(bytes.fromhex(evil), bytes.fromhex(good))  # … then claims good's id
    (ws / ".git" / "index").write_bytes(index + hashlib.sha1(index).digest())
    assert git(ws, "diff-files", "--name-only") == ""  # git itself is fooled: a.py "unmodified"
    assert git(ws, "ls-files", "-s", "a.py").split()[1] == good
    task = tmp_path / "task"
    snap = await create(ws, task)
    assert (task / "tree" / "a.py").read_text() == "evil\n"
    assert git(task, f"--git-dir={task / 'git'}", "rev-parse", f"{snap.base}:a.py").strip() == evil
    assert tree_of(task, snap.base) == full_tree(task)


async def test_an_over_limit_workspace_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "small.txt").write_text("x\n")
    git(ws, "init", "-q")
    with open(ws / "sparse.bin", "wb") as sparse:  # 5 GiB by its size, almost nothing on disk
        sparse.truncate(5 << 30)
    task = tmp_path / "task"
    with pytest.raises(TaskError) as raised:
        await create(ws, task)
    text = str(raised.value)
    assert "the limit is 250,000 files and 4 GiB" in text
    assert "`paths`" in text
    assert "`base`" in text
    assert "nothing was copied" in text
    assert list(task.iterdir()) == []  # no tree, no repository: nothing written
    monkeypatch.setattr(workcopy, "MAX_FILES", 1)
    os.unlink(ws / "sparse.bin")
    (ws / "other.txt").write_text("y\n")
    with pytest.raises(TaskError, match="2 files"):
        await create(ws, task)
    assert list(task.iterdir()) == []


async def test_over_the_limit_paths_narrow_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    (ws / "want").mkdir(parents=True)
    (ws / "want" / "a.txt").write_text("a\n")
    (ws / "other.txt").write_text("o\n")
    (ws / "more.txt").write_text("m\n")
    git(ws, "init", "-q")
    monkeypatch.setattr(workcopy, "MAX_FILES", 2)
    snap = await create(ws, tmp_path / "task", paths=("want",))
    assert (tmp_path / "task" / "tree" / "want" / "a.txt").exists()
    assert not (tmp_path / "task" / "tree" / "other.txt").exists()
    assert "only want" in snap.label


async def test_the_copy_is_never_a_hard_link_and_keeps_modes_and_reports_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_workspace(tmp_path)
    task = tmp_path / "task"
    lines: list[str] = []
    monkeypatch.setattr(workcopy, "PROGRESS_S", 0.0)  # a line at every turn of the loop
    await create(ws, task, progress=lines.append)
    assert lines
    assert all(line.startswith("copying the workspace: ") for line in lines)
    assert " of 9 files, " in lines[0]
    for name in ("a.py", "src/b.py", "untracked.txt", "run.sh"):
        mine, theirs = (task / "tree" / name).lstat(), (ws / name).lstat()
        assert mine.st_ino != theirs.st_ino
        assert mine.st_nlink == 1
        assert (task / "tree" / name).read_bytes() == (ws / name).read_bytes()
    assert (task / "tree" / "run.sh").stat().st_mode & stat.S_IXUSR
    assert not (task / "tree" / "a.py").stat().st_mode & stat.S_IXUSR
    assert os.readlink(task / "tree" / "link2") == "/nowhere/at/all"


async def test_a_fifo_git_would_wait_on_fails_the_step_in_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "a.txt").write_text("a\n")
    git(ws, "init", "-q")
    os.mkfifo(ws / "sub" / ".gitignore")
    monkeypatch.setattr(workcopy, "STALL_S", 0.2)
    task = tmp_path / "task"
    with anyio.fail_after(30):  # a bound on the test, not a timing assertion
        with pytest.raises(TaskError, match=r"sub/\.gitignore is a FIFO .* `base`"):
            await create(ws, task)
    assert list(task.iterdir()) == []


async def test_a_huge_file_is_summarised_in_the_patch_without_loading_it(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("a\n")
    git(ws, "init", "-q")
    task = tmp_path / "task"
    snap = await create(ws, task)
    with open(task / "tree" / "huge.bin", "wb") as huge:  # 200 MB the member wrote (sparse here)
        huge.truncate(200 * 1000 * 1000)
    (task / "tree" / "a.txt").write_text("b\n")
    tracemalloc.start()
    try:
        changes = await patchset.changes(task, snap.base, 120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # a few MB at most, not the file
    text = changes.patch.decode()
    assert "huge.bin (A, 200.0 MB) is too large to show here" in text
    assert "+b" in text  # the small change is shown as usual
    assert {c.path: c.size for c in changes.files}["huge.bin"] == 200 * 1000 * 1000


def test_accept_compares_a_huge_workspace_file_by_its_blob_id_without_holding_it(tmp_path: Path) -> None:
    from codex_fusion.tasks.apply import _oid
    from codex_fusion.tasks.handles import Handles
    from codex_fusion.tasks.placing import KEEP_BYTES, read

    (tmp_path / "big.bin").write_bytes(b"x" * (KEEP_BYTES + 5))
    git(tmp_path, "init", "-q")
    with Handles(str(tmp_path)) as handles:
        now = read(handles, "big.bin")
    assert not isinstance(now, str)
    assert now.data == b""  # not kept
    assert _oid(now, 40) == git(tmp_path, "hash-object", "big.bin").strip()


async def test_a_file_that_grows_past_the_limit_after_it_was_measured_stops_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for index in range(20):
        (ws / f"f{index}.txt").write_text("x" * 100)
    git(ws, "init", "-q")
    monkeypatch.setattr(workcopy, "MAX_BYTES", 2500)  # what lstat saw fits (2,000 bytes) …
    fresh = worktree._fresh

    async def grown(task_dir: Path, timeout: float) -> object:  # after the measure, before the copy
        (ws / "f0.txt").write_text("x" * 1100)  # … and then one file grew past it
        return await fresh(task_dir, timeout)

    monkeypatch.setattr(worktree, "_fresh", grown)
    with pytest.raises(TaskError, match="grew past the copy's limit"):
        await create(ws, tmp_path / "task")
