"""Shared pieces of the benchmarks: launches, a stdio MCP peer, /proc readings, statistics.

Everything runs against the scripted fake agent (tests/fake_agent.py) unless a figure says otherwise,
inside one temporary work directory per run (``Lab``), so nothing is written to the real home.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import selectors
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_AGENT = ROOT / "tests" / "fake_agent.py"
#: The dev environment's entry point (the bench runs under ``uv run python``): a server with no uv.
ENTRY = Path(sys.executable).with_name("codex-fusion")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024

#: Variables of the bench's own environment that would change what is measured.
_DROPPED = (
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "CLAUDE_PID",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_PLUGIN_DATA",
    "CLAUDE_PROJECT_DIR",
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "UV_COMPILE_BYTECODE",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
    "PYTHONPROFILEIMPORTTIME",
)


# -- statistics ------------------------------------------------------------------------------------


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """n, median, p95 (nearest rank), min, max, mean of ``samples`` (seconds in, seconds out)."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    rank = max(0, math.ceil(0.95 * len(ordered)) - 1)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p95": ordered[rank],
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def ms(seconds: float | None, digits: int = 1) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.{digits}f} ms"


def sec(seconds: float | None, digits: int = 2) -> str:
    return "—" if seconds is None else f"{seconds:.{digits}f} s"


def med(stats: dict[str, Any], unit: str = "ms", p95: bool = False, digits: int = 1) -> str:
    """``median X ms (p95 Y ms, n=N)`` for a :func:`summary`."""
    if not stats.get("n"):
        return "—"
    fmt = ms if unit == "ms" else sec
    text = fmt(stats["median"], digits)
    extra = [f"p95 {fmt(stats['p95'], digits)}"] if p95 else []
    extra.append(f"n={stats['n']}")
    return f"{text} ({', '.join(extra)})"


def mib(kib: float | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


# -- /proc -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    cpu: float  # utime + stime, seconds, all threads
    comm: str


def proc_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    return ProcStat(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        cpu=(int(fields[11]) + int(fields[12])) / CLK_TCK,
        comm=comm,
    )


def cpu_seconds(pid: int) -> float:
    stat = proc_stat(pid)
    if stat is None:
        raise ProcessLookupError(pid)
    return stat.cpu


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (its main thread has not exited)."""
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z"


def exited(pid: int) -> bool:
    """The process is gone or a zombie whose every thread has exited (what ``waitpid`` waits for:
    a zombie main thread may still have threads tearing down)."""
    stat = proc_stat(pid)
    if stat is None:
        return True
    if stat.state != "Z":
        return False
    try:
        return len(os.listdir(f"/proc/{pid}/task")) <= 1
    except OSError:
        return True


def all_procs() -> Iterator[ProcStat]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None:
                yield stat


def children(pid: int) -> list[int]:
    return [p.pid for p in all_procs() if p.ppid == pid and p.state != "Z"]


def descendants(pid: int) -> list[int]:
    by_parent: dict[int, list[int]] = {}
    for p in all_procs():
        if p.state != "Z":
            by_parent.setdefault(p.ppid, []).append(p.pid)
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` or of session ``pgid``."""
    return [p.pid for p in all_procs() if (p.pgrp == pgid or p.session == pgid) and p.state != "Z"]


def memory(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak) and Pss of ``pid``, in KiB (empty when the process is gone)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower()] = float(value.split()[0])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = float(line.split()[1])
    except OSError:
        return {}
    return out


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``clear_refs`` 5, Linux ≥ 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def wait_until(predicate: Any, timeout: float, interval: float = 0.002) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# -- the stdio MCP peer ----------------------------------------------------------------------------


class PeerError(RuntimeError):
    pass


