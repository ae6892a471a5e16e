"""An in-memory agent host: the scripted fake agent in-process, behind codex-fusion's real ACP stack.

``Member(config, spawn=memory_spawn)`` replaces only the OS process (as httpx's ``MockTransport``
replaces the network): the connection, handshake, client, guardian and runner are the real ones.
Exits, kills and stderr behave like a process's; process-group facts (grandchildren, signals, pipes)
are what the subprocess tests are for.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Awaitable, Callable, Mapping

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_fusion.acp.agent import StartOptions
from codex_fusion.acp.process import AgentHost, StderrTail

from .fake_agent import AgentExit, ScriptedAgent

_PIDS = itertools.count(4_000_000)  # above any real pid, so a stray os.killpg cannot hit a process


class _SendBytes(ByteSendStream):
    def __init__(self, stream: MemoryObjectSendStream[bytes]) -> None:
        self._stream = stream

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def aclose(self) -> None:
        await self._stream.aclose()


class _ReceiveBytes(ByteReceiveStream):
    def __init__(self, stream: MemoryObjectReceiveStream[bytes]) -> None:
        self._stream = stream

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._stream.receive()

    async def aclose(self) -> None:
        await self._stream.aclose()


class MemoryHost:
    """Runs a :class:`ScriptedAgent` while :meth:`watch_exit` runs (the agent's "process" lifetime)."""

    def __init__(self, options: StartOptions, gates: Mapping[str, anyio.Event] | None = None) -> None:
        self.argv = list(options.argv)
        self.options = options
        self.pid = next(_PIDS)
        self.stderr = StderrTail()
        self.exited = anyio.Event()
        self.returncode: int | None = None
        to_agent_send, self._to_agent = anyio.create_memory_object_stream[bytes](math.inf)
        self._from_agent, from_agent_receive = anyio.create_memory_object_stream[bytes](math.inf)
        self._stdin = _SendBytes(to_agent_send)
        self._stdout = _ReceiveBytes(from_agent_receive)
        self._scope = anyio.CancelScope()
        self._buffer = b""
        self.agent = ScriptedAgent(
            env=options.env,
            cwd=options.cwd,
            receive_line=self._receive_line,
            send_line=self._send_line,
            write_stderr=lambda text: self.stderr.feed(text.encode()),
            gates=gates,
        )

    @property
    def stdin(self) -> ByteSendStream:
        return self._stdin

    @property
    def stdout(self) -> ByteReceiveStream:
        return self._stdout

    async def _receive_line(self) -> bytes | None:
        while b"\n" not in self._buffer:
            try:
                self._buffer += await self._to_agent.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    async def _send_line(self, data: bytes) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._from_agent.send(data)  # nobody reading us any more is like a closed pipe

    def describe_exit(self) -> str:
        if self.returncode is None:
            return "still running"
        if self.returncode < 0:
            return "killed by SIGKILL"
        return f"exited with code {self.returncode}"

    async def drain_stderr(self) -> None:
        return None  # stderr goes straight into the tail

    async def watch_exit(self) -> None:
        try:
            with self._scope:
                await self.agent.serve()
            if self.returncode is None:
                self.returncode = -9 if self._scope.cancelled_caught else 0
        except* AgentExit as group:
            first = group.exceptions[0]
            assert isinstance(first, AgentExit)
            self.returncode = first.code
        finally:
            if self.returncode is None:
                self.returncode = -9  # cancelled with the task that runs us
            self._from_agent.close()  # like a dead process: its output ends, its input is closed
            self._to_agent.close()
            self.exited.set()

    async def stop(self, grace: float = 2.0) -> None:
        with anyio.CancelScope(shield=True):
            await self._stdin.aclose()
            with anyio.move_on_after(grace):
                await self.exited.wait()
            self.kill()

    async def terminate(self) -> None:
        self.kill()

    def kill(self) -> None:
        if self.returncode is None:
            self.returncode = -9
        self._scope.cancel()


def memory_spawn(
    hosts: list[MemoryHost] | None = None, gates: Mapping[str, anyio.Event] | None = None
) -> Callable[[StartOptions], Awaitable[AgentHost]]:
    """A ``spawn`` for Member/build_server; started hosts are appended to ``hosts``."""

    async def spawn(options: StartOptions) -> AgentHost:
        host = MemoryHost(options, gates)
        if hosts is not None:
            hosts.append(host)
        return host

    return spawn
