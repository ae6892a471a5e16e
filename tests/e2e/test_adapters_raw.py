"""Raw ACP smoke tests against the real codex-acp adapters (TS 2.6.0 and Rust 0.16.0), offline.

No dependency on our package: a tiny NDJSON JSON-RPC driver lives in this file. Each test starts one
adapter process (own process group), points it at a scripted mock Responses API and checks the wire.

Set ``E2E_WIRE_LOG=<dir>`` to dump every test's full message log (and notable payloads) as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_adapters import Adapter, write_codex_config
from mock_openai import MockResponses, apply_patch, error, exec_cmd, read_file, reason, say, slow

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT = 30.0
TURN_TIMEOUT = 45.0
# TS codex-acp retries an unreachable model forever; how long we watch it before cancelling.
UNREACHABLE_WINDOW = float(os.environ.get("E2E_UNREACHABLE_WINDOW", "12"))

NO_REPLY = object()


# --------------------------------------------------------------------------------------------------
# A tiny NDJSON JSON-RPC peer (test-only)


@dataclass
class Msg:
    t: float  # seconds since the process started
    direction: str  # "in" (agent -> us) | "out"
    payload: dict[str, Any]

    @property
    def method(self) -> str | None:
        return self.payload.get("method")

    @property
    def update(self) -> dict[str, Any] | None:
        if self.method == "session/update":
            return self.payload.get("params", {}).get("update")
        return None

    @property
    def is_request(self) -> bool:
        return "method" in self.payload and "id" in self.payload


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


class Agent:
    """Spawns an ACP agent and speaks NDJSON JSON-RPC 2.0 with it over stdio.

    Incoming requests go to ``on_request(msg) -> result | NO_REPLY`` (called on the reader thread);
    everything is logged in ``log``; stderr is drained into ``stderr_tail``.
    """

    def __init__(self, adapter: Adapter, env: dict[str, str], cwd: Path) -> None:
        self.adapter = adapter
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            adapter.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.log: list[Msg] = []
        self.stderr_tail: deque[str] = deque(maxlen=200)
        self.bad_lines: list[bytes] = []
        self.on_request: Callable[[Msg], Any] = lambda msg: NO_REPLY
        self._ids = iter(range(1_000_000))
        self._pending: dict[Any, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True, name="acp-stdout"),
            threading.Thread(target=self._read_stderr, daemon=True, name="acp-stderr"),
        ]
        for th in self._threads:
            th.start()

    # -- io

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _append(self, msg: Msg) -> None:
        with self._changed:
            self.log.append(msg)
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail.append(line.decode(errors="replace").rstrip())

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except ValueError:
                self.bad_lines.append(line)
                continue
            msg = Msg(self._now(), "in", payload)
            self._append(msg)
            if msg.is_request:
                try:
                    result = self.on_request(msg)
                except Exception as exc:  # a broken test handler must not kill the reader
                    self.respond_error(payload["id"], -32603, f"test handler failed: {exc!r}")
                    continue
                if result is not NO_REPLY:
                    self.respond(payload["id"], result)
            elif "method" not in payload:
                with self._lock:
                    box = self._pending.pop(payload.get("id"), None)
                if box is not None:
                    box.put(payload)
        with self._changed:  # EOF: wake up waiters
            self._changed.notify_all()

    def send(self, payload: dict[str, Any]) -> None:
        data = (json.dumps(payload) + "\n").encode()
        self._append(Msg(self._now(), "out", payload))
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    # -- json-rpc

    def start_request(self, method: str, params: dict[str, Any]) -> Callable[[float], dict[str, Any]]:
        """Send a request; returns ``wait(timeout) -> response message`` (raises TimeoutError)."""
        req_id = next(self._ids)
        box: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
        with self._lock:
            self._pending[req_id] = box
        self.send({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})

        def wait(timeout: float) -> dict[str, Any]:
            try:
                return box.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(
                    f"no answer to {method} (id {req_id}) within {timeout}s; stderr tail:\n"
                    + "\n".join(list(self.stderr_tail)[-20:])
                ) from None

        return wait

    def call(self, method: str, params: dict[str, Any], timeout: float = STARTUP_TIMEOUT) -> dict[str, Any]:
        """Request and return the raw response message (``result`` or ``error``)."""
        return self.start_request(method, params)(timeout)

    def result(self, method: str, params: dict[str, Any], timeout: float = STARTUP_TIMEOUT) -> dict[str, Any]:
        answer = self.call(method, params, timeout)
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def respond(self, req_id: Any, result: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": req_id, "result": result})

    def respond_error(self, req_id: Any, code: int, message: str) -> None:
        self.send({"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}})

    # -- queries

    def wait_for(self, pred: Callable[[Msg], bool], timeout: float, since: int = 0) -> Msg:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for msg in self.log[since:]:
                    if pred(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"condition not met within {timeout}s")
                self._changed.wait(min(left, 0.2))

    def incoming(self, since: int = 0) -> list[Msg]:
        return [m for m in self.log[since:] if m.direction == "in"]

    def updates(self, since: int = 0) -> list[dict[str, Any]]:
        return [m.update for m in self.log[since:] if m.update is not None]

    def kinds(self, since: int = 0, skip: tuple[str, ...] = ("available_commands_update",)) -> list[str]:
        """Incoming message kinds in order: update variants, agent request methods, responses."""
        out = []
        for m in self.incoming(since):
            if m.update is not None:
                kind = m.update.get("sessionUpdate", "?")
                if kind not in skip:
                    out.append(kind)
            elif m.method:
                out.append(m.method)
            else:
                out.append("<response>")
        return out

    def text(self, since: int = 0, variant: str = "agent_message_chunk") -> str:
        return "".join(
            u.get("content", {}).get("text", "")
            for u in self.updates(since)
            if u.get("sessionUpdate") == variant
        )

    # -- lifecycle

    def close(self, grace: float | None = None) -> int | None:
        """Close stdin, give the agent ``grace`` s to exit, then SIGTERM / SIGKILL the process group."""
        if grace is None:
            grace = 0.5 if self.adapter.exits_on_eof else 0.0
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(grace)
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            try:
                os.killpg(self.proc.pid, sig)  # also reaps the group (TS: codex app-server)
            except (ProcessLookupError, PermissionError):
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)
                # the leader is gone; children may still linger in the group: loop once more
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(3.0)
        for th in self._threads:
            th.join(timeout=2.0)
        return self.proc.returncode


# --------------------------------------------------------------------------------------------------
# Helpers


def initialize(agent: Agent) -> dict[str, Any]:
    result = agent.result(
        "initialize",
        {
            "protocolVersion": 1,
            "clientCapabilities": {"fs": {"readTextFile": True, "writeTextFile": False}, "terminal": False},
            "clientInfo": {"name": "codex-fusion-e2e", "version": "0"},
        },
    )
    assert result["protocolVersion"] == 1
    return result


def new_session(agent: Agent, cwd: Path) -> dict[str, Any]:
    return agent.result("session/new", {"cwd": str(cwd), "mcpServers": []})


def text_prompt(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def option_ids(request: Msg) -> list[str]:
    return [o["optionId"] for o in request.payload["params"]["options"]]


def option_kinds(request: Msg) -> dict[str, str]:
    return {o["optionId"]: o["kind"] for o in request.payload["params"]["options"]}


def select(option_id: str) -> dict[str, Any]:
    return {"outcome": {"outcome": "selected", "optionId": option_id}}


CANCELLED = {"outcome": {"outcome": "cancelled"}}


def index_of(agent: Agent, pred: Callable[[Msg], bool], since: int = 0) -> int:
    for i, m in enumerate(agent.log[since:], start=since):
        if pred(m):
            return i
    return -1


def is_permission(m: Msg) -> bool:
    return m.direction == "in" and m.method == "session/request_permission"


def is_tool_call(m: Msg) -> bool:
    return m.update is not None and m.update.get("sessionUpdate") == "tool_call"


def dump(name: str, agent: Agent | None = None, **extra: Any) -> None:
    """With E2E_WIRE_LOG=<dir>: write the full wire log + extras of one test as JSON."""
    target = os.environ.get("E2E_WIRE_LOG")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = dict(extra)
    if agent is not None:
        data["log"] = [
            {"t": round(m.t, 3), "dir": m.direction, "msg": m.payload}
            for m in agent.log
            if not (m.update and m.update.get("sessionUpdate") == "available_commands_update")
        ]
        data["stderr"] = list(agent.stderr_tail)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    (Path(target) / f"{safe}.json").write_text(json.dumps(data, indent=1, default=str))


@pytest.fixture
def launch(
    request: pytest.FixtureRequest, adapter_env: Callable[..., dict[str, str]], tmp_path: Path
) -> Iterator[Callable[..., Agent]]:
    """``launch(adapter, codex_home, cwd, extra_env=None) -> Agent``; every agent is closed at teardown
    (and its log dumped with E2E_WIRE_LOG)."""
    agents: list[Agent] = []

    def start(
        adapter: Adapter, codex_home: Path, cwd: Path, extra_env: dict[str, str] | None = None
    ) -> Agent:
        agent = Agent(adapter, adapter_env(adapter, codex_home, extra=extra_env), cwd)
        agents.append(agent)
        return agent

    yield start
    for i, agent in enumerate(agents):
        agent.close()
        dump(f"{request.node.name}-{i}", agent)


@pytest.fixture
def session(
    adapter: Adapter, codex_home: Path, workspace: Path, launch: Callable[..., Agent]
) -> tuple[Agent, str, dict[str, Any]]:
    """An initialized agent with one session in ``workspace`` (mode: the adapter's ``ask_mode``)."""
    agent = launch(adapter, codex_home, workspace)
    initialize(agent)
    created = new_session(agent, workspace)
    assert created["modes"]["currentModeId"] == adapter.ask_mode
    return agent, created["sessionId"], created


def prompt(agent: Agent, session_id: str, text: str, timeout: float = TURN_TIMEOUT) -> dict[str, Any]:
    return agent.call("session/prompt", {"sessionId": session_id, "prompt": text_prompt(text)}, timeout)


# --------------------------------------------------------------------------------------------------
# a) plain answer (+ reasoning -> agent_thought_chunk, usage)


def test_plain_answer(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter
):
    agent, sid, _ = session
    mock_model.script([reason("Thinking about the greeting", text="Hello from the mock model", chunks=3)])
    mark = len(agent.log)

    answer = prompt(agent, sid, "Say hello")

    assert answer["result"]["stopReason"] == "end_turn", answer
    assert agent.text(mark) == "Hello from the mock model"
    assert "Thinking about the greeting" in agent.text(mark, "agent_thought_chunk")
    assert any(u["sessionUpdate"] == "usage_update" and u["used"] == 150 for u in agent.updates(mark))
    if adapter.name == "ts":  # unstable PromptResponse.usage; Rust sends none
        assert answer["result"]["usage"]["totalTokens"] == 150
    else:
        assert "usage" not in answer["result"]

    turns = mock_model.turn_requests
    assert len(turns) == 1
    assert turns[0].body["model"] == "gpt-5.5"
    assert turns[0].body["stream"] is True
    assert "Say hello" in turns[0].user_texts()
    assert {"exec_command", "apply_patch"} <= set(turns[0].tool_names)
    assert turns[0].tool("apply_patch")["type"] == "custom"
    dump(f"a-{adapter.name}-summary", kinds=agent.kinds(mark), answer=answer)


# --------------------------------------------------------------------------------------------------
# b) escalated exec -> permission -> allow_once -> the command really runs


def test_escalated_exec_allowed(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter, workspace: Path
):
    agent, sid, _ = session
    cmd = "echo approved > made.txt && echo ran-ok"
    mock_model.script([exec_cmd(cmd, justification="Create made.txt for the test"), say("All done")])
    agent.on_request = lambda m: select(adapter.allow_option) if is_permission(m) else NO_REPLY
    mark = len(agent.log)

    answer = prompt(agent, sid, "Create the file")

    assert answer["result"]["stopReason"] == "end_turn", answer
    assert (workspace / "made.txt").read_text() == "approved\n"
    assert agent.text(mark) == "All done"

    perms = [m for m in agent.log[mark:] if is_permission(m)]
    assert len(perms) == 1
    perm = perms[0].payload["params"]
    tool_call = perm["toolCall"]
    assert tool_call["kind"] == "execute"
    assert tool_call["status"] == "pending"
    assert tool_call["title"] == cmd
    assert option_kinds(perms[0])[adapter.allow_option] == "allow_once"
    kinds = option_kinds(perms[0])
    i_perm = index_of(agent, is_permission, mark)
    i_tool = index_of(agent, is_tool_call, mark)
    if adapter.name == "ts":
        assert kinds == {
            "allow_once": "allow_once",
            "accept_execpolicy_amendment": "allow_always",
            "cancel": "reject_once",
        }
        assert tool_call["rawInput"] == {"command": cmd, "cwd": str(workspace)}
        assert 0 <= i_tool < i_perm, "TS: tool_call (in_progress, terminal content) precedes the request"
        assert isinstance(perms[0].payload["id"], int)
    else:
        assert kinds == {
            "approved": "allow_once",
            "approved-execpolicy-amendment": "allow_always",
            "abort": "reject_once",
        }
        raw = tool_call["rawInput"]
        assert raw["command"] == ["/bin/bash", "-lc", cmd]
        assert raw["cwd"] == str(workspace)
        assert raw["reason"] == "Create made.txt for the test"
        assert raw["available_decisions"][0] == "approved"
        assert 0 <= i_perm < i_tool, "Rust: the request precedes any tool_call"
        assert isinstance(perms[0].payload["id"], str)
    assert "locations" not in tool_call

    # the tool result went back to the model
    turns = mock_model.turn_requests
    assert len(turns) == 2
    assert "ran-ok" in turns[1].input_text()
    dump(f"b-{adapter.name}-summary", kinds=agent.kinds(mark), permission=perm, answer=answer)


# --------------------------------------------------------------------------------------------------
# c) deny: the only reject offered ends the turn; so do "cancelled" and an id that was not offered


@pytest.mark.parametrize("how", ["reject_option", "outcome_cancelled", "unoffered_decline_id"])
def test_escalated_exec_denied(
    session: tuple[Agent, str, dict[str, Any]],
    mock_model: MockResponses,
    adapter: Adapter,
    workspace: Path,
    how: str,
):
    agent, sid, _ = session
    mock_model.script([exec_cmd("touch denied.txt"), say("should never be streamed")])

    def answer_permission(m: Msg) -> Any:
        if not is_permission(m):
            return NO_REPLY
        if how == "reject_option":
            return select(adapter.reject_option)
        if how == "outcome_cancelled":
            return CANCELLED
        return select("decline" if adapter.name == "ts" else "denied")  # continue-style ids, not offered

    agent.on_request = answer_permission
    mark = len(agent.log)
    answer = prompt(agent, sid, "Try it")

    assert answer["result"]["stopReason"] == "cancelled", answer
    assert not (workspace / "denied.txt").exists()
    perm = agent.wait_for(is_permission, 1, mark)
    reject_ids = [i for i, k in option_kinds(perm).items() if k.startswith("reject")]
    assert reject_ids == [adapter.reject_option], "only the turn-ending reject is offered"
    assert len(mock_model.turn_requests) == 1, "the turn did not continue to the model"
    tool_updates = [u for u in agent.updates(mark) if u["sessionUpdate"] in ("tool_call", "tool_call_update")]
    if adapter.name == "ts":
        assert tool_updates[-1]["status"] == "failed"
    else:
        assert tool_updates == [], "Rust never announces the denied command as a tool_call"
    assert agent.text(mark) == ""

    # the session stays usable
    mock_model.script([say("still alive")])
    again = prompt(agent, sid, "Next")
    assert again["result"]["stopReason"] == "end_turn"
    dump(f"c-{adapter.name}-{how}-summary", kinds=agent.kinds(mark), answer=answer)


# --------------------------------------------------------------------------------------------------
# d) apply_patch in the write mode: workspace edits don't ask, outside edits do


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A dir outside the workspace AND outside /tmp ($TMPDIR and /tmp are writable roots in Codex's
    workspace-write sandbox, so edits there never ask)."""
    base = Path("/var/tmp")
    if not (base.is_dir() and os.access(base, os.W_OK)):
        pytest.skip("/var/tmp is not writable")
    path = Path(tempfile.mkdtemp(prefix="codex-fusion-e2e-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_apply_patch(
    session: tuple[Agent, str, dict[str, Any]],
    mock_model: MockResponses,
    adapter: Adapter,
    workspace: Path,
    codex_home: Path,
    outside_dir: Path,
):
    agent, sid, _ = session
    permissions: list[Msg] = []

    def allow(m: Msg) -> Any:
        if is_permission(m):
            permissions.append(m)
            return select(adapter.allow_option)
        return NO_REPLY

    agent.on_request = allow
    assert agent.result("session/set_mode", {"sessionId": sid, "modeId": adapter.write_mode}) == {}
    if adapter.name == "rust":
        assert f'[projects."{workspace}"]' in (codex_home / "config.toml").read_text()
        assert 'trust_level = "trusted"' in (codex_home / "config.toml").read_text()

    # 1) inside the workspace: no permission request
    patch = "*** Begin Patch\n*** Add File: notes.txt\n+new note\n*** Update File: README.md\n@@\n-hello\n+hello world\n*** End Patch\n"
    mock_model.script([apply_patch(patch), say("patched")])
    mark = len(agent.log)
    answer = prompt(agent, sid, "Patch it")
    assert answer["result"]["stopReason"] == "end_turn", answer
    assert permissions == []
    assert (workspace / "notes.txt").read_text() == "new note\n"
    assert (workspace / "README.md").read_text() == "# demo\nhello world\n"
    calls = [u for u in agent.updates(mark) if u["sessionUpdate"] == "tool_call"]
    assert len(calls) == 1
    assert calls[0]["kind"] == "edit"
    diffs = {c["path"]: c for c in calls[0]["content"] if c["type"] == "diff"}
    assert set(diffs) == {str(workspace / "notes.txt"), str(workspace / "README.md")}
    assert diffs[str(workspace / "notes.txt")].get("oldText") is None  # new file: null (TS) or absent (Rust)
    assert diffs[str(workspace / "README.md")]["oldText"] == "# demo\nhello\n"
    if adapter.name == "rust":
        assert calls[0]["rawInput"]["auto_approved"] is True
    assert mock_model.turn_requests[1].input_items()[-1]["type"] == "custom_tool_call_output"
    inside_kinds = agent.kinds(mark)

    # 2) outside the workspace (and outside /tmp): asks
    target = outside_dir / "outside.txt"
    mock_model.script(
        [apply_patch(f"*** Begin Patch\n*** Add File: {target}\n+outside\n*** End Patch\n"), say("ok")]
    )
    mark = len(agent.log)
    answer = prompt(agent, sid, "Patch outside")
    assert answer["result"]["stopReason"] == "end_turn", answer
    assert len(permissions) == 1
    tool_call = permissions[0].payload["params"]["toolCall"]
    assert tool_call["kind"] == "edit"
    assert tool_call["locations"] == [{"path": str(target)}]
    assert target.read_text() == "outside\n"
    if adapter.name == "ts":
        assert tool_call["title"] == "Edit files"
        assert "rawInput" not in tool_call
        assert option_ids(permissions[0]) == ["allow_once", "allow_for_session", "cancel"]
    else:
        assert tool_call["title"] == f"Edit {target}"
        assert tool_call["rawInput"]["changes"] == {str(target): {"type": "add", "content": "outside\n"}}
        assert option_ids(permissions[0]) == ["approved", "abort"]
    assert 0 <= index_of(agent, is_tool_call, mark) < index_of(agent, is_permission, mark)
    dump(
        f"d-{adapter.name}-summary",
        inside_kinds=inside_kinds,
        outside_kinds=agent.kinds(mark),
        permission=permissions[0].payload,
    )


# --------------------------------------------------------------------------------------------------
# e) file read: a `cat` exec classified as kind "read", never a permission, never our fs/*


def test_file_read(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter, workspace: Path
):
    agent, sid, _ = session
    mock_model.script([read_file("README.md"), say("read it")])
    mark = len(agent.log)

    answer = prompt(agent, sid, "Read the README")

    assert answer["result"]["stopReason"] == "end_turn", answer
    assert not any(is_permission(m) for m in agent.log[mark:])
    assert not any((m.method or "").startswith(("fs/", "terminal/")) for m in agent.incoming(mark))
    calls = [u for u in agent.updates(mark) if u["sessionUpdate"] == "tool_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call["kind"] == "read"
    assert call["locations"] == [{"path": str(workspace / "README.md")}]
    if adapter.name == "ts":
        assert call["title"] == f"Read file '{workspace / 'README.md'}'"
        assert "rawInput" not in call
    else:
        assert call["title"] == "Read README.md"
        assert call["rawInput"]["parsed_cmd"][0]["type"] == "read"
    assert "# demo\nhello" in mock_model.turn_requests[1].input_text()
    dump(f"e-{adapter.name}-summary", kinds=agent.kinds(mark), tool_call=call)


# --------------------------------------------------------------------------------------------------
# f) cancel: mid slow stream, and while a permission request is pending


def test_cancel_slow_stream(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter
):
    agent, sid, _ = session
    mock_model.script([slow("one two three four five six seven eight nine ten", chunk_delay=0.5)])
    mark = len(agent.log)
    wait = agent.start_request("session/prompt", {"sessionId": sid, "prompt": text_prompt("Go slowly")})
    agent.wait_for(
        lambda m: bool(m.update and m.update.get("sessionUpdate") == "agent_message_chunk"), 20, mark
    )

    started = time.monotonic()
    agent.notify("session/cancel", {"sessionId": sid})
    answer = wait(10)
    elapsed = time.monotonic() - started

    assert answer["result"]["stopReason"] == "cancelled", answer
    assert elapsed < 3.0
    assert mock_model.wait_aborted(5), "the adapter should drop the model stream on cancel"
    assert not any(m.method == "$/cancel_request" for m in agent.incoming(mark)), "nothing was pending"
    partial = agent.text(mark)
    assert partial.startswith("one")
    assert "ten" not in partial

    # next turn: Codex tells the model the previous turn was interrupted
    mock_model.script([say("after cancel")])
    again = prompt(agent, sid, "Again")
    assert again["result"]["stopReason"] == "end_turn"
    assert "<turn_aborted>" in mock_model.last_input_text()
    dump(
        f"f-{adapter.name}-stream-summary", cancel_to_answer_s=elapsed, kinds=agent.kinds(mark), answer=answer
    )


def test_cancel_pending_permission(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter, workspace: Path
):
    agent, sid, _ = session
    mock_model.script([exec_cmd("touch never.txt"), say("never")])
    mark = len(agent.log)
    wait = agent.start_request("session/prompt", {"sessionId": sid, "prompt": text_prompt("Run it")})
    perm = agent.wait_for(is_permission, 20, mark)  # on_request = NO_REPLY: stays pending

    started = time.monotonic()
    agent.notify("session/cancel", {"sessionId": sid})
    answer = wait(10)
    elapsed = time.monotonic() - started
    # the client must still answer the pending permission (late answers are accepted)
    agent.respond(perm.payload["id"], CANCELLED)

    assert answer["result"]["stopReason"] == "cancelled", answer
    assert elapsed < 3.0
    assert not (workspace / "never.txt").exists()
    cancel_requests = [m.payload["params"] for m in agent.incoming(mark) if m.method == "$/cancel_request"]
    if adapter.name == "ts":
        assert cancel_requests == [{"requestId": perm.payload["id"]}]
    else:
        assert cancel_requests == []
    mock_model.script([say("fine")])
    assert prompt(agent, sid, "Next")["result"]["stopReason"] == "end_turn"
    dump(f"f-{adapter.name}-permission-summary", cancel_to_answer_s=elapsed, kinds=agent.kinds(mark))


# --------------------------------------------------------------------------------------------------
# g) second prompt in the same session carries the first turn


def test_second_prompt_has_history(session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses):
    agent, sid, _ = session
    mock_model.script([say("First answer ALPHA-7")])
    assert prompt(agent, sid, "First question")["result"]["stopReason"] == "end_turn"
    mock_model.script([say("Second answer")])
    assert prompt(agent, sid, "Second question")["result"]["stopReason"] == "end_turn"

    second = mock_model.last_request()
    roles = [(i.get("role"), i.get("content", [{}])[0].get("text")) for i in second.input_items()[-3:]]
    assert roles == [
        ("user", "First question"),
        ("assistant", "First answer ALPHA-7"),
        ("user", "Second question"),
    ]


# --------------------------------------------------------------------------------------------------
# h) model unreachable (port closed)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_model_unreachable(adapter: Adapter, tmp_path: Path, workspace: Path, launch: Callable[..., Agent]):
    home = tmp_path / "codex_home_dead"
    write_codex_config(home, f"http://127.0.0.1:{_closed_port()}/v1")
    agent = launch(adapter, home, workspace)
    initialize(agent)
    sid = new_session(agent, workspace)["sessionId"]
    mark = len(agent.log)
    started = time.monotonic()
    wait = agent.start_request("session/prompt", {"sessionId": sid, "prompt": text_prompt("hi")})

    if adapter.name == "rust":
        answer = wait(30)
        elapsed = time.monotonic() - started
        assert elapsed < 10
        err = answer["error"]
        assert err["code"] == -32603
        assert err["message"] == "Internal error"
        assert err["data"]["codex_error_info"] == "other"
        assert err["data"]["message"].startswith(
            "stream disconnected before completion: error sending request"
        )
        dump("h-rust-summary", elapsed_s=elapsed, answer=answer)
        return

    # TS: never answers; retries with "Reconnecting..." session_info_update, ignoring the 0 retry budget
    with pytest.raises(TimeoutError):
        wait(UNREACHABLE_WINDOW)
    retries = [
        (round(m.t, 2), m.update["_meta"]["codex"]["error"])
        for m in agent.incoming(mark)
        if m.update and "error" in (m.update.get("_meta") or {}).get("codex", {})
    ]
    assert retries, "expected Reconnecting... updates"
    first = retries[0][1]
    assert first["message"].startswith("Reconnecting...")
    assert first["willRetry"] is True
    assert "responseStreamDisconnected" in first["codexErrorInfo"]
    cancel_started = time.monotonic()
    agent.notify("session/cancel", {"sessionId": sid})
    answer = wait(10)
    assert answer["result"]["stopReason"] == "cancelled"
    dump(
        "h-ts-summary",
        window_s=UNREACHABLE_WINDOW,
        retry_updates=retries,
        cancel_to_answer_s=time.monotonic() - cancel_started,
        answer=answer,
    )


# --------------------------------------------------------------------------------------------------
# i) not logged in: empty CODEX_HOME, no config.toml, no keys


def test_not_logged_in(adapter: Adapter, tmp_path: Path, workspace: Path, launch: Callable[..., Agent]):
    empty_home = tmp_path / "codex_home_empty"
    empty_home.mkdir()
    agent = launch(adapter, empty_home, workspace)
    init = initialize(agent)
    method_ids = [m["id"] for m in init["authMethods"]]

    created = agent.call("session/new", {"cwd": str(workspace), "mcpServers": []})
    listed = agent.call("session/list", {})

    assert created["error"] == {"code": -32000, "message": "Authentication required"}
    assert listed["error"] == {"code": -32000, "message": "Authentication required"}
    if adapter.name == "ts":
        assert method_ids == ["api-key"]  # chat-gpt hidden by NO_BROWSER
        # an extension notification, sent asynchronously (may follow the error responses)
        status = agent.wait_for(
            lambda m: (
                m.method == "_auth/status_update" and m.payload["params"]["authStatus"].get("kind") == "none"
            ),
            5,
        )
        assert status.payload["params"] == {"authStatus": {"kind": "none", "label": "Not logged in"}}
    else:
        assert method_ids == ["codex-api-key", "openai-api-key"]  # chatgpt dropped by NO_BROWSER
        assert all(m.get("type") == "env_var" for m in init["authMethods"])
    time.sleep(0.3)
    assert not any("panic" in line for line in agent.stderr_tail)
    dump(
        f"i-{adapter.name}-summary",
        initialize=init,
        session_new=created,
        session_list=listed,
        stderr=list(agent.stderr_tail),
    )


# --------------------------------------------------------------------------------------------------
# j) model errors mid-turn: HTTP 500 and SSE response.failed


@pytest.mark.parametrize("kind", ["http_500", "sse_failed"])
def test_model_error(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter, kind: str
):
    agent, sid, _ = session
    mock_model.script([error(500, "boom") if kind == "http_500" else error(message="kaboom", sse=True)])
    mark = len(agent.log)
    answer = prompt(agent, sid, "hi")
    expected = (
        "We're currently experiencing high demand, which may cause temporary errors."
        if kind == "http_500"
        else "stream disconnected before completion: kaboom"
    )
    if adapter.name == "rust":
        err = answer["error"]
        assert err["code"] == -32603
        assert err["data"] == {
            "message": expected,
            "codex_error_info": "internal_server_error" if kind == "http_500" else "other",
        }
    else:  # TS: the error becomes agent text, and the turn "succeeds"
        assert answer["result"]["stopReason"] == "end_turn"
        assert answer["result"]["usage"] is None
        assert agent.text(mark).replace("\u2019", "'").strip() == expected
        statuses = [
            u["_meta"]["codex"]["threadStatus"]["type"]
            for u in agent.updates(mark)
            if "threadStatus" in (u.get("_meta") or {}).get("codex", {})
        ]
        assert "systemError" in statuses
    assert len(mock_model.turn_requests) == 1, "request_max_retries = 0 is honoured"
    dump(f"j-{adapter.name}-{kind}-summary", kinds=agent.kinds(mark), answer=answer)


# --------------------------------------------------------------------------------------------------
# k) characterization: a command that the sandbox makes fail is invisible on the ACP wire


def test_sandbox_failed_command_is_invisible(
    session: tuple[Agent, str, dict[str, Any]], mock_model: MockResponses, adapter: Adapter, workspace: Path
):
    agent, sid, _ = session
    if adapter.name == "ts":
        assert agent.result("session/set_mode", {"sessionId": sid, "modeId": "read-only"}) == {}
    mock_model.script([exec_cmd("echo hi > blocked.txt", escalate=False), say("done")])
    mark = len(agent.log)

    answer = prompt(agent, sid, "Write without asking")

    assert answer["result"]["stopReason"] == "end_turn", answer
    assert not (workspace / "blocked.txt").exists()
    # no permission request, no tool_call / tool_call_update at all: only the model sees the failure
    assert not any(is_permission(m) for m in agent.log[mark:])
    assert not [u for u in agent.updates(mark) if u["sessionUpdate"].startswith("tool_call")]
    assert "Read-only file system" in mock_model.turn_requests[1].input_text()
    dump(f"k-{adapter.name}-summary", kinds=agent.kinds(mark))
