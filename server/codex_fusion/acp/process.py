"""The agent's OS process: spawn in its own process group, drain stderr, stop, kill the whole tree.

The agent runs under ``reaper.py`` (a small stdlib-only parent, leader of the agent's process
group): it cleans up descendants that left the group (``setsid``) and, through ``PR_SET_PDEATHSIG``,
everything when the server dies without a chance to clean up (SIGKILL). ``pid`` is the reaper's;
it exits with the agent's own status.

:class:`AgentHost` is what the layers above need from a running agent; :class:`AgentProcess` is the
real one. Tests substitute an in-memory host (``tests/fake_agent.py``), as httpx tests substitute a
transport.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

from codex_fusion.errors import AgentError

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 64 * 1024

REAPER = Path(__file__).resolve().parent / "reaper.py"
#: How long the reaper may take to clean up after SIGTERM before its group is SIGKILLed.
REAPER_GRACE = 0.5

#: Process groups we started that have not exited: the last-resort cleanup stops them all.
_LIVE_GROUPS: set[int] = set()


def _signal_groups(sig: signal.Signals) -> None:
    for pgid in list(_LIVE_GROUPS):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            _LIVE_GROUPS.discard(pgid)


def stop_all_groups() -> None:
    """SIGTERM every live agent group: each reaper then cleans up its whole tree by itself.

    Synchronous and non-blocking, for signal handlers: the reapers finish even if we are killed."""
    _signal_groups(signal.SIGTERM)


def kill_all_groups() -> None:
    """The last resort on the way out: SIGTERM every live group, give the reapers a moment, SIGKILL."""
    if not _LIVE_GROUPS:
        return
    _signal_groups(signal.SIGTERM)
    deadline = time.monotonic() + REAPER_GRACE
    while _LIVE_GROUPS and time.monotonic() < deadline:
        time.sleep(0.02)
        for pgid in list(_LIVE_GROUPS):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)
            if not _group_exists(pgid):
                _LIVE_GROUPS.discard(pgid)
    _signal_groups(signal.SIGKILL)
    _LIVE_GROUPS.clear()


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class StderrTail:
    """A bounded ring of the agent's most recent stderr bytes."""

    limit: int = STDERR_TAIL_BYTES
    _buf: bytearray = field(default_factory=bytearray)
    total_bytes: int = 0

    def feed(self, chunk: bytes) -> None:
        self.total_bytes += len(chunk)
        self._buf += chunk
        if len(self._buf) > self.limit:
            del self._buf[: len(self._buf) - self.limit]

    def text(self, max_chars: int = 2000) -> str:
        """The last lines of stderr, at most ``max_chars``, as the agent wrote them (``Agent.stderr_tail``
        redacts them: the only reader)."""
        text = self._buf.decode("utf-8", errors="replace")
        if len(text) > max_chars:
            text = text[-max_chars:]
            newline = text.find("\n")
            if 0 <= newline < len(text) - 1:
                text = text[newline + 1 :]
        return text.strip()


class AgentHost(Protocol):
    """A running agent: its byte streams, its stderr tail, and how to stop it."""

    argv: list[str]
    pid: int
    stderr: StderrTail
    exited: anyio.Event

    @property
    def stdin(self) -> ByteSendStream: ...

    @property
    def stdout(self) -> ByteReceiveStream: ...

    def describe_exit(self) -> str: ...

    async def drain_stderr(self) -> None: ...

    async def watch_exit(self) -> None: ...

    async def stop(self, grace: float = 2.0) -> None: ...

    async def terminate(self) -> None: ...

    def kill(self) -> None: ...


_INSTALL = (
    "Install it (`npm install -g @agentclientprotocol/codex-acp`) or set CODEX_FUSION_ACP_COMMAND "
    "to a working command."
)