class Peer:
    """A minimal MCP client over a real server process (``argv``), newline-delimited JSON-RPC.

    Messages that are not the answer being waited for are kept in :attr:`stray` (notifications,
    answers to requests sent with :meth:`send_request`)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], stderr: Path, cwd: Path | None = None):
        self.argv = list(argv)
        self.stderr_path = stderr
        self._stderr = stderr.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=cwd,
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        self._id = 0
        self.stray: list[dict[str, Any]] = []
        self.agent_groups: set[int] = set()

    # -- wire

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", **obj}).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.perf_counter() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.perf_counter()
            if left <= 0 or not self._sel.select(left):
                raise PeerError(f"no message from the server within {timeout:g} s; {self.stderr_tail()}")
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                raise PeerError(f"the server closed stdout; {self.stderr_tail()}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    def send_request(self, method: str, params: dict[str, Any]) -> int:
        self._id += 1
        self.send({"id": self._id, "method": method, "params": params})
        return self._id

    def wait_answer(
        self, req_id: int, timeout: float = 60, notes: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        deadline = time.perf_counter() + timeout
        while True:
            found = next((m for m in self.stray if m.get("id") == req_id and "method" not in m), None)
            if found is not None:
                self.stray.remove(found)
                msg = found
            else:
                msg = self.read(max(0.001, deadline - time.perf_counter()))
            if msg.get("id") == req_id and "method" not in msg:
                if "error" in msg:
                    raise PeerError(f"error answer to request {req_id}: {msg['error']}")
                return msg
            (notes if notes is not None and "method" in msg else self.stray).append(msg)

    def request(
        self,
        method: str,
        params: dict[str, Any],
        timeout: float = 60,
        notes: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return self.wait_answer(self.send_request(method, params), timeout, notes)

    # -- MCP

    def initialize(self) -> dict[str, Any]:
        reply = self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "codex-fusion-bench", "version": "0"},
            },
        )
        self.send({"method": "notifications/initialized"})
        return reply

    def list_tools(self) -> list[str]:
        reply = self.request("tools/list", {})
        return [tool["name"] for tool in reply["result"]["tools"]]

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        token: str | None = None,
        notes: list[dict[str, Any]] | None = None,
        timeout: float = 60,
    ) -> str:
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        if token is not None:
            params["_meta"] = {"progressToken": token}
        reply = self.request("tools/call", params, timeout, notes)
        result = reply["result"]
        text = "\n".join(block.get("text", "") for block in result.get("content", []))
        if result.get("isError"):
            raise PeerError(f"{name} failed: {text[:500]}")
        return text

    def consult(self, question: str, **kwargs: Any) -> str:
        return self.call_tool("consult", {"question": question}, **kwargs)

    def status(self) -> str:
        text = self.call_tool("status", {})
        pid = agent_pid(text)
        if pid is not None:
            self.agent_groups.add(pid)
        return text

    # -- the process

    @property
    def pid(self) -> int:
        return self.proc.pid

    def server_pid(self, timeout: float = 5.0) -> int:
        """The Python server's pid: ours, or the child of ``uv run`` when launched through uv."""
        if "uv" not in Path(self.argv[0]).name:
            return self.proc.pid
        wait_until(lambda: bool(children(self.proc.pid)), timeout, 0.01)
        found = children(self.proc.pid)
        if not found:
            raise PeerError("uv started no server process")
        return found[0]

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def stderr_tail(self, chars: int = 1500) -> str:
        self._stderr.flush()
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "stderr unreadable"
        state = "running" if self.proc.poll() is None else f"exit {self.proc.returncode}"
        return f"server {state}; stderr: {text[-chars:]}"

    def close(self) -> None:
        """Kill whatever is left of this server and of the agent groups it was seen running."""
        self.close_stdin()
        if self.proc.poll() is None:
            # SIGTERM first (uv forwards it; the server exits at once and stops its agents), so the
            # whole tree is reaped and its CPU counted as ours; SIGKILL only what does not go.
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    for child in descendants(self.proc.pid):
                        os.kill(child, signal.SIGKILL)
                    self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for pgid in self.agent_groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        self._sel.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def agent_pid(status_text: str) -> int | None:
    match = re.search(r"^agent: alive, .*pid (\d+)", status_text, flags=re.M)
    return int(match.group(1)) if match else None


def status_state(status_text: str) -> str:
    match = re.search(r"· state: (\w+)", status_text)
    return match.group(1) if match else "?"


def status_session(status_text: str) -> str | None:
    match = re.search(r"^session: (\S+)", status_text, flags=re.M)
    return None if match is None or match.group(1) == "none" else match.group(1)


# -- the lab: one work directory, launches and environments ---------------------------------------


