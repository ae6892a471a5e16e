"""The server's private socket for the review gate: the hook's way to the Codex session it runs.

A hook cannot speak MCP, and a second Codex session would not know the debate. So the server
listens on a Unix socket of its own and answers exactly one request type, a review
(``review/gate.parse_request``), one JSON line in, one JSON line out. Who may ask is decided by the
file system: the socket is 0600 in a 0700 directory owned by us (``$XDG_RUNTIME_DIR/codex-fusion-<uid>``,
else the temp dir's; a short path, as a socket path must be under ~100 bytes), and on Linux the
peer's uid is checked too. The hook finds the socket through a descriptor in the workspace's private
records directory, ``server-<pid>.json``, which names the server's ancestors so the hook can pick
the server of its own Claude Code window (``CLAUDE_PID``). Both are removed when the server stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import tempfile
import time
from pathlib import Path

import anyio
from anyio.abc import SocketAttribute, SocketStream

from codex_fusion.hookside import gate, nonce, windows
from codex_fusion.hookside.private import dumps, private_dir, write_files
from codex_fusion.member.conversation import Member
from codex_fusion.review import gate as gate_review
from codex_fusion.review import workwatch

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
READ_TIMEOUT = 5.0  # seconds for the hook to send its one line
MAX_PATH = 100  # sun_path is 104 (macOS) or 108 (Linux) bytes with the NUL


def socket_dir(env: dict[str, str] | None = None) -> Path:
    """The private directory for sockets: short, ours, 0700."""
    env = dict(os.environ if env is None else env)
    runtime = env.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) if runtime and os.path.isabs(runtime) and os.path.isdir(runtime) else None
    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return private_dir(base or Path(tempfile.gettempdir()), f"codex-fusion-{uid}")


def _peer_uid(stream: SocketStream) -> int | None:
    """The connecting process's uid (Linux ``SO_PEERCRED``), None where the platform does not say."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None:
        return None
    raw = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 - anyio's typed attributes, not Django
    data = raw.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", data)
    return int(uid)


class GateSocket:
    """Serves review requests for one Member; runs in the server's task group."""

    def __init__(self, consultant: Member, state: Path, workspace: Path) -> None:
        self._consultant = consultant
        self._state = state
        self._workspace = workspace
        self._lock = anyio.Lock()  # one review at a time (the Member queues turns anyway)
        self.path: Path | None = None
        self._descriptor = nonce.window_dir(state, workspace) / f"server-{os.getpid()}.json"
        self._watch_since: float | None = None  # when the workspace watch began (workwatch.py)
        self._changed: float | None = None  # when it last saw a change outside .git/

    async def run(self) -> None:
        """Listen until cancelled; without a usable socket the hook falls back to a one-shot review."""
        try:
            directory = await anyio.to_thread.run_sync(socket_dir)
        except OSError as exc:
            log.warning("review gate socket: no private socket directory (%s); the gate runs one-shot", exc)
            return
        path = directory / f"{nonce.workspace_key(self._workspace)}-{os.getpid()}.sock"
        if len(os.fsencode(path)) > MAX_PATH:
            log.warning("review gate socket: %s is too long for a socket path; the gate runs one-shot", path)
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale one of ours, from a pid that was reused
        try:
            listener = await anyio.create_unix_listener(path, mode=0o600)
        except OSError as exc:
            log.warning("review gate socket: cannot listen on %s (%s)", path, exc)
            return
        self.path = path
        try:
            await anyio.to_thread.run_sync(self._describe, path)
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(workwatch.watch, self._workspace, self._watched)  # lets prompts reuse
                await listener.serve(self._handle)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove, path, self._descriptor)

    async def _watched(self, since: float | None, at: float) -> None:
        """The workspace watch began (``since``) or saw a change: the descriptor says so at once."""
        if since is not None:
            self._watch_since = since
        self._changed = at
        if self.path is not None:
            await anyio.to_thread.run_sync(self._describe, self.path)

    def _describe(self, path: Path) -> None:
        record = {
            "version": 1,
            "pid": os.getpid(),
            "socket": str(path),
            "ancestors": windows.ancestor_pids()[:16],
            "at": time.time(),
            "watch_since": self._watch_since,  # None: no watch, every prompt snapshots
            "changed": self._changed,
        }
        write_files(self._state, self._descriptor.parent, [(self._descriptor.name, dumps(record))])

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            try:
                uid = _peer_uid(stream)
                if uid is not None and hasattr(os, "geteuid") and uid != os.geteuid():
                    log.warning("review gate socket: refused a connection from uid %d", uid)
                    return
                with anyio.fail_after(READ_TIMEOUT):
                    line = await _read_line(stream)
                before, after, timeout = gate_review.parse_request(json.loads(line))
            except (ValueError, TimeoutError, OSError, anyio.EndOfStream) as exc:
                answer = gate.Review(failure=f"bad request to the server's gate socket: {exc}")
            else:
                async with self._lock:
                    answer = await gate_review.review(self._consultant, before, after, timeout)
            with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(json.dumps(answer.to_json()).encode() + b"\n")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


async def _read_line(stream: SocketStream) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        data += await stream.receive(65536)
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError(f"request larger than {MAX_REQUEST_BYTES} bytes")
    return data
