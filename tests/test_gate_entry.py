"""The gate's hook entry (``hooks/gate.sh``): with the review gate off, a prompt or a stop starts no
interpreter; with it on, or set in a way only Python decides, the Python hook runs with the payload."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from codex_fusion.hookside import options

REPO = Path(__file__).resolve().parents[1]
ENTRY = REPO / "hooks" / "gate.sh"
SH = shutil.which("sh") or "/bin/sh"

#: (CODEX_FUSION_REVIEW_GATE, CLAUDE_PLUGIN_OPTION_REVIEW_GATE): the gate is off for each.
OFF = [
    (None, None),
    ("", ""),
    ("  ", None),
    ("0", None),
    ("true", None),  # the variable wins and only `1` turns the gate on (codex_fusion_hook.run)
    ("0", "true"),
    (None, "false"),
    (None, "False"),
    (None, "0"),
    (None, "off"),
    (None, "no"),
]
#: Set so that Python must decide (on, or an unusual spelling): the interpreter starts.
PYTHON = [("1", None), ("1", "false"), (None, "true"), (None, "1"), (None, " yes "), (None, "maybe")]


def _fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """A ``python3`` first on PATH that records that it started, its arguments and its stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "started"
    fake = bin_dir / "python3"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{marker}"\ncat >> "{marker}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return bin_dir, marker


#: The entry as hooks.json runs it for each event: a prompt's may reuse the stop's snapshot.
FORMS = {"Stop": [], "UserPromptSubmit": ["prompt"]}


def _run(
    tmp_path: Path, gate: str | None, option: str | None, event: str = "Stop"
) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    bin_dir, marker = _fake_python(tmp_path)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}"}
    if gate is not None:
        env["CODEX_FUSION_REVIEW_GATE"] = gate
    if option is not None:
        env["CLAUDE_PLUGIN_OPTION_REVIEW_GATE"] = option
    payload = json.dumps({"hook_event_name": event, "session_id": "s"}).encode()
    argv = [SH, str(ENTRY), *FORMS[event]]
    done = subprocess.run(argv, input=payload, env=env, capture_output=True, timeout=30)
    return done, marker


@pytest.mark.parametrize("event", list(FORMS))
@pytest.mark.parametrize(("gate", "option"), OFF)
def test_with_the_gate_off_no_interpreter_starts(
    tmp_path: Path, gate: str | None, option: str | None, event: str
) -> None:
    done, marker = _run(tmp_path, gate, option, event)
    assert done.returncode == 0
    assert done.stdout == b""
    assert done.stderr == b""
    assert not marker.exists(), "the gate is off: no interpreter may start"


@pytest.mark.parametrize("event", list(FORMS))
@pytest.mark.parametrize(("gate", "option"), PYTHON)
def test_otherwise_the_python_hook_gets_the_payload(
    tmp_path: Path, gate: str | None, option: str | None, event: str
) -> None:
    done, marker = _run(tmp_path, gate, option, event)
    assert done.returncode == 0
    args = marker.read_text().splitlines()
    assert args[:2] == [str(REPO / "hooks" / "codex_fusion_hook.py"), "gate"]
    assert json.loads(args[2]) == {"hook_event_name": event, "session_id": "s"}


@pytest.mark.parametrize(("gate", "option"), OFF)
def test_the_entry_turns_off_only_what_python_turns_off(gate: str | None, option: str | None) -> None:
    """What the entry skips, the Python hook would have skipped too: no way of turning the gate on
    is lost in the entry (codex_fusion_hook.run's own check)."""
    env = {}
    if gate is not None:
        env["CODEX_FUSION_REVIEW_GATE"] = gate
    if option is not None:
        env["CLAUDE_PLUGIN_OPTION_REVIEW_GATE"] = option
    assert options.lookup(env, "review_gate")[0] != "1"


def test_prompt_and_stop_go_through_the_entry() -> None:
    config = json.loads((REPO / "hooks" / "hooks.json").read_text())
    for event, extra in (("UserPromptSubmit", ["prompt"]), ("Stop", [])):
        (handler,) = config["hooks"][event][0]["hooks"]
        assert handler["command"] == "sh"
        assert handler["args"] == ["${CLAUDE_PLUGIN_ROOT}/hooks/gate.sh", *extra]  # prompt: may reuse
