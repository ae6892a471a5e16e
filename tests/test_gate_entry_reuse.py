"""The gate's sh entry reuses the last stop's snapshot on a prompt without starting Python (ADR 0030),
and only when the Python hook would have reused it and written nothing: any file, variable or payload
that is not exactly as expected sends the prompt to Python, with its payload intact."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codex_fusion.hookside import nonce
from codex_fusion.hookside.private import dumps, write_files

from .conftest import FakeAgentSetup
from .test_gate_entry import ENTRY, SH, _fake_python
from .test_gate_hook import SESSION, WINDOW, hook, hook_env, repo
from .test_gate_slow import _logged_git

__all__ = ["repo"]  # the fixture, used by name


class Turn:
    """A workspace after one prompt and one stop through the real Python hook, with a descriptor of
    this window's server (this process: alive) that has watched since long before and seen nothing."""

    def __init__(self, fake: FakeAgentSetup, tmp_path: Path) -> None:
        self.git_path, self.git_started = _logged_git(tmp_path)
        self.env = hook_env(fake, PATH=self.git_path, CODEX_FUSION_GATE_COMMAND="false")
        self.state = nonce.state_dir(self.env)
        self.directory = nonce.window_dir(self.state, fake.workspace)
        self.server = self.describe(os.getpid())
        assert hook(self.env, "UserPromptSubmit", prompt="go") is None
        assert hook(self.env, "Stop", stop_hook_active=False) is None
        (self.record,) = self.directory.glob("gate-*.json")
        self.note = self.directory / f"reuse-{WINDOW}.txt"
        self.began = json.loads(self.record.read_bytes())["stop_began"]
        self.git_started.unlink()
        self.bin_dir, self.python_started = _fake_python(tmp_path)
        self.payload: dict[str, Any] = {
            "session_id": SESSION,
            "hook_event_name": "UserPromptSubmit",
            "cwd": str(fake.workspace),
            "prompt": 'say "hi" \\ {"session_id": "x"}',
        }

    def describe(self, pid: int, **fields: object) -> Path:
        descriptor = {
            "version": 1,
            "pid": pid,
            "socket": "/nonexistent/x.sock",
            "ancestors": [1, WINDOW],
            "at": time.time(),
            "watch_since": 1.5,
            "changed": 2.25,
            **fields,
        }
        name = f"server-{pid}.json"
        write_files(self.state, self.directory, [(name, dumps(descriptor))])
        return self.directory / name

    def entry(self, raw: bytes | None = None, **env: str) -> subprocess.CompletedProcess[bytes]:
        """The sh entry as Claude Code runs it for a prompt, with a ``python3`` that records its start."""
        merged = {**self.env, "PATH": f"{self.bin_dir}{os.pathsep}{self.git_path}", **env}
        data = json.dumps(self.payload).encode() if raw is None else raw
        return subprocess.run(
            [SH, str(ENTRY), "prompt"], input=data, env=merged, capture_output=True, timeout=30
        )


@pytest.fixture
def turn(repo: FakeAgentSetup, tmp_path: Path) -> Turn:
    return Turn(repo, tmp_path)


def test_a_quiet_prompt_starts_no_interpreter_and_python_agrees(turn: Turn) -> None:
    before = turn.record.read_bytes()
    done = turn.entry()
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert not turn.python_started.exists(), "the stop's snapshot is reusable: no interpreter may start"
    assert turn.record.read_bytes() == before
    # what the entry skipped, the Python hook does without git and without a write
    assert hook(turn.env, "UserPromptSubmit", prompt="go") is None
    assert not turn.git_started.exists()
    assert turn.record.read_bytes() == before


def _rewrite(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


def _symlinked(path: Path) -> None:
    copy = path.with_name("elsewhere")
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)


