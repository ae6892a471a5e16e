"""The Claude Code hook, run as Claude Code runs it: a subprocess fed the hook JSON on stdin.

Every run must report problems as single ``codex-fusion hook:`` lines on stderr, never a traceback;
exit 0 and print nothing to stdout except the post-compaction SessionStart JSON — unless the record
could not be written, which the user is told: a SessionStart ``systemMessage``, or exit 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_fusion.hookside import nonce, serverside

REPO = Path(__file__).resolve().parents[1]
HOOK = REPO / "hooks" / "codex_fusion_hook.py"
PID = 4242
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


#: Runs the hook (argv[1]) with every private write failing as on a full disk.
FULL_DISK = f"""
import errno, os, runpy, sys
sys.path.insert(0, {str(REPO / "server")!r})
from codex_fusion.hookside import private
def full(fd, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
private._write_all = full
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class Hook:
    """A sandboxed plugin data dir, workspace and HOME, and a way to run the hook against them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "plugin-data"
        self.data.mkdir(mode=0o755)  # as Claude Code makes it
        self.workspace = tmp / "workspace"
        self.workspace.mkdir()
        self.home = tmp / "home"
        self.home.mkdir()
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "CLAUDE_PLUGIN_ROOT": str(REPO),
            "CLAUDE_PLUGIN_DATA": str(self.data),
            "CLAUDE_PROJECT_DIR": str(self.workspace),
            "CLAUDE_PID": str(PID),
            "CLAUDE_CODE_SESSION_ID": "env-session",
        }

    def payload(self, event: str, **fields: Any) -> dict[str, Any]:
        return {
            "session_id": "sess-1",
            "transcript_path": str(self.home / "t.jsonl"),
            "cwd": str(self.workspace),
            "hook_event_name": event,
            **fields,
        }

    def run(
        self,
        stdin: bytes | dict[str, Any] | list[Any],
        *,
        python: str = sys.executable,
        cwd: Path | None = None,
        code: int = 0,
        full_disk: bool = False,
        **popen: Any,
    ) -> subprocess.CompletedProcess[str]:
        data = stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()
        argv = [python, "-c", FULL_DISK, str(HOOK)] if full_disk else [python, str(HOOK)]
        proc = subprocess.run(
            argv,
            input=data,
            capture_output=True,
            env=self.env,
            cwd=cwd or self.tmp,
            timeout=60,
            check=False,
            **popen,
        )
        result = subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode(errors="replace")
        )
        assert result.returncode == code, result
        assert "Traceback" not in result.stderr
        for line in result.stderr.splitlines():
            assert line.startswith("codex-fusion hook: "), result.stderr
        return result

    def state(self) -> Path:
        return nonce.state_dir(self.env)

    def records(self, workspace: Path | None = None, state: Path | None = None) -> dict[str, dict[str, Any]]:
        directory = nonce.window_dir(state or self.state(), workspace or self.workspace)
        if not directory.exists():
            return {}
        return {p.name: json.loads(p.read_text()) for p in sorted(directory.iterdir())}


@pytest.fixture
def hook(tmp_path: Path) -> Hook:
    return Hook(tmp_path)


def assert_record(
    rec: dict[str, Any], hook: Hook, event: str, detail: str | None, pid: int | None = PID
) -> None:
    assert rec["version"] == 1
    assert rec["event"] == event
    assert rec["detail"] == detail
    assert rec["claude_pid"] == pid
    assert rec["workspace"] == os.path.realpath(hook.workspace)
    assert isinstance(rec["nonce"], str)
    assert len(rec["nonce"]) >= 16
    assert isinstance(rec["at"], float)


def no_records(hook: Hook) -> bool:
    windows = hook.state() / "windows"
    return not windows.exists() or not any(windows.rglob("*.json"))


# --- the events ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["startup", "resume", "clear", "compact", "fork"])
def test_session_start_records_the_source(hook: Hook, source: str) -> None:
    result = hook.run(hook.payload("SessionStart", source=source))
    assert result.stdout == ""
    assert result.stderr == ""
    records = hook.records()
    assert sorted(records) == [f"pid-{PID}.json", "workspace.json"]
    for rec in records.values():
        assert_record(rec, hook, source, source)
        assert rec["session_id"] == "sess-1"
    assert records[f"pid-{PID}.json"] == records["workspace.json"]
    state = hook.state()
    assert state == hook.data / "state"
    assert oct(state.stat().st_mode & 0o777) == oct(0o700)


def test_unknown_source_is_recorded_as_startup_with_the_raw_value(hook: Hook) -> None:
    hook.run(hook.payload("SessionStart", source="teleport"))
    assert_record(hook.records()["workspace.json"], hook, "startup", "teleport")


def test_session_start_without_source(hook: Hook) -> None:
    hook.run(hook.payload("SessionStart"))
    assert_record(hook.records()["workspace.json"], hook, "startup", None)


@pytest.mark.parametrize("trigger", ["manual", "auto"])
def test_pre_compact(hook: Hook, trigger: str) -> None:
    result = hook.run(hook.payload("PreCompact", trigger=trigger, custom_instructions=None))
    assert result.stdout == ""
    assert_record(hook.records()[f"pid-{PID}.json"], hook, "compact", trigger)


@pytest.mark.parametrize("reason", ["clear", "resume", "logout", "prompt_input_exit", "other"])
def test_session_end(hook: Hook, reason: str) -> None:
    result = hook.run(hook.payload("SessionEnd", reason=reason))
    assert result.stdout == ""
    assert_record(hook.records()[f"pid-{PID}.json"], hook, "end", reason)


def test_every_event_gets_a_fresh_nonce(hook: Hook) -> None:
    nonces = set()
    for _ in range(3):
        hook.run(hook.payload("SessionStart", source="clear"))
        nonces.add(hook.records()["workspace.json"]["nonce"])
    assert len(nonces) == 3


def test_two_windows_write_separate_records(hook: Hook) -> None:
    hook.run(hook.payload("SessionStart", source="clear", session_id="one"))
    hook.env["CLAUDE_PID"] = "5353"
    hook.run(hook.payload("SessionStart", source="startup", session_id="two"))
    records = hook.records()
    assert records[f"pid-{PID}.json"]["session_id"] == "one"
    assert records["pid-5353.json"]["session_id"] == "two"
    assert records["workspace.json"]["session_id"] == "two"


def test_unexpected_hook_event_records_nothing(hook: Hook) -> None:
    result = hook.run(hook.payload("PostToolUse"))
    assert result.stdout == ""
    assert "PostToolUse" in result.stderr
    assert no_records(hook)


# --- garbage on stdin ------------------------------------------------------------------------------

GARBAGE: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"\n \n",
    "invalid json": b'{"hook_event_name": "SessionStart", ',
    "not utf-8": b"\xff\xfe{}",
    "json array": b'[{"hook_event_name": "SessionStart"}]',
    "json string": b'"SessionStart"',
    "json null": b"null",
    "no hook_event_name": b'{"session_id": "x", "source": "clear"}',
    "hook_event_name not a string": b'{"hook_event_name": ["SessionStart"]}',
    "5 MiB of junk": b"x" * (5 * 1024 * 1024),
    "5 MiB of JSON": b'{"hook_event_name": "SessionStart", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}',
    "deep nesting": b"[" * 200000,
}


@pytest.mark.parametrize("stdin", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_on_stdin_records_nothing_and_says_so(hook: Hook, stdin: bytes) -> None:
    result = hook.run(stdin)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert no_records(hook)


def test_missing_fields_fall_back_to_the_environment(hook: Hook) -> None:
    result = hook.run({"hook_event_name": "SessionStart", "session_id": 5, "source": None})
    assert result.stdout == ""
    rec = hook.records()["workspace.json"]
    assert_record(rec, hook, "startup", None)
    assert rec["session_id"] == "env-session"


def test_missing_session_id_everywhere_is_an_empty_string(hook: Hook) -> None:
    del hook.env["CLAUDE_CODE_SESSION_ID"]
    hook.run({"hook_event_name": "SessionEnd"})
    rec = hook.records()["workspace.json"]
    assert rec["session_id"] == ""
    assert_record(rec, hook, "end", None)


def test_stdin_left_open_without_data_does_not_block(hook: Hook) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(HOOK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=hook.env,
        cwd=hook.tmp,
    )
    try:
        assert proc.wait(timeout=60) == 0  # exits while its stdin is still open
        assert proc.stdout is not None
        assert proc.stdout.read() == b""
        assert proc.stderr is not None
        assert b"no hook input" in proc.stderr.read()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.kill()
        proc.wait()
    assert no_records(hook)


def test_payload_with_stdin_left_open_is_still_recorded(hook: Hook) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(HOOK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=hook.env,
        cwd=hook.tmp,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(hook.payload("SessionStart", source="clear")).encode())
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
        assert proc.stdout is not None
        assert proc.stdout.read() == b""
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.kill()
        proc.wait()
    assert_record(hook.records()["workspace.json"], hook, "clear", "clear")


# --- missing environment ---------------------------------------------------------------------------


def test_no_plugin_data_falls_back_to_xdg_state_home(hook: Hook) -> None:
    del hook.env["CLAUDE_PLUGIN_DATA"]
    hook.env["XDG_STATE_HOME"] = str(hook.tmp / "xdg")
    hook.run(hook.payload("SessionStart", source="clear"))
    state = hook.tmp / "xdg" / "codex-fusion"
    assert sorted(hook.records(state=state)) == [f"pid-{PID}.json", "workspace.json"]
    assert not any(hook.data.iterdir())


def test_no_plugin_data_nor_xdg_falls_back_to_home(hook: Hook) -> None:
    del hook.env["CLAUDE_PLUGIN_DATA"]
    hook.run(hook.payload("SessionStart", source="clear"))
    state = hook.home / ".local" / "state" / "codex-fusion"
    assert sorted(hook.records(state=state)) == [f"pid-{PID}.json", "workspace.json"]
    assert oct(state.stat().st_mode & 0o777) == oct(0o700)


@pytest.mark.parametrize("pid", [None, "", "abc", "-3", "0", "12.5"])
def test_no_valid_claude_pid_writes_the_workspace_record_only(hook: Hook, pid: str | None) -> None:
    if pid is None:
        del hook.env["CLAUDE_PID"]
    else:
        hook.env["CLAUDE_PID"] = pid
    result = hook.run(hook.payload("SessionStart", source="clear"))
    assert result.stdout == ""
    records = hook.records()
    assert sorted(records) == ["workspace.json"]
    assert_record(records["workspace.json"], hook, "clear", "clear", pid=None)


def test_no_project_dir_uses_stdin_cwd(hook: Hook) -> None:
    del hook.env["CLAUDE_PROJECT_DIR"]
    other = hook.tmp / "other"
    other.mkdir()
    hook.run(hook.payload("SessionStart", source="clear", cwd=str(other)))
    records = hook.records(workspace=other)
    assert records["workspace.json"]["workspace"] == os.path.realpath(other)
    assert hook.records() == {}


def test_no_project_dir_nor_cwd_uses_the_process_cwd(hook: Hook) -> None:
    del hook.env["CLAUDE_PROJECT_DIR"]
    payload = hook.payload("SessionStart", source="clear")
    del payload["cwd"]
    hook.run(payload, cwd=hook.workspace)
    assert_record(hook.records()["workspace.json"], hook, "clear", "clear")


def test_symlinked_project_dir_maps_to_the_same_records(hook: Hook) -> None:
    link = hook.tmp / "link"
    link.symlink_to(hook.workspace)
    hook.env["CLAUDE_PROJECT_DIR"] = str(link)
    hook.run(hook.payload("SessionStart", source="clear"))
    assert_record(hook.records()["workspace.json"], hook, "clear", "clear")


# --- unwritable state ------------------------------------------------------------------------------


def test_plugin_data_is_a_file(hook: Hook) -> None:
    hook.data.rmdir()
    hook.data.write_text("I am a file")
    result = hook.run(hook.payload("SessionStart", source="clear"))
    assert "could not record this /clear for Codex" in json.loads(result.stdout)["systemMessage"]
    assert "could not write the reset record" in result.stderr
    assert hook.data.read_text() == "I am a file"


def test_state_dir_is_a_file(hook: Hook) -> None:
    (hook.data / "state").write_text("I am a file")
    result = hook.run(hook.payload("PreCompact", trigger="auto"), code=1)  # the user sees it
    assert result.stdout == ""
    assert "could not write the reset record" in result.stderr


def test_symlinked_state_dir_is_refused(hook: Hook) -> None:
    elsewhere = hook.tmp / "elsewhere"
    elsewhere.mkdir()
    (hook.data / "state").symlink_to(elsewhere)
    result = hook.run(hook.payload("SessionStart", source="clear"))
    assert "symlink" in result.stderr
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
def test_state_dir_owned_by_another_user_is_refused(hook: Hook) -> None:
    state = hook.data / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    result = hook.run(hook.payload("SessionStart", source="clear"))
    assert "owned by uid" in result.stderr
    assert list(state.iterdir()) == []


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir another user can traverse (pytest's tmp_path is private to us)."""
    path = Path(tempfile.mkdtemp(prefix="codex-fusion-hook-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _python_for_nobody() -> str | None:
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if not candidate or not os.path.exists(candidate):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info >= (3, 9))"],
                capture_output=True,
                user=NOBODY,
                group=NOBODY,
                extra_groups=[],
                check=False,
                cwd="/",
                timeout=60,
            )
        except OSError:  # not executable by that user
            continue
        if probe.returncode == 0 and probe.stdout.strip() == b"True":
            return candidate
    return None


def test_read_only_plugin_data(shared_tmp: Path) -> None:
    hook = Hook(shared_tmp)
    for p in (hook.workspace, hook.home):
        p.chmod(0o755)
    hook.data.chmod(0o555)
    if IS_ROOT:  # root writes through any mode: run the hook as nobody
        python = _python_for_nobody()
        if python is None or not os.access(HOOK, os.R_OK):
            pytest.skip("no Python interpreter that user nobody can run")
        result = hook.run(
            hook.payload("SessionStart", source="clear"),
            python=python,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
        )
    else:
        result = hook.run(hook.payload("SessionStart", source="clear"))
    assert "could not record this /clear for Codex" in json.loads(result.stdout)["systemMessage"]
    assert "could not write the reset record" in result.stderr
    assert list(hook.data.iterdir()) == []


# --- records that could not be written are never lost silently ----------------------------------


def test_a_workspace_whose_path_is_not_utf8_is_recorded(hook: Hook) -> None:
    raw = os.fsencode(hook.tmp) + b"/caf\xe9-latin1"  # a Latin-1 name: not valid UTF-8
    os.mkdir(raw)
    workspace = os.fsdecode(raw)  # as os.environ gives it: the bad byte as a surrogate escape
    hook.env["CLAUDE_PROJECT_DIR"] = workspace
    result = hook.run(hook.payload("SessionStart", source="clear"))
    assert result.stderr == ""
    assert result.stdout == ""
    paths = nonce.record_paths(hook.state(), workspace, PID)
    assert paths.window is not None
    record = serverside.read_record(paths.window)
    assert record is not None
    assert record.event == "clear"
    assert record.workspace == os.path.realpath(workspace)  # the same bytes, read back exactly


def test_a_full_disk_at_session_start_tells_the_user_and_removes_the_stale_record(hook: Hook) -> None:
    hook.run(hook.payload("SessionStart", source="startup"))
    assert set(hook.records()) == {f"pid-{PID}.json", "workspace.json"}
    result = hook.run(hook.payload("SessionStart", source="clear", session_id="sess-2"), full_disk=True)
    message = json.loads(result.stdout)["systemMessage"]
    assert "could not record this /clear for Codex (" in message
    assert "No space left on device" in message
    assert "Codex is reset at its next call to be safe" in message
    assert hook.records() == {}  # the server must not go on believing the startup record


@pytest.mark.parametrize(
    ("event", "fields"), [("PreCompact", {"trigger": "auto"}), ("SessionEnd", {"reason": "clear"})]
)
def test_a_full_disk_at_other_events_is_a_non_blocking_error_the_user_sees(
    hook: Hook, event: str, fields: dict[str, str]
) -> None:
    hook.run(hook.payload("SessionStart", source="startup"))
    result = hook.run(hook.payload(event, **fields), full_disk=True, code=1)
    first = result.stderr.splitlines()[0]
    assert first.startswith("codex-fusion hook: could not write the reset record")
    assert "No space left on device" in first
    assert result.stdout == ""
    assert hook.records() == {}


def test_a_clear_keeps_the_cleared_conversations_link(hook: Hook) -> None:
    """Claude Code can --resume a /clear-ed conversation with its whole history: its Codex session
    must still be findable."""
    link = serverside.link_path(hook.state(), hook.workspace, "sess-1")
    link.parent.mkdir(parents=True)
    link.write_text("{}")
    hook.run(hook.payload("SessionEnd", reason="clear"))
    assert link.exists()


# --- the debate state after compaction ------------------------------------------------------------


def context_of(stdout: str, *, told: bool = False) -> str:
    out = json.loads(stdout)
    assert list(out) == (["systemMessage", "hookSpecificOutput"] if told else ["hookSpecificOutput"])
    specific = out["hookSpecificOutput"]
    assert specific["hookEventName"] == "SessionStart"
    assert set(specific) == {"hookEventName", "additionalContext"}
    context = specific["additionalContext"]
    assert isinstance(context, str)
    assert 1 <= len(context.splitlines()) <= 2
    return context


def test_compact_shows_the_debate_state(hook: Hook) -> None:
    serverside.write_debate_state(
        hook.state(), hook.workspace, PID, "Round 2: Codex objects to the cache; reply due"
    )
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert len(result.stdout.strip().splitlines()) == 1
    assert "Round 2: Codex objects to the cache; reply due" in context_of(result.stdout)
    assert_record(hook.records()[f"pid-{PID}.json"], hook, "compact", "compact")


def test_compact_falls_back_to_the_workspace_debate_state(hook: Hook) -> None:
    serverside.write_debate_state(hook.state(), hook.workspace, None, "workspace-wide summary")
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert "workspace-wide summary" in context_of(result.stdout)


def test_compact_without_pid_uses_the_workspace_debate_state(hook: Hook) -> None:
    del hook.env["CLAUDE_PID"]
    serverside.write_debate_state(hook.state(), hook.workspace, None, "workspace-wide summary")
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert "workspace-wide summary" in context_of(result.stdout)


def test_compact_matches_the_debate_state_to_the_conversation(hook: Hook) -> None:
    serverside.write_debate_state(hook.state(), hook.workspace, PID, "this conversation", session_id="sess-1")
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert "this conversation" in context_of(result.stdout)
    serverside.write_debate_state(hook.state(), hook.workspace, PID, "before /clear", session_id="old")
    assert hook.run(hook.payload("SessionStart", source="compact")).stdout == ""


def test_compact_ignores_another_windows_debate_state(hook: Hook) -> None:
    serverside.write_debate_state(hook.state(), hook.workspace, 999, "not yours")
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert result.stdout == ""


@pytest.mark.parametrize(
    "stdin",
    [
        {"source": "startup"},
        {"source": "resume"},
        {"source": "clear"},
        {"source": "fork"},
        {"source": "bogus-compact"},
        {"event": "PreCompact", "trigger": "auto"},
        {"event": "SessionEnd", "reason": "other"},
    ],
    ids=lambda d: "-".join(map(str, d.values())),
)
def test_no_output_outside_post_compaction_session_start(hook: Hook, stdin: dict[str, str]) -> None:
    serverside.write_debate_state(hook.state(), hook.workspace, PID, "a debate is going on")
    fields = dict(stdin)
    event = fields.pop("event", "SessionStart")
    result = hook.run(hook.payload(event, **fields))
    assert result.stdout == ""


def test_compact_without_debate_state_prints_nothing(hook: Hook) -> None:
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert result.stdout == ""
    assert result.stderr == ""


def test_compact_with_a_corrupt_debate_state_prints_nothing(hook: Hook) -> None:
    path = serverside.write_debate_state(hook.state(), hook.workspace, PID, "fine")
    path.write_text('{"version": 1, "summary": ')
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert result.stdout == ""
    assert "debate state" in result.stderr


def test_compact_with_an_empty_debate_state_prints_nothing(hook: Hook) -> None:
    serverside.write_debate_state(hook.state(), hook.workspace, PID, "")
    result = hook.run(hook.payload("SessionStart", source="compact"))
    assert result.stdout == ""


def test_debate_state_is_shown_even_when_the_record_cannot_be_written(hook: Hook) -> None:
    serverside.write_debate_state(hook.state(), hook.workspace, PID, "still debating")
    os.chmod(hook.state() / "windows", 0o500)
    try:
        if IS_ROOT:  # root writes through any mode; make the record path unusable instead
            directory = nonce.window_dir(hook.state(), hook.workspace)
            (directory / f"pid-{PID}.json").mkdir()
        result = hook.run(hook.payload("SessionStart", source="compact"))
    finally:
        os.chmod(hook.state() / "windows", 0o700)
    assert "could not write the reset record" in result.stderr
    assert "still debating" in context_of(result.stdout, told=True)


# --- start-up cost --------------------------------------------------------------------------------


def test_a_hook_run_imports_nothing_heavy(hook: Hook) -> None:
    """Guards the start-up path (behaviour, not timing): no typing, logging, subprocess, nor the server."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(HOOK)],
        input=json.dumps(hook.payload("SessionStart", source="compact")).encode(),
        capture_output=True,
        env=hook.env,
        cwd=hook.tmp,
        timeout=60,
        check=True,
    )
    assert proc.stdout == b""
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "codex_fusion.hookside.nonce" in imported
    heavy = {
        "typing",
        "logging",
        "subprocess",
        "secrets",
        "random",
        "asyncio",
        "threading",
        "tempfile",
        "shutil",
    }
    assert imported & heavy == set()
    assert {m for m in imported if m.startswith("codex_fusion")} == {
        "codex_fusion",
        "codex_fusion.hookside",  # the package (empty), since the layered layout
        "codex_fusion.hookside.nonce",
        "codex_fusion.hookside.private",
    }
    assert not any(m.split(".")[0] in {"mcp", "anyio", "pydantic", "watchfiles"} for m in imported)
    assert_record(hook.records()[f"pid-{PID}.json"], hook, "compact", "compact")


# --- the plugin wiring -----------------------------------------------------------------------------


def test_hooks_json_runs_this_script_for_every_event() -> None:
    config = json.loads((REPO / "hooks" / "hooks.json").read_text())
    expected = {
        "type": "command",
        "command": "python3",
        "args": ["${CLAUDE_PLUGIN_ROOT}/hooks/codex_fusion_hook.py"],
        "timeout": 10,
    }
    # the gate's entry: sh, which starts the Python hook only when the gate may be on (test_gate_entry)
    gate = {**expected, "command": "sh", "args": ["${CLAUDE_PLUGIN_ROOT}/hooks/gate.sh"]}
    events = {
        "PreCompact": expected,
        "SessionEnd": expected,
        "SessionStart": expected,
        # The review gate: a prompt's snapshot is bounded by gate_hook.SNAPSHOT_TIMEOUT; a stop's review
        # by review_gate_timeout (at most 540 s) plus its backstops, under Claude Code's 600 s default.
        "UserPromptSubmit": {**gate, "args": [*gate["args"], "prompt"], "timeout": 30},
        "Stop": {**gate, "timeout": 600},
    }
    assert sorted(config["hooks"]) == sorted(events)
    for name, groups in config["hooks"].items():
        assert len(groups) == 1
        assert "matcher" not in groups[0] or groups[0]["matcher"] in ("", "*")
        assert groups[0]["hooks"] == [events[name]]


def test_what_the_hook_imports_needs_no_more_than_python_3_9() -> None:
    """The hook runs under the user's own ``python3`` (3.9 and newer). No 3.9 interpreter is installable
    here, so vermin checks the files statically: syntax, standard-library modules, functions and
    arguments, against 3.9; it exits non-zero on any construct 3.9 lacks."""
    files = [
        HOOK,
        *(
            REPO / "server" / "codex_fusion" / name
            for name in (
                "__init__.py",
                "nonce.py",
                "private.py",
                "options.py",
                "gate.py",
                "gate_hook.py",
                "gitsnap.py",
            )
        ),
    ]
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("vermin")),
            "--target=3.9-",
            "--violations",
            "--no-tips",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Target versions not met" not in done.stdout
