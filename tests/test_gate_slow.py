"""A workspace too slow to snapshot never stalls a prompt (issue 25.7): the prompt's snapshot has ~1 s,
a slower one is skipped and said once, and later prompts and stops skip it without running git."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from codex_fusion.hookside import nonce

from .conftest import FakeAgentSetup
from .test_gate_hook import hook, hook_env, repo, reviews

__all__ = ["repo"]  # the fixture, used by name


def _logged_git(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose ``git`` logs each start, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    bin_dir = tmp_path / "gitbin"
    bin_dir.mkdir()
    started = tmp_path / "git-started"
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{started}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}", started


def _records(env: dict[str, str], fake: FakeAgentSetup) -> dict[str, object]:
    directory = nonce.window_dir(nonce.state_dir(env), fake.workspace)
    (path,) = directory.glob("gate-*.json")
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def test_a_slow_snapshot_is_skipped_with_one_line_then_without_git(
    repo: FakeAgentSetup, tmp_path: Path
) -> None:
    path, started = _logged_git(tmp_path)
    # any git takes longer than a microsecond: the snapshot is "slow" without timing anything here
    env = hook_env(repo, PATH=path, CODEX_FUSION_GATE_PROMPT_SNAPSHOT_S="0.000001")
    first = hook(env, "UserPromptSubmit", prompt="go")
    assert first is not None
    (line,) = first["systemMessage"].splitlines()
    assert line.startswith("codex-fusion review gate: snapshotting this workspace took over")
    assert "skips it for 10 minutes" in line
    started.unlink(missing_ok=True)
    del env["CODEX_FUSION_GATE_PROMPT_SNAPSHOT_S"]  # git would be quick now: only the skip keeps it off

    (repo.workspace / "src" / "calc.py").write_text("x = 1\n")
    assert hook(env, "Stop", stop_hook_active=False) is None  # said once already: the stop is quiet
    assert hook(env, "UserPromptSubmit", prompt="again") is None
    assert hook(env, "Stop", stop_hook_active=False) is None
    assert not started.exists(), "a skipped workspace must not run git at all"
    assert reviews(repo) == 0
    directory = nonce.window_dir(nonce.state_dir(env), repo.workspace)
    assert not list(directory.glob("*.lock"))


def test_after_the_pause_the_gate_snapshots_again(repo: FakeAgentSetup, tmp_path: Path) -> None:
    env = hook_env(repo, CODEX_FUSION_GATE_PROMPT_SNAPSHOT_S="0.000001")
    assert hook(env, "UserPromptSubmit", prompt="go") is not None
    record_path = next(nonce.window_dir(nonce.state_dir(env), repo.workspace).glob("gate-*.json"))
    record = json.loads(record_path.read_text())
    record["slow_at"] = 0  # ten minutes and more ago
    record_path.write_text(json.dumps(record))
    del env["CODEX_FUSION_GATE_PROMPT_SNAPSHOT_S"]
    assert hook(env, "UserPromptSubmit", prompt="go") is None
    after = _records(env, repo)
    assert isinstance(after["baseline"], str)
    assert "slow_at" not in after
