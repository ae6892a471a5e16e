"""codex-fusion's Claude Code hook: SessionStart, PreCompact and SessionEnd write a reset record;
UserPromptSubmit and Stop run the review gate when it is on (``server/codex_fusion/gate_hook.py``).

The MCP server keeps one Codex session per workspace and cannot see ``/clear``, ``/resume``, forks or
compaction; this hook records each of them (see ``server/codex_fusion/nonce.py`` for the layout) and
the server watches the record to reset or keep Codex in step with Claude's conversation. After a
compaction it also reminds Claude of the Codex debate state the server left behind.

Runs under whatever ``python3`` the user has (3.9+), standard library only, in tens of milliseconds.
Problems go to stderr as one line starting with ``codex-fusion hook:``. When the record cannot be
written (a full disk, a refused path) the user is told, as Claude Code lets each event: SessionStart
prints a JSON ``systemMessage`` (shown to the user; exit 0), PreCompact and SessionEnd exit 1 (a
non-blocking error whose first stderr line the user sees). The stale record is removed too, so the
server notices that it lost track and resets Codex to be safe. Otherwise the hook exits 0, and stdout
carries nothing but the SessionStart JSON after a compaction.
With the gate off (the default) a ``gate`` run (UserPromptSubmit, Stop) returns before it reads anything
or imports ``json``; with it on, stdout carries the gate's one Stop answer.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from pathlib import Path

MAX_STDIN_BYTES = 1024 * 1024
STDIN_TIMEOUT = 0.5  # seconds in all: Claude Code writes the payload at once, a hang must not block it
SESSION_START_SOURCES = ("startup", "resume", "clear", "compact", "fork")
MAX_DETAIL_CHARS = 200


def _problem(message: str) -> None:
    line = " ".join(str(message).split())[:300]
    try:
        sys.stderr.write(f"codex-fusion hook: {line}\n")
        sys.stderr.flush()
    except Exception:  # stderr closed: nothing left to tell
        return


def _read_stdin() -> tuple[object, str | None]:
    """(payload, problem): the parsed stdin JSON, read with a size and time bound."""
    stream = sys.stdin
    if stream is None:
        return None, "no stdin"
    try:
        # select() cannot wait on a pipe on Windows: read there without a deadline.
        data = stream.buffer.read(MAX_STDIN_BYTES + 1) if os.name == "nt" else _read_fd(stream.fileno())
    except Exception as exc:
        return None, f"cannot read stdin: {exc}"
    if data is None or len(data) > MAX_STDIN_BYTES:
        return None, f"stdin is larger than {MAX_STDIN_BYTES} bytes; ignored"
    if not data.strip():
        return None, "no hook input on stdin"
    try:
        return json.loads(data.decode("utf-8")), None
    except (UnicodeDecodeError, RecursionError, ValueError):
        return None, "stdin is not JSON"


def _read_fd(fd: int) -> bytes | None:
    """Up to MAX_STDIN_BYTES + 1 bytes, stopping at EOF, at a complete JSON object, or at the deadline."""
    deadline = time.monotonic() + STDIN_TIMEOUT
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_STDIN_BYTES:
            return None
        if chunk.rstrip().endswith(b"}"):  # Claude Code may leave stdin open after the payload
            try:
                json.loads(b"".join(chunks).decode("utf-8"))
            except (UnicodeDecodeError, RecursionError, ValueError):
                continue
            break
    return b"".join(chunks)


def _text(payload: dict[str, object], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def _event(payload: dict[str, object]) -> tuple[str, str | None, str] | None:
    """(event, detail, hook event name) for the record, or None for a hook we do not handle."""
    name = payload.get("hook_event_name")
    if name == "SessionStart":
        source = _text(payload, "source")
        event = source if source in SESSION_START_SOURCES else "startup"
        return event, source[:MAX_DETAIL_CHARS] if source else None, name
    if name == "PreCompact":
        trigger = _text(payload, "trigger")
        return "compact", trigger[:MAX_DETAIL_CHARS] if trigger else None, name
    if name == "SessionEnd":
        reason = _text(payload, "reason")
        return "end", reason[:MAX_DETAIL_CHARS] if reason else None, name
    return None


def _server_path() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.normpath(os.path.join(here, os.pardir, "server")))


def _gate(name: str, payload: dict[str, object]) -> None:
    from codex_fusion.hookside import gate_hook, nonce

    nonce.set_warning_sink(_problem)
    output = gate_hook.run(name, payload, os.environ)
    if output is not None:
        sys.stdout.write(json.dumps(output) + "\n")
        sys.stdout.flush()


def run() -> int:
    """Record the event; returns the exit code (1: the user must be told the record was lost)."""
    if sys.argv[1:2] == ["gate"]:
        _server_path()
        from codex_fusion.hookside import options

        flag, _ = options.lookup(os.environ, "review_gate")
        if flag != "1":
            return 0  # the gate is off: UserPromptSubmit and Stop cost an interpreter start, no more
    payload, problem = _read_stdin()
    if problem is not None:
        _problem(f"{problem}; nothing recorded")
        return 0
    if not isinstance(payload, dict):
        _problem("stdin is not a JSON object; nothing recorded")
        return 0
    if payload.get("hook_event_name") in ("UserPromptSubmit", "Stop"):
        _server_path()
        _gate(str(payload["hook_event_name"]), payload)
        return 0
    what = _event(payload)
    if what is None:
        name = payload.get("hook_event_name")
        if name is None:
            _problem("no hook_event_name in the hook input; nothing recorded")
        else:
            _problem(f"unexpected hook_event_name {str(name)[:60]!r}; nothing recorded")
        return 0
    event, detail, hook_name = what

    _server_path()
    from codex_fusion.hookside import nonce

    nonce.set_warning_sink(_problem)
    env = os.environ
    session_id = _text(payload, "session_id") or env.get("CLAUDE_CODE_SESSION_ID", "")
    workspace = env.get("CLAUDE_PROJECT_DIR") or _text(payload, "cwd") or os.getcwd()
    claude_pid = nonce.parse_pid(env.get("CLAUDE_PID", ""))
    lost: str | None = None
    try:
        state = nonce.state_dir(env)
    except OSError as exc:
        _problem(f"could not write the reset record: {exc}")
        return 0  # no state directory at all: the server has none either, and says so
    try:
        record = nonce.new_record(
            session_id=session_id[: nonce.MAX_TEXT_CHARS],
            event=event,
            workspace=workspace,
            claude_pid=claude_pid,
            detail=detail,
        )
        nonce.write_record(state, record)
    except (OSError, ValueError) as exc:
        lost = " ".join(str(exc).split())[:200]
        _problem(f"could not write the reset record: {lost}")
        if not isinstance(exc, (nonce.NonceStoreError, ValueError)):  # a refused path is not ours to touch
            nonce.forget_records(state, workspace, claude_pid)  # the server then notices it lost track

    if hook_name == "SessionStart" and event in ("startup", "resume"):  # a new Claude Code process
        _upkeep(state, workspace, claude_pid)
    output: dict[str, object] = {}
    if lost is not None:
        output["systemMessage"] = (
            f"codex-fusion could not record this {_WHAT.get(event, event)} for Codex ({lost}). Codex is "
            "reset at its next call to be safe; fix that (a full disk?) so Codex follows /clear and "
            "--resume again."
        )
    if hook_name == "SessionStart" and event == "compact":
        summary = nonce.read_debate_state(state, workspace, claude_pid, session_id)
        if summary:
            context = "codex-fusion: " + summary  # the server says there whether Codex was reset
            output["hookSpecificOutput"] = {"hookEventName": "SessionStart", "additionalContext": context}
    if hook_name == "SessionStart":
        if output:
            sys.stdout.write(json.dumps(output) + "\n")
            sys.stdout.flush()
        return 0
    return 1 if lost is not None else 0  # PreCompact, SessionEnd: the user sees the stderr line


def _upkeep(state: Path, workspace: str, claude_pid: int | None) -> None:
    """On a session start: record this interpreter for the doctor, and remove dead windows' records."""
    from codex_fusion.hookside import interpreter, nonce, prune

    try:
        interpreter.record(state)
        prune.prune(nonce.window_dir(state, workspace), claude_pid)
    except Exception as exc:  # upkeep must never cost the record or the session
        _problem(f"upkeep failed: {type(exc).__name__}: {exc}")


_WHAT = {
    "startup": "session start",
    "resume": "resume",
    "clear": "/clear",
    "compact": "compaction",
    "fork": "fork",
    "end": "session end",
}


def main() -> int:
    try:
        return run()
    except BaseException as exc:  # whatever happens, never fail (or block) Claude Code
        _problem(f"unexpected {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    # skip interpreter teardown: faster, and a closed stdout cannot turn into exit code 120
    os._exit(main())
