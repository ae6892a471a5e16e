"""Nothing accumulates: dead windows' records are pruned by age and count, a live window's never;
the hook records the interpreter it runs with, for the doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codex_fusion.cli import doctor
from codex_fusion.hookside import interpreter, nonce, prune

from .test_hook import PID, Hook

DAY = 24 * 3600.0


@pytest.fixture
def hook(tmp_path: Path) -> Hook:
    return Hook(tmp_path)


def _window(directory: Path, pid: int, age: float, now: float) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in (f"pid-{pid}.json", f"pid-{pid}.debate.json"):
        path = directory / name
        path.write_text("{}")
        os.utime(path, (now - age, now - age))


def _left(directory: Path) -> set[int]:
    return {int(p.name.split("-")[1].split(".")[0]) for p in directory.glob("pid-*.json")}


def test_old_dead_windows_go_and_live_or_own_ones_stay(tmp_path: Path) -> None:
    now = time.time()
    _window(tmp_path, 101, 2 * DAY, now)  # dead, old: goes
    _window(tmp_path, 102, 60.0, now)  # dead, recent: stays (within the count)
    _window(tmp_path, 103, 30 * DAY, now)  # alive, however old: stays
    _window(tmp_path, 104, 30 * DAY, now)  # this window's own: stays
    (tmp_path / "workspace.json").write_text("{}")
    removed = prune.prune(tmp_path, 104, now=now, is_alive=lambda pid: pid == 103)
    assert sorted(removed) == ["pid-101.debate.json", "pid-101.json"]
    assert _left(tmp_path) == {102, 103, 104}
    assert (tmp_path / "workspace.json").exists()


def test_a_dead_windows_reuse_note_goes_with_its_records(tmp_path: Path) -> None:
    now = time.time()
    _window(tmp_path, 101, 2 * DAY, now)
    _window(tmp_path, 103, 2 * DAY, now)
    for pid in (101, 103):
        note = tmp_path / f"reuse-{pid}.txt"
        note.write_text("1\n")
        os.utime(note, (now - 2 * DAY, now - 2 * DAY))
    removed = prune.prune(tmp_path, None, now=now, is_alive=lambda pid: pid == 103)
    assert sorted(removed) == ["pid-101.debate.json", "pid-101.json", "reuse-101.txt"]
    assert (tmp_path / "reuse-103.txt").exists()


def test_dead_windows_are_bounded_by_count_newest_kept(tmp_path: Path) -> None:
    now = time.time()
    for pid in range(200, 200 + prune.KEEP_DEAD + 5):
        _window(tmp_path, pid, float(pid), now)  # all recent; 200 is the newest
    prune.prune(tmp_path, None, now=now, is_alive=lambda pid: False)
    assert _left(tmp_path) == set(range(200, 200 + prune.KEEP_DEAD))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_hook_prunes_dead_windows_on_a_session_start_never_a_live_one(hook: Hook) -> None:
    directory = nonce.window_dir(hook.state(), hook.workspace)
    now = time.time()
    dead, live = _dead_pid(), os.getpid()
    _window(directory, dead, 2 * DAY, now)
    _window(directory, live, 2 * DAY, now)
    hook.run(hook.payload("SessionStart", source="startup"))
    assert _left(directory) == {live, PID}
    _window(directory, dead, 2 * DAY, now)
    hook.run(hook.payload("SessionStart", source="compact"))  # only a new Claude Code process prunes
    assert _left(directory) == {dead, live, PID}


def test_the_hook_records_its_interpreter_and_the_doctor_reports_it(hook: Hook, tmp_path: Path) -> None:
    hook.run(hook.payload("SessionStart", source="startup"))
    last = interpreter.read(hook.state())
    assert last is not None
    assert last["executable"] == sys.executable
    check = doctor.check_hook_python(hook.state(), "")
    assert check.status == "ok"
    assert sys.executable in check.detail
    # A python3 too old for the hooks, as the hook recorded it, fails whatever the doctor's own is.
    old = {"version": 1, "executable": "/usr/bin/python3", "python": "3.8.10", "at": time.time()}
    (hook.state() / interpreter.NAME).write_text(json.dumps(old))
    failed = doctor.check_hook_python(hook.state(), os.environ["PATH"])
    assert failed.status == "fail"
    assert "3.8.10 (/usr/bin/python3)" in failed.detail
    assert "3.9 or newer" in failed.fix


def test_without_a_record_the_doctor_does_not_vouch_for_its_own_python(tmp_path: Path) -> None:
    check = doctor.check_hook_python(tmp_path, os.environ["PATH"])
    assert check.status == "warn"
    assert "have not recorded" in check.detail
    assert doctor.check_hook_python(tmp_path, str(tmp_path)).status == "fail"