def _resolve(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The agent's executable as an absolute path, or an AgentError saying what is wrong with it."""
    if not argv:
        raise AgentError(f"Cannot start the Codex ACP agent: the command is empty. {_INSTALL}")
    found = shutil.which(argv[0], path=env.get("PATH", os.defpath))
    if found is not None:
        return os.path.abspath(found)
    if os.sep in argv[0] and os.path.exists(argv[0]):
        reason = f"not executable: {argv[0]}"
    else:
        reason = f"command not found: {argv[0]}"
    raise AgentError(f"Cannot start the Codex ACP agent: {reason}. {_INSTALL}")


class AgentProcess:
    """One running agent command. Use :meth:`spawn`; always :meth:`stop` (or :meth:`kill`) it."""

    def __init__(self, process: Process, argv: Sequence[str]) -> None:
        self._process = process
        self.argv = list(argv)
        self.pid = process.pid
        self.stderr = StderrTail()
        self.exited = anyio.Event()

    @classmethod
    async def spawn(cls, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> AgentProcess:
        resolved = _resolve(argv, env)
        launch = [sys.executable, "-S", "-E", "-s", str(REAPER), "--", resolved, *argv[1:]]
        try:
            process = await anyio.open_process(
                launch,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so the whole tree can be stopped
            )
        except OSError as exc:
            reason = f"cannot start {argv[0]}: {exc.strerror or exc}"
        else:
            log.debug("started agent pid %d: %s", process.pid, " ".join(argv))
            _LIVE_GROUPS.add(process.pid)
            return cls(process, argv)
        raise AgentError(f"Cannot start the Codex ACP agent: {reason}. {_INSTALL}")

    @property
    def stdin(self) -> ByteSendStream:
        assert self._process.stdin is not None
        return self._process.stdin

    @property
    def stdout(self) -> ByteReceiveStream:
        assert self._process.stdout is not None
        return self._process.stdout

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def describe_exit(self) -> str:
        code = self._process.returncode
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    async def drain_stderr(self) -> None:
        """Read stderr until EOF into the ring buffer, so the agent never blocks on a full pipe."""
        stream = self._process.stderr
        assert stream is not None
        try:
            while True:
                chunk = await stream.receive(65536)
                self.stderr.feed(chunk)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return

    async def watch_exit(self) -> None:
        """Wait for the process to exit and signal :attr:`exited`."""
        try:
            await self._process.wait()
        finally:
            self.exited.set()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def _wait(self, seconds: float) -> bool:
        with anyio.move_on_after(seconds):
            await self._process.wait()
            return True
        return False

    async def stop(self, grace: float = 2.0) -> None:
        """Close stdin, wait ``grace``, SIGTERM the group, wait, SIGKILL the group.

        The Rust adapter ignores stdin EOF, hence the signals. The group is killed at the end even
        when the leader exits by itself, so grandchildren (codex app-server, …) never survive.
        """
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self.stdin.aclose()
            if not await self._wait(grace):
                self._signal_group(signal.SIGTERM)
                await self._wait(grace)
            self._signal_group(signal.SIGKILL)
            _LIVE_GROUPS.discard(self.pid)
            await self._wait(grace)

    async def terminate(self) -> None:
        """The fast path for server shutdown: SIGTERM the group now (the reaper cleans up its tree);
        SIGKILL the group once the reaper is done, or after REAPER_GRACE."""
        with anyio.CancelScope(shield=True):
            self._signal_group(signal.SIGTERM)
            await self._wait(REAPER_GRACE)
            self._signal_group(signal.SIGKILL)
            _LIVE_GROUPS.discard(self.pid)
            await self._wait(1.0)

    def kill(self) -> None:
        """Stop the whole tree now, without waiting (synchronous; safe in any cleanup path).

        SIGTERM to the group: the reaper SIGKILLs whatever does not stop within its grace, including
        descendants that left the group; :meth:`terminate` SIGKILLs the group as the backstop."""
        self._signal_group(signal.SIGTERM)
