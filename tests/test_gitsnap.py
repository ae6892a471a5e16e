"""The review gate's workspace snapshots against a hostile repository: git from outside the
workspace, never into another repository's objects, never hung by a FIFO."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from codex_fusion.hookside import gitsnap

from .gitrepo import GIT_ENV, git


def repository(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "a.txt").write_text("one\n")
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def objects(repo: Path) -> set[str]:
    return {str(p.relative_to(repo)) for p in (repo / ".git" / "objects").rglob("*") if p.is_file()}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CODEX_FUSION_ALLOW_FOREIGN_GITDIR", raising=False)


def test_the_workspaces_own_git_is_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = repository(tmp_path / "ws")
    marker = tmp_path / "ran"
    fake = workspace / "git"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join(["", ".", os.environ.get("PATH", "/usr/bin")]))
    tree = gitsnap.snapshot(str(workspace), str(tmp_path / "index"))
    assert len(tree) == 40
    assert not marker.exists()


@pytest.mark.parametrize("how", ["gitfile", "symlink", "alternates"])
def test_a_snapshot_never_writes_into_another_repository(tmp_path: Path, how: str) -> None:
    other = repository(tmp_path / "other")
    before = objects(other)
    workspace = tmp_path / "ws"
    if how == "gitfile":
        workspace.mkdir()
        (workspace / ".git").write_text(f"gitdir: {other / '.git'}\n")
    elif how == "symlink":
        workspace.mkdir()
        (workspace / ".git").symlink_to(other / ".git")
    else:
        repository(workspace)
        (workspace / ".git" / "objects" / "info").mkdir(exist_ok=True)
        (workspace / ".git" / "objects" / "info" / "alternates").write_text(f"{other / '.git' / 'objects'}\n")
    (workspace / "new.txt").write_text("a brand new file\n")
    with pytest.raises(gitsnap.SnapshotError, match=r"\.git|elsewhere"):
        gitsnap.snapshot(str(workspace), str(tmp_path / "index"))
    assert objects(other) == before


def test_the_opt_in_accepts_a_linked_git_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = repository(tmp_path / "other")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".git").write_text(f"gitdir: {other / '.git'}\n")
    monkeypatch.setenv("CODEX_FUSION_ALLOW_FOREIGN_GITDIR", "1")
    assert len(gitsnap.snapshot(str(workspace), str(tmp_path / "index"))) == 40


def test_a_fifo_for_an_index_cannot_hang_a_snapshot(tmp_path: Path) -> None:
    workspace = repository(tmp_path / "ws")
    index = workspace / ".git" / "index"
    index.unlink()
    os.mkfifo(index)
    done: list[str] = []
    worker = threading.Thread(
        target=lambda: done.append(gitsnap.snapshot(str(workspace), str(tmp_path / "index"))), daemon=True
    )
    worker.start()
    worker.join(timeout=60)  # a hang detector, not a speed bound
    if not done:  # pragma: no cover - unblock the copy so the thread can end
        fd = os.open(index, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    assert done, "the snapshot hung on a FIFO index"
    assert len(done[0]) == 40
