"""The reset-nonce store: where it lives, privacy of what it writes, tolerance of what it reads."""

from __future__ import annotations

import ast
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from codex_fusion.hookside import nonce, private, serverside, windows
from codex_fusion.hookside.nonce import NonceStoreError, Record

NONCE_PY = Path(nonce.__file__)
HOOK_PY = Path(__file__).resolve().parents[1] / "hooks" / "codex_fusion_hook.py"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
OTHER_UID = 65534  # nobody


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "data" / "state"


def record(workspace: Path, pid: int | None = 4242, event: str = "clear", session: str = "s-1") -> Record:
    return nonce.new_record(
        session_id=session, event=event, workspace=workspace, claude_pid=pid, detail=event
    )


def valid_json(workspace: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "nonce": "ab" * 16,
        "session_id": "s-1",
        "event": "clear",
        "detail": "clear",
        "at": 1700000000.5,
        "claude_pid": 4242,
        "workspace": str(workspace),
    }


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- state_dir -------------------------------------------------------------------------------------


def test_state_dir_prefers_plugin_data() -> None:
    env = {"CLAUDE_PLUGIN_DATA": "/d/plugin", "XDG_STATE_HOME": "/x", "HOME": "/h"}
    assert nonce.state_dir(env) == Path("/d/plugin/state")


def test_state_dir_falls_back_to_xdg_state_home() -> None:
    assert nonce.state_dir({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}) == Path("/x/state/codex-fusion")


def test_state_dir_falls_back_to_home() -> None:
    assert nonce.state_dir({"HOME": "/h"}) == Path("/h/.local/state/codex-fusion")


def test_state_dir_ignores_relative_values_and_never_uses_the_temp_dir() -> None:
    env = {"CLAUDE_PLUGIN_DATA": "rel/data", "XDG_STATE_HOME": "rel/state", "HOME": "/h"}
    assert nonce.state_dir(env) == Path("/h/.local/state/codex-fusion")
    assert nonce.state_dir({"CLAUDE_PLUGIN_DATA": ""}).is_absolute()


# --- writing ---------------------------------------------------------------------------------------


