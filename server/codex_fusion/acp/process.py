"""The agent's OS process: spawn in its own process group, drain stderr, stop, kill the whole tree.

:class:`AgentHost` is what the layers above need from a running agent; :class:`AgentProcess` is the
real one. Tests substitute an in-memory host (``tests/fake_agent.py``), as httpx tests substitute a
transport.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

from ..errors import AgentError
from ..redact import redact

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 64 * 1024

#: Process groups we started and have not yet killed: the last-resort cleanup kills them all.
_LIVE_GROUPS: set[int] = set()


def kill_all_groups() -> None:
    """SIGKILL every agent process group still alive. Synchronous; for exit paths and signal handlers."""
    for pgid in list(_LIVE_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _LIVE_GROUPS.discard(pgid)


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
        """The last lines of stderr, at most ``max_chars``, secrets redacted."""
        text = self._buf.decode("utf-8", errors="replace")
        if len(text) > max_chars:
            text = text[-max_chars:]
            newline = text.find("\n")
            if 0 <= newline < len(text) - 1:
                text = text[newline + 1 :]
        return redact(text.strip())


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
        try:
            process = await anyio.open_process(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so the whole tree can be stopped
            )
        except FileNotFoundError:
            reason = f"command not found: {argv[0]}"
        except PermissionError as exc:
            reason = f"not executable: {argv[0]} ({exc.strerror})"
        except OSError as exc:
            reason = f"cannot start {argv[0]}: {exc}"
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
            self.kill()
            await self._wait(grace)

    async def terminate(self) -> None:
        """The fast path for server shutdown: SIGTERM the group now, SIGKILL it ~50 ms later."""
        with anyio.CancelScope(shield=True):
            self._signal_group(signal.SIGTERM)
            await self._wait(0.05)
            self.kill()
            await self._wait(1.0)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (synchronous; safe in any cleanup path)."""
        self._signal_group(signal.SIGKILL)
        _LIVE_GROUPS.discard(self.pid)