def base_environ() -> dict[str, str]:
    """The bench's environment without what would change a measurement, and without the dev venv
    on PATH (``uv run`` puts it first; Claude Code's PATH would not have it)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    if sys.prefix != sys.base_prefix:
        venv_bin = os.path.join(sys.prefix, "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


@dataclass
class Lab:
    """The run's work directory, its iteration counts and everything it started."""

    work: Path
    quick: bool
    peers: list[Peer] = field(default_factory=list)
    _counter: int = 0
    plugin_root: Path | None = None  # a copy of the plugin as installed (see startup.plugin_copy)
    plugin_venv: Path | None = None  # the venv its own launch built, with bytecode
    results: Path | None = None  # where side files (the profile) go

    def n(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full

    def fresh_dir(self, name: str) -> Path:
        self._counter += 1
        path = self.work / f"{self._counter:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def env(self, base: Path, flags: str = "", *, warm: bool = False, **extra: str) -> dict[str, str]:
        """An environment for a server with the fake agent; data and workspace under ``base``."""
        env = base_environ()
        workspace = base / "workspace"
        workspace.mkdir(exist_ok=True)
        env.update(
            CLAUDE_PLUGIN_DATA=str(base / "plugin-data"),
            CODEX_FUSION_WARM="1" if warm else "0",
            CODEX_FUSION_ACP_COMMAND=shlex.join([sys.executable, str(FAKE_AGENT)]),
            CODEX_FUSION_WORKSPACE=str(workspace),
            CODEX_FUSION_LOG_LEVEL="WARNING",
            CODEX_FUSION_AGENT_ENV="FAKE_ACP*",
            FAKE_ACP=flags,
        )
        env.update(extra)
        return env

    def start(self, argv: Sequence[str], env: dict[str, str], base: Path) -> Peer:
        peer = Peer(argv, env, base / f"server-{len(self.peers)}.stderr", cwd=base)
        self.peers.append(peer)
        return peer

    def direct(self, base: Path, flags: str = "", *, warm: bool = False, **extra: str) -> Peer:
        """A server started as the dev venv's entry point (no uv), with the fake agent."""
        return self.start([str(ENTRY), "serve"], self.env(base, flags, warm=warm, **extra), base)

    def launch(self, root: Path, venv: Path, base: Path, flags: str = "", **extra: str) -> Peer:
        """A server started as the plugin starts it (.mcp.json): ``uv run … codex-fusion serve``."""
        env = self.env(base, flags, **extra)
        env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_COMPILE_BYTECODE="1")
        return self.start(plugin_argv(root), env, base)

    def release(self, peer: Peer) -> None:
        peer.close()
        with contextlib.suppress(ValueError):
            self.peers.remove(peer)

    def close(self) -> None:
        for peer in list(self.peers):
            self.release(peer)


def uv_path() -> str | None:
    return shutil.which("uv")


def plugin_argv(root: Path, *command: str) -> list[str]:
    """The launch of .mcp.json for the plugin at ``root``, running ``command`` (default: the server)."""
    uv = uv_path()
    if uv is None:
        raise RuntimeError("uv is not on PATH")
    return [
        uv,
        "run",
        "--frozen",
        "--quiet",
        "--no-dev",
        "--project",
        str(root),
        *(command or ("codex-fusion", "serve")),
    ]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def count_pyc(venv: Path) -> int:
    return sum(1 for _ in venv.rglob("*.pyc"))


def run_timed(argv: Sequence[str], env: dict[str, str] | None = None, **kwargs: Any) -> float:
    """Wall time of one command, start to exit; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False, **kwargs)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(map(str, argv))} exited {done.returncode}: {done.stderr[-800:]!r}")
    return elapsed


def clean_env(**extra: str) -> dict[str, str]:
    env = base_environ()
    env.update(extra)
    return env


def bare_agent_round_trips(n: int, flags: str = "", question: str = "@fake say ok") -> list[float]:
    """The agent's own answer time: ``session/prompt`` → its answer, straight NDJSON to the fake agent
    (no codex_fusion code at all), after ``initialize`` and ``session/new``."""
    env = clean_env(FAKE_ACP=flags)
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_AGENT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def ask(req_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        stdin.write(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}).encode())
        stdin.write(b"\n")
        stdin.flush()
        while True:
            msg = json.loads(stdout.readline())
            if msg.get("id") == req_id and "method" not in msg:
                return msg  # type: ignore[no-any-return]

    try:
        ask(0, "initialize", {"protocolVersion": 1, "clientCapabilities": {}})
        sid = ask(1, "session/new", {"cwd": str(ROOT), "mcpServers": []})["result"]["sessionId"]
        prompt = {"sessionId": sid, "prompt": [{"type": "text", "text": question}]}
        samples = []
        for i in range(n + 5):
            started = time.perf_counter()
            ask(2 + i, "session/prompt", prompt)
            if i >= 5:  # the first few warm the agent up
                samples.append(time.perf_counter() - started)
        return samples
    finally:
        stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stdout.close()


def strip_none(obj: Any) -> Any:
    """JSON-friendly: dataclass-free dicts/lists, floats rounded to µs precision."""
    if isinstance(obj, float):
        return round(obj, 7)
    if isinstance(obj, dict):
        return {str(k): strip_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strip_none(v) for v in obj]
    return obj