def test_write_creates_private_dirs_and_files(state: Path, workspace: Path) -> None:
    rec = record(workspace)
    written = nonce.write_record(state, rec)
    paths = nonce.record_paths(state, workspace, 4242)
    assert written == [paths.window, paths.workspace]
    for d in (state, state / "windows", paths.directory):
        assert mode(d) == 0o700, d
    for f in written:
        assert mode(f) == 0o600, f
        assert json.loads(f.read_text()) == rec.to_json()
    assert paths.window is not None
    assert paths.window.name == "pid-4242.json"
    assert paths.directory == state / "windows" / nonce.workspace_key(workspace)
    assert sorted(os.listdir(paths.directory)) == ["pid-4242.json", "workspace.json"]  # no temp files


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o777])
def test_modes_do_not_depend_on_the_umask(state: Path, workspace: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        written = nonce.write_record(state, record(workspace))
    finally:
        os.umask(old)
    assert mode(state) == mode(written[0].parent) == 0o700
    assert {mode(f) for f in written} == {0o600}


def test_write_is_atomic_and_leaves_no_temp_file_on_failure(
    state: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = record(workspace, session="old")
    nonce.write_record(state, first)
    directory = nonce.record_paths(state, workspace, 4242).directory

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        nonce.write_record(state, record(workspace, session="new"))
    assert sorted(os.listdir(directory)) == ["pid-4242.json", "workspace.json"]
    assert serverside.read_record(directory / "pid-4242.json") == first


def test_existing_wide_dirs_are_narrowed(state: Path, workspace: Path) -> None:
    state.mkdir(parents=True)
    state.chmod(0o755)
    (state / "windows").mkdir()
    (state / "windows").chmod(0o777)
    nonce.write_record(state, record(workspace))
    assert mode(state) == 0o700
    assert mode(state / "windows") == 0o700


def test_a_missing_data_dir_is_created_private(state: Path, workspace: Path) -> None:
    nonce.write_record(state, record(workspace))
    assert mode(state.parent) == 0o700


def test_plugin_data_dir_made_by_claude_code_is_left_alone(state: Path, workspace: Path) -> None:
    state.parent.mkdir()
    state.parent.chmod(0o755)
    nonce.write_record(state, record(workspace))
    assert mode(state.parent) == 0o755
    assert mode(state) == 0o700


def test_symlinked_state_dir_is_refused(tmp_path: Path, state: Path, workspace: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state.parent.mkdir()
    state.symlink_to(elsewhere)
    with pytest.raises(NonceStoreError, match="symlink"):
        nonce.write_record(state, record(workspace))
    assert list(elsewhere.iterdir()) == []


def test_symlinked_subdir_is_refused(tmp_path: Path, state: Path, workspace: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / "windows").mkdir(parents=True)
    directory = nonce.record_paths(state, workspace, 4242).directory
    directory.symlink_to(elsewhere)
    with pytest.raises(NonceStoreError, match="symlink"):
        nonce.write_record(state, record(workspace))
    assert list(elsewhere.iterdir()) == []


def test_symlinked_record_file_is_refused_and_its_target_untouched(
    tmp_path: Path, state: Path, workspace: Path
) -> None:
    nonce.write_record(state, record(workspace))
    victim = tmp_path / "victim"
    victim.write_text("precious")
    window = nonce.record_paths(state, workspace, 4242).window
    assert window is not None
    window.unlink()
    window.symlink_to(victim)
    with pytest.raises(NonceStoreError, match="symlink"):
        nonce.write_record(state, record(workspace))
    assert victim.read_text() == "precious"
    assert window.is_symlink()


def test_a_file_where_a_dir_should_be_is_refused(state: Path, workspace: Path) -> None:
    state.parent.mkdir()
    state.write_text("not a dir")
    with pytest.raises(NonceStoreError):
        nonce.write_record(state, record(workspace))


@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
@pytest.mark.parametrize("which", ["state", "windows", "key"])
def test_dir_owned_by_another_user_is_refused(state: Path, workspace: Path, which: str) -> None:
    directory = nonce.record_paths(state, workspace, 4242).directory
    directory.mkdir(parents=True)
    target = {"state": state, "windows": state / "windows", "key": directory}[which]
    os.chown(target, OTHER_UID, OTHER_UID)
    with pytest.raises(NonceStoreError, match="owned by uid"):
        nonce.write_record(state, record(workspace))
    assert list(directory.iterdir()) == []


def test_path_fallback_applies_the_same_rules(
    tmp_path: Path, state: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(private, "_DIR_FD_OK", False)
    state.mkdir(parents=True)
    state.chmod(0o755)
    rec = record(workspace)
    written = nonce.write_record(state, rec)
    assert mode(state) == 0o700
    assert {mode(f) for f in written} == {0o600}
    assert serverside.read_record(written[0]) == rec
    assert sorted(os.listdir(written[0].parent)) == ["pid-4242.json", "workspace.json"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other_state = tmp_path / "other-state"
    other_state.symlink_to(elsewhere)
    with pytest.raises(NonceStoreError, match="symlink"):
        nonce.write_record(other_state, rec)


def test_invalid_record_is_not_written(state: Path, workspace: Path) -> None:
    bad = record(workspace, event="bogus")
    with pytest.raises(ValueError, match="event"):
        nonce.write_record(state, bad)
    assert not state.exists()


def test_nonce_is_fresh_on_every_record(workspace: Path) -> None:
    assert len({record(workspace).nonce for _ in range(20)}) == 20


def test_two_windows_keep_separate_records_and_the_workspace_record_holds_the_latest(
    state: Path, workspace: Path
) -> None:
    a = record(workspace, pid=111, event="clear", session="a")
    b = record(workspace, pid=222, event="compact", session="b")
    nonce.write_record(state, a)
    nonce.write_record(state, b)
    pa = nonce.record_paths(state, workspace, 111)
    pb = nonce.record_paths(state, workspace, 222)
    assert pa.window is not None
    assert pb.window is not None
    assert serverside.read_record(pa.window) == a
    assert serverside.read_record(pb.window) == b
    assert serverside.read_record(pa.workspace) == b
    assert serverside.record_pids(state, workspace) == [111, 222]


def test_without_pid_only_the_workspace_record_is_written(state: Path, workspace: Path) -> None:
    rec = record(workspace, pid=None)
    written = nonce.write_record(state, rec)
    paths = nonce.record_paths(state, workspace, None)
    assert paths.window is None
    assert written == [paths.workspace]
    assert serverside.record_pids(state, workspace) == []


def test_workspace_key_uses_the_realpath(tmp_path: Path, state: Path, workspace: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(workspace)
    assert nonce.workspace_key(link) == nonce.workspace_key(workspace)
    assert nonce.workspace_key(workspace / "sub" / "..") == nonce.workspace_key(workspace)
    assert len(nonce.workspace_key(workspace)) == 16
    rec = record(link)
    assert rec.workspace == os.path.realpath(workspace)
    nonce.write_record(state, rec)
    window = nonce.record_paths(state, workspace, 4242).window
    assert window is not None
    assert serverside.read_record(window) == rec
    assert nonce.workspace_key(tmp_path / "other") != nonce.workspace_key(workspace)


# --- reading ---------------------------------------------------------------------------------------


def test_read_missing_is_none_without_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert serverside.read_record(tmp_path / "nope.json") is None
        assert serverside.read_record(tmp_path / "no-dir" / "nope.json") is None
    assert caplog.records == []


def test_read_round_trip(tmp_path: Path, workspace: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(valid_json(workspace)))
    rec = serverside.read_record(path)
    assert rec == Record(**valid_json(workspace))


BAD_CONTENT: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n",
    "truncated": b'{"version": 1, "nonce": "ab',
    "not json": b"hello",
    "binary": b"\xff\xfe\x00garbage",
    "array": b"[1, 2, 3]",
    "string": b'"text"',
    "null": b"null",
    "deep nesting": b"[" * 50000 + b"]" * 50000,
}


@pytest.mark.parametrize("content", BAD_CONTENT.values(), ids=BAD_CONTENT.keys())
def test_read_tolerates_garbage(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="codex_fusion.hookside.nonce"):
        assert serverside.read_record(path) is None
    assert len(caplog.records) == 1
    assert str(path) in caplog.records[0].getMessage()


MUTATIONS: dict[str, tuple[str, object]] = {
    "version 2": ("version", 2),
    "version string": ("version", "1"),
    "version bool": ("version", True),
    "nonce int": ("nonce", 5),
    "nonce empty": ("nonce", ""),
    "session_id null": ("session_id", None),
    "event unknown": ("event", "bogus"),
    "event int": ("event", 1),
    "detail int": ("detail", 5),
    "at string": ("at", "yesterday"),
    "at bool": ("at", True),
    "claude_pid string": ("claude_pid", "4242"),
    "claude_pid bool": ("claude_pid", True),
    "claude_pid negative": ("claude_pid", -1),
    "claude_pid float": ("claude_pid", 42.0),
    "workspace null": ("workspace", None),
    "workspace too long": ("workspace", "x" * 5000),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_read_rejects_foreign_records(
    tmp_path: Path, workspace: Path, mutation: tuple[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    key, value = mutation
    obj = valid_json(workspace)
    obj[key] = value
    path = tmp_path / "r.json"
    path.write_text(json.dumps(obj))
    with caplog.at_level(logging.WARNING, logger="codex_fusion.hookside.nonce"):
        assert serverside.read_record(path) is None
    assert len(caplog.records) == 1


@pytest.mark.parametrize("key", ["version", "nonce", "session_id", "event", "detail", "at", "workspace"])
def test_read_rejects_missing_keys(tmp_path: Path, workspace: Path, key: str) -> None:
    obj = valid_json(workspace)
    del obj[key]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(obj))
    assert serverside.read_record(path) is None


def test_read_accepts_null_pid_and_detail_and_ignores_extra_keys(tmp_path: Path, workspace: Path) -> None:
    obj = {**valid_json(workspace), "claude_pid": None, "detail": None, "future": [1]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(obj))
    rec = serverside.read_record(path)
    assert rec is not None
    assert rec.claude_pid is None
    assert rec.detail is None


def test_read_rejects_oversized(tmp_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    obj = {**valid_json(workspace), "padding": "x" * (nonce.MAX_FILE_BYTES + 10)}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(obj))
    with caplog.at_level(logging.WARNING, logger="codex_fusion.hookside.nonce"):
        assert serverside.read_record(path) is None
    assert "larger than" in caplog.text


def test_read_refuses_a_symlink(tmp_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps(valid_json(workspace)))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert serverside.read_record(real) is not None
    with caplog.at_level(logging.WARNING, logger="codex_fusion.hookside.nonce"):
        assert serverside.read_record(link) is None
    assert "symlink" in caplog.text


def test_read_refuses_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    assert serverside.read_record(tmp_path / "d.json") is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_read_does_not_block_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(serverside.read_record(fifo)), daemon=True)
    reader.start()
    reader.join(30)
    if reader.is_alive():  # unblock the reader so the test run does not hang
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("read_record blocked on a FIFO")
    assert results == [None]


@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
def test_read_refuses_a_file_owned_by_another_user(tmp_path: Path, workspace: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(valid_json(workspace)))
    os.chown(path, OTHER_UID, OTHER_UID)
    assert serverside.read_record(path) is None


def test_warning_sink_receives_warnings(tmp_path: Path) -> None:
    seen: list[str] = []
    nonce.set_warning_sink(seen.append)
    try:
        (tmp_path / "r.json").write_text("nope")
        assert serverside.read_record(tmp_path / "r.json") is None
    finally:
        nonce.set_warning_sink(None)
    assert len(seen) == 1
    assert "r.json" in seen[0]


# --- debate state ----------------------------------------------------------------------------------


def test_debate_state_round_trip_per_window(state: Path, workspace: Path) -> None:
    path = serverside.write_debate_state(state, workspace, 4242, "Round 2:\n Codex objects   to X")
    assert path.name == "pid-4242.debate.json"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert nonce.read_debate_state(state, workspace, 4242) == "Round 2: Codex objects to X"
    assert nonce.read_debate_state(state, workspace, 999) is None  # another window's debate stays its own
    assert nonce.read_debate_state(state, workspace, None) is None


def test_debate_state_falls_back_to_the_workspace_level(state: Path, workspace: Path) -> None:
    path = serverside.write_debate_state(state, workspace, None, "shared summary")
    assert path.name == "workspace.debate.json"
    assert nonce.read_debate_state(state, workspace, 4242) == "shared summary"
    assert nonce.read_debate_state(state, workspace, None) == "shared summary"
    serverside.write_debate_state(state, workspace, 4242, "mine")
    assert nonce.read_debate_state(state, workspace, 4242) == "mine"


def test_debate_state_is_one_bounded_line_and_empty_clears_it(state: Path, workspace: Path) -> None:
    serverside.write_debate_state(state, workspace, 4242, "word\n" * 1000)
    summary = nonce.read_debate_state(state, workspace, 4242)
    assert summary is not None
    assert "\n" not in summary
    assert len(summary) <= nonce.MAX_SUMMARY_CHARS
    serverside.write_debate_state(state, workspace, 4242, "  \n ")
    assert nonce.read_debate_state(state, workspace, 4242) is None


def test_debate_state_of_an_earlier_conversation_is_skipped(state: Path, workspace: Path) -> None:
    serverside.write_debate_state(state, workspace, 4242, "old debate", session_id="before-clear")
    assert nonce.read_debate_state(state, workspace, 4242, "before-clear") == "old debate"
    assert nonce.read_debate_state(state, workspace, 4242) == "old debate"  # session unknown: shown
    assert nonce.read_debate_state(state, workspace, 4242, "after-clear") is None
    serverside.write_debate_state(state, workspace, 4242, "no session known")
    assert nonce.read_debate_state(state, workspace, 4242, "after-clear") == "no session known"


def test_corrupt_or_foreign_debate_state_is_ignored(state: Path, workspace: Path) -> None:
    path = serverside.write_debate_state(state, workspace, 4242, "ok")
    path.write_text("{broken")
    assert nonce.read_debate_state(state, workspace, 4242) is None
    obj = {"version": 1, "summary": "x", "at": 1.0, "claude_pid": 4242, "workspace": "/somewhere/else"}
    path.write_text(json.dumps(obj))
    assert nonce.read_debate_state(state, workspace, 4242) is None
    assert nonce.read_debate_state(state / "missing", workspace, 4242) is None


# --- ancestry --------------------------------------------------------------------------------------


def test_ancestor_pids_of_this_process() -> None:
    chain = windows.ancestor_pids()
    assert chain
    assert chain[0] == os.getppid()
    assert os.getpid() not in chain
    assert len(chain) == len(set(chain))


def test_ancestor_pids_of_a_child_with_an_awkward_comm() -> None:
    code = (
        "import sys, pathlib\n"
        "p = pathlib.Path('/proc/self/comm')\n"
        "p.exists() and p.write_text('a) b (c) 1 2')\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        chain = windows.ancestor_pids(child.pid)
        assert chain[:2] == [os.getpid(), os.getppid()]
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)


def test_parse_proc_stat_with_parentheses_and_spaces_in_comm() -> None:
    assert windows._parse_proc_stat(b"123 (a) b (c) 1 2) S 77 123 123 0 -1") == 77


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps")
def test_ancestor_pids_without_proc_uses_ps(monkeypatch: pytest.MonkeyPatch) -> None:
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if str(p).startswith("/proc") else real_exists(p))
    chain = windows.ancestor_pids()
    assert chain
    assert chain[0] == os.getppid()


def test_ancestor_pids_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    assert windows.ancestor_pids(-5) == []
    assert windows.ancestor_pids(2**22 + 12345) == []
    monkeypatch.setattr(os.path, "exists", lambda p: False)

    def no_ps() -> dict[int, int]:
        raise FileNotFoundError("ps")

    monkeypatch.setattr(windows, "_ps_ppids", no_ps)
    assert windows.ancestor_pids() == []


def test_choose_window_pid() -> None:
    ancestors = [300, 200, 100, 1]
    choose = windows.choose_window_pid
    assert choose({"CLAUDE_PID": "200"}, ancestors, []) == 200
    assert choose({"CLAUDE_PID": " 200\n"}, ancestors, [300]) == 200  # the env wins over records
    assert choose({"CLAUDE_PID": "999"}, ancestors, [100, 200]) == 200  # not an ancestor: nearest record
    assert choose({"CLAUDE_PID": "abc"}, ancestors, [100]) == 100
    assert choose({"CLAUDE_PID": "-200"}, ancestors, []) is None
    assert choose({}, ancestors, [999]) is None
    assert choose({}, [], [100]) is None
    assert choose({}, ancestors, []) is None


def test_parse_pid() -> None:
    assert nonce.parse_pid("42") == 42
    assert nonce.parse_pid(42) == 42
    for bad in ("", "0", "-1", "1_000", "4.2", "٤٢", "99999999999", True, None, 0, 4.0):
        assert nonce.parse_pid(bad) is None, bad


# --- Python 3.9 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NONCE_PY, HOOK_PY], ids=["nonce.py", "hook"])
def test_parses_as_python_3_9(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))