#: Each leaves a case where the entry cannot be sure: it must start Python and hand it the payload.
DOUBTS: dict[str, Callable[[Turn], object]] = {
    "the record changed after the note": lambda t: _rewrite(t.record, b'"blocks":', b'"blocks": '),
    "the note is cut short": lambda t: t.note.write_bytes(t.note.read_bytes()[:-2] + b"\n"),
    "the note has an extra field": lambda t: t.note.write_bytes(t.note.read_bytes()[:-1] + b" x\n"),
    "the note has a second line": lambda t: t.note.write_bytes(t.note.read_bytes() * 2),
    "the note is a symlink": lambda t: _symlinked(t.note),
    "the record is a symlink": lambda t: _symlinked(t.record),
    "no note": lambda t: t.note.unlink(),
    "a change after the stop began": lambda t: t.describe(os.getpid(), changed=t.began + 0.5),
    "a change 10 µs before it": lambda t: t.describe(os.getpid(), changed=t.began - 0.00001),
    "the watch began after it": lambda t: t.describe(os.getpid(), watch_since=t.began + 1),
    "no watch": lambda t: t.describe(os.getpid(), watch_since=None),
    "a version Python reads as 1": lambda t: _rewrite(t.server, b'"version":1,', b'"version":1.0,'),
    "an extra key": lambda t: _rewrite(t.server, b'"changed":2.25}', b'"changed":2.25,"x":1}'),
    "a duplicate key": lambda t: _rewrite(t.server, b'"changed":2.25}', b'"changed":2.25,"changed":9e9}'),
    "an exponent": lambda t: _rewrite(t.server, b'"changed":2.25}', b'"changed":2.25e0}'),
    "a negative time": lambda t: _rewrite(t.server, b'"changed":2.25}', b'"changed":-2.25}'),
    "an escaped socket path": lambda t: _rewrite(t.server, b'x.sock"', b'x\\".sock"'),
    "a pid written as a float": lambda t: _rewrite(
        t.server, f"[1,{WINDOW}]".encode(), f"[1,{WINDOW}.0]".encode()
    ),
    "not this window's server": lambda t: _rewrite(t.server, f"[1,{WINDOW}]".encode(), b"[1]"),
    "a second server for the window": lambda t: t.describe(1),
    "the server is gone": lambda t: t.describe(_exited()) and t.server.unlink(),
    "another conversation": lambda t: t.payload.update(session_id="conv-2"),
    "the session id twice": lambda t: t.payload.update(prompt="x", extra={"session_id": SESSION}),
    "a stop's payload": lambda t: t.payload.update(hook_event_name="Stop"),
    "the session id not first": lambda t: t.payload.update(session_id=t.payload.pop("session_id")),
    "the gate on by an unusual spelling": lambda t: {
        "CODEX_FUSION_REVIEW_GATE": "",
        "CLAUDE_PLUGIN_OPTION_REVIEW_GATE": "yes",
    },
    "a window pid with a space": lambda t: {"CLAUDE_PID": f" {WINDOW}"},
    "a relative project dir": lambda t: {"CLAUDE_PROJECT_DIR": "."},
}


def _exited() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("doubt", list(DOUBTS))
def test_any_doubt_goes_to_python_with_the_payload(turn: Turn, doubt: str) -> None:
    changed = DOUBTS[doubt](turn)  # the variables to set, when the doubt is in the environment
    done = turn.entry(**(changed if isinstance(changed, dict) else {}))
    assert done.returncode == 0, done.stderr
    assert turn.python_started.exists(), f"{doubt}: the entry must let Python decide"
    args = turn.python_started.read_text().splitlines()
    assert args[1] == "gate"
    assert json.loads("\n".join(args[2:])) == turn.payload


def test_a_payload_the_entry_read_reaches_python_whole(turn: Turn) -> None:
    raw = json.dumps({**turn.payload, "hook_event_name": "Stop"}, separators=(",", ":")).encode() + b"\n\n"
    done = turn.entry(raw)
    assert done.returncode == 0
    assert json.loads("\n".join(turn.python_started.read_text().splitlines()[2:])) == json.loads(raw)


def test_claude_codes_compact_payload_is_reused(turn: Turn) -> None:
    done = turn.entry(json.dumps(turn.payload, separators=(",", ":")).encode())
    assert (done.returncode, done.stderr) == (0, b"")
    assert not turn.python_started.exists()


def test_after_a_prompt_that_saw_a_change_the_old_note_matches_nothing(
    turn: Turn, repo: FakeAgentSetup
) -> None:
    """Python snapshots a real change and rewrites the record: the stop's note then pins bytes that
    are gone, so a prompt that looks quiet again still goes to Python (which writes the new baseline)."""
    (repo.workspace / "src" / "calc.py").write_text("changed = True\n")
    turn.describe(os.getpid(), changed=turn.began + 0.5)
    assert hook(turn.env, "UserPromptSubmit", prompt="again") is None
    assert turn.git_started.exists()
    turn.describe(os.getpid())
    done = turn.entry()
    assert done.returncode == 0
    assert turn.python_started.exists()
