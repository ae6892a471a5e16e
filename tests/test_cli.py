"""The installed `codex-fusion` entry point: stdio MCP server, `ask`, `--version`."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codex_fusion import __version__

from .conftest import FakeAgentSetup, alive, group_alive, wait_until

ENTRY = Path(sys.executable).with_name("codex-fusion")


class StdioPeer:
    """A minimal MCP client over a real `codex-fusion serve` process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(ENTRY), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        self._id = 0

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", **obj}).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sel.select(left):
                raise TimeoutError(f"no message from the server; stderr: {self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError(f"server closed stdout; stderr: {self.stderr()}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(
        self, method: str, params: dict[str, Any], on_notification: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        self._id += 1
        self.send({"id": self._id, "method": method, "params": params})
        while True:
            msg = self.read()
            if msg.get("id") == self._id and "method" not in msg:
                return msg
            if on_notification is not None:
                on_notification.append(msg)

    def initialize(self) -> dict[str, Any]:
        reply = self.call(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        )
        self.send({"method": "notifications/initialized"})
        return reply

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def peer_factory():
    peers: list[StdioPeer] = []

    def make(env: dict[str, str]) -> StdioPeer:
        peer = StdioPeer(env)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


def test_version() -> None:
    out = subprocess.run([str(ENTRY), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"codex-fusion {__version__}"


def test_stdio_server_lists_tools_and_consults(fake: FakeAgentSetup, peer_factory) -> None:
    peer = peer_factory(fake.env())
    init = peer.initialize()
    assert init["result"]["serverInfo"]["name"] == "codex-fusion"
    tools = peer.call("tools/list", {})
    assert {t["name"] for t in tools["result"]["tools"]} >= {"consult", "status"}
    notes: list[dict[str, Any]] = []
    reply = peer.call(
        "tools/call",
        {
            "name": "consult",
            "arguments": {"question": "@fake say over stdio\n@fake sleep 0.5"},
            "_meta": {"progressToken": "p1"},
        },
        on_notification=notes,
    )
    assert reply["result"]["isError"] is False
    assert reply["result"]["content"][0]["text"].startswith("over stdio")
    assert any(n.get("method") == "notifications/progress" for n in notes)
    # stdin EOF: the server exits by itself and takes the agent with it
    pgid = int(
        next(line for line in _status(peer).splitlines() if line.startswith("agent: alive")).split("pid ")[1]
    )
    assert peer.proc.stdin is not None
    peer.proc.stdin.close()
    assert peer.proc.wait(timeout=15) == 0
    assert wait_until(lambda: not group_alive(pgid), timeout=5)


def _status(peer: StdioPeer) -> str:
    reply = peer.call("tools/call", {"name": "status", "arguments": {}})
    return reply["result"]["content"][0]["text"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_turn_leaves_no_process(
    fake: FakeAgentSetup, peer_factory, sig: signal.Signals
) -> None:
    peer = peer_factory(fake.env("grandchild,ignore_eof,ignore_term"))
    peer.initialize()
    peer.call("tools/call", {"name": "consult", "arguments": {"question": "warm up"}})
    pgid = int(
        next(line for line in _status(peer).splitlines() if line.startswith("agent: alive")).split("pid ")[1]
    )
    peer.send(
        {
            "id": 99,
            "method": "tools/call",
            "params": {"name": "consult", "arguments": {"question": "@fake sleep 60"}},
        }
    )
    time.sleep(0.3)
    sent = time.monotonic()
    peer.proc.send_signal(sig)
    # Claude Code sends SIGKILL ~500 ms after SIGINT; the agent's group must be gone well before.
    assert wait_until(lambda: not group_alive(pgid), timeout=5)
    cleanup = time.monotonic() - sent
    peer.proc.wait(timeout=10)
    assert cleanup < 5


def test_ask_streams_the_answer_to_stdout(fake: FakeAgentSetup) -> None:
    out = subprocess.run(
        [str(ENTRY), "ask", "@fake say streamed answer\n@fake chunks 4\n@fake think pondering"],
        capture_output=True,
        text=True,
        env=fake.env(),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "streamed answer\n"
    assert "💭 pondering" in out.stderr
    assert "— codex · " in out.stderr


def test_ask_not_logged_in_exits_nonzero_with_the_message(fake: FakeAgentSetup) -> None:
    out = subprocess.run(
        [str(ENTRY), "ask", "hi"],
        capture_output=True,
        text=True,
        env=fake.env("auth=ts"),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 1
    assert (
        "Codex is not logged in: run `npx -y @openai/codex login` in a terminal, or set OPENAI_API_KEY"
        in out.stderr
    )
    assert "Traceback" not in out.stderr


def test_ask_with_missing_agent_exits_nonzero(fake: FakeAgentSetup) -> None:
    env = fake.env(CODEX_FUSION_ACP_COMMAND="/nonexistent/agent")
    out = subprocess.run(
        [str(ENTRY), "ask", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 1
    assert "command not found: /nonexistent/agent" in out.stderr
    assert "Traceback" not in out.stderr


def test_ask_without_a_terminal_denies_and_continues(fake: FakeAgentSetup) -> None:
    out = subprocess.run(
        [str(ENTRY), "ask", "@fake permit execute rust_observed touch never.txt"],
        capture_output=True,
        text=True,
        env=fake.env(),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert "Codex wants to: run `touch never.txt`" in out.stderr
    assert "denied: stdin is not a terminal" in out.stderr
    assert "acknowledged: Nobody is at the terminal to approve this" in out.stdout
    assert not (fake.workspace / "never.txt").exists()


def test_ask_on_a_terminal_asks_the_person(fake: FakeAgentSetup) -> None:
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [str(ENTRY), "ask", "@fake permit execute rust touch yes.txt\n@fake say thanks"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=fake.env(),
            text=True,
        )
        assert proc.stderr is not None
        seen = ""
        while "allow? [y/N]" not in seen:
            char = proc.stderr.read(1)
            assert char, f"ask exited before prompting: {seen}"
            seen += char
        os.write(master, b"y\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert "Codex wants to: run `touch yes.txt`" in seen
    assert out == "[ran touch yes.txt] thanks\n"
    assert (fake.workspace / "yes.txt").exists()


def test_secrets_never_reach_stderr_status_errors_or_the_log(
    fake: FakeAgentSetup, peer_factory, tmp_path: Path
) -> None:
    key, password = "sk-proj-SECRETSECRET0123456789", "correct horse battery"
    log = tmp_path / "turns.jsonl"
    env = fake.env(
        CODEX_FUSION_LOG=str(log), CODEX_FUSION_LOG_LEVEL="DEBUG", OPENAI_API_KEY=key, DB_PASSWORD=password
    )
    peer = peer_factory(env)
    peer.initialize()
    request = {
        "toolCallId": "c1",
        "kind": "execute",
        "rawInput": {"command": f"curl -H 'Bearer {key}' -u app:{password}"},
    }
    texts = []
    for question in (
        f"@fake stderr agent says {key} / {password}\n@fake ask ts {json.dumps(request)}",
        None,  # permit deny
        f"@fake stderr dying with {password}\n@fake exit 3",
    ):
        if question is None:
            reply = peer.call("tools/call", {"name": "permit", "arguments": {"decision": "deny"}})
        else:
            reply = peer.call("tools/call", {"name": "consult", "arguments": {"question": question}})
        texts.append(reply["result"]["content"][0]["text"])
    texts.append(_status(peer))
    assert "exited with code 3" in texts[2]
    # The pause shows the command byte for byte (what Claude approves is what runs), and says what in
    # it is a secret; every other sink loses the secrets.
    assert f"```\ncurl -H 'Bearer {key}' -u app:{password}\n```" in texts[0]
    assert (
        "⚠ This command contains what looks like the value of $OPENAI_API_KEY, the value of $DB_PASSWORD"
        in texts[0]
    )
    pause_rest = texts[0].replace(f"curl -H 'Bearer {key}' -u app:{password}", "")
    assert peer.proc.stdin is not None
    peer.proc.stdin.close()
    peer.proc.wait(timeout=15)
    stderr = peer.stderr()
    assert "guardian: asking Claude about run `curl" in stderr  # the line is there, the secret is not
    for sink in (pause_rest, *texts[1:], stderr, log.read_text()):
        assert key not in sink
        assert password not in sink


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_nothing_survives_the_server_however_it_ends(
    fake: FakeAgentSetup, peer_factory, sig: signal.Signals
) -> None:
    """SIGKILL leaves the server no chance to clean up (the reaper's parent-death signal does it);
    SIGHUP (a closed terminal) is handled like SIGTERM. The agent ignores EOF and SIGTERM, and has a
    grandchild in its group and one that left it."""
    peer = peer_factory(fake.env("grandchild,setsid_child,ignore_eof,ignore_term"))
    peer.initialize()
    peer.call("tools/call", {"name": "consult", "arguments": {"question": "warm up"}})
    pgid = int(
        next(line for line in _status(peer).splitlines() if line.startswith("agent: alive")).split("pid ")[1]
    )
    agent, escaped = fake.pids()
    assert alive(agent)
    assert alive(escaped)
    assert group_alive(pgid)
    peer.proc.send_signal(sig)
    peer.proc.wait(timeout=10)
    assert wait_until(lambda: not group_alive(pgid) and not alive(agent) and not alive(escaped), timeout=5)


@pytest.mark.parametrize(
    ("interrupts", "gap"),
    # A second Ctrl-C back to back, or while the first one's clean-up is unwinding (10–100 ms
    # later): it used to reach Python's default handler once the signal receiver had been
    # cancelled with the consult, and end the process by SIGINT with a traceback.
    [(1, 0.0), (2, 0.0), (2, 0.01), (2, 0.03), (2, 0.1)],
)
def test_ctrl_c_at_the_terminal_prompt_exits_at_once_and_cleanly(
    fake: FakeAgentSetup, interrupts: int, gap: float
) -> None:
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [str(ENTRY), "ask", "@fake permit execute rust touch never.txt"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=fake.env(),
            text=True,
        )
        assert proc.stderr is not None
        seen = ""
        while "allow? [y/N]" not in seen:
            char = proc.stderr.read(1)
            assert char, f"ask exited before prompting: {seen}"
            seen += char
        for i in range(interrupts):
            if i:
                time.sleep(gap)
            proc.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
        _, err = proc.communicate(timeout=10)  # no Enter is ever typed
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 130
    assert "Traceback" not in err
    if interrupts == 1:
        assert "codex-fusion: interrupted" in err
    assert not (fake.workspace / "never.txt").exists()


def test_the_reaper_survives_signals_arriving_together(tmp_path: Path) -> None:
    """When the server stops, its SIGTERM to the agent's group and the kernel's parent-death signal
    reach the reaper almost at once; only the first may count, or the reaper dies mid-clean-up and
    leaves the agent behind. Here two signals are sent back to back to an agent that ignores SIGTERM."""
    from codex_fusion.acp.process import REAPER

    pids = tmp_path / "pids"
    agent = (
        "import os, signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(1000)\n"
    )
    reaper = subprocess.Popen(
        [sys.executable, "-S", "-E", "-s", str(REAPER), "--", sys.executable, "-c", agent],
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    agent_pid, child_pid = map(int, pids.read_text().split())
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT):
        os.kill(reaper.pid, sig)
    _, err = reaper.communicate(timeout=10)
    assert b"Traceback" not in err, err.decode()
    assert reaper.returncode in (128 + signal.SIGTERM, 128 + signal.SIGINT)  # pending: lowest number first
    assert wait_until(lambda: not alive(agent_pid) and not alive(child_pid))


def test_a_lone_surrogate_escape_over_stdio_is_answered(fake: FakeAgentSetup, peer_factory) -> None:
    """Claude Code's JSON.stringify writes a cut emoji as "\\ud800"; the SDK's parser refuses it and
    used to drop the message, so the call was never answered while `status` said ready."""
    peer = peer_factory(fake.env())
    peer.initialize()
    # json.dumps writes the lone surrogate as the escape "\ud800", as JavaScript does
    consult = peer.call(
        "tools/call", {"name": "consult", "arguments": {"question": "hi \ud800\n@fake say answered"}}
    )
    bad = peer.call("tools/call", {"name": "permit", "arguments": {"decision": "\ud800"}})
    after = peer.call("tools/call", {"name": "consult", "arguments": {"question": "@fake say next"}})
    assert consult["result"]["isError"] is False
    assert consult["result"]["content"][0]["text"].startswith("answered")
    assert bad["result"]["isError"] is True
    assert after["result"]["content"][0]["text"].startswith("next")
    (first, _) = fake.received("session/prompt")
    assert "hi \ufffd" in first["params"]["prompt"][0]["text"]
