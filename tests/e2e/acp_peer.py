"""A bare ACP client for driving a real agent in the e2e tests: codex-fusion's own process host and
JSON-RPC connection (``acp/process.py``, ``acp/connection.py``), without its handshake, client or
guardian, so a test decides exactly which capabilities are advertised and how each request the agent
sends is answered — and sees every one of them.

    async with open_peer(argv, cwd=ws, env=env) as peer:
        await peer.initialize({})
        created = await peer.call("session/new", {"cwd": str(ws), "mcpServers": []})
        ...
        assert peer.permission_requests() == []
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from codex_fusion.acp.connection import Connection
from codex_fusion.acp.process import AgentProcess
from codex_fusion.errors import HandlerError

METHOD_NOT_FOUND = -32601

#: Decides the answer to one ``session/request_permission`` (its params) -> the JSON-RPC result.
PermissionPolicy = Callable[[dict[str, Any]], dict[str, Any]]


def choose(kind: str) -> PermissionPolicy:
    """A policy selecting the first option of ``kind`` (``allow_once``, ``reject_once``, …); cancelled
    when there is none. Chosen by kind, never by id, as codex-fusion does."""

    def policy(params: dict[str, Any]) -> dict[str, Any]:
        for option in params.get("options") or []:
            if isinstance(option, dict) and option.get("kind") == kind:
                return {"outcome": {"outcome": "selected", "optionId": option.get("optionId")}}
        return {"outcome": {"outcome": "cancelled"}}

    return policy


REJECT = choose("reject_once")
ALLOW = choose("allow_once")


@dataclass
class Peer:
    process: AgentProcess
    connection: Connection
    permission: PermissionPolicy = REJECT
    notifications: list[tuple[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, Any]] = field(default_factory=list)  # agent -> client, in order

    async def call(self, method: str, params: Any, *, timeout: float = 60.0) -> Any:
        return await self.connection.request(method, params, timeout=timeout)

    async def initialize(self, capabilities: Mapping[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
        result = await self.call(
            "initialize",
            {
                "protocolVersion": 1,
                "clientCapabilities": dict(capabilities),
                "clientInfo": {"name": "codex-fusion-e2e", "version": "0"},
            },
            timeout=timeout,
        )
        assert isinstance(result, dict)
        return result

    async def prompt(self, session_id: str, text: str, *, timeout: float = 120.0) -> dict[str, Any]:
        params = {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}
        result = await self.call("session/prompt", params, timeout=timeout)
        assert isinstance(result, dict)
        return result

    # -- what the agent sent

    def updates(self) -> list[dict[str, Any]]:
        out = []
        for method, params in self.notifications:
            if method == "session/update" and isinstance(params, dict):
                update = params.get("update")
                if isinstance(update, dict):
                    out.append(update)
        return out

    def text(self) -> str:
        return "".join(
            str((u.get("content") or {}).get("text", ""))
            for u in self.updates()
            if u.get("sessionUpdate") == "agent_message_chunk" and isinstance(u.get("content"), dict)
        )

    def tool_calls(self) -> list[dict[str, Any]]:
        return [u for u in self.updates() if u.get("sessionUpdate") in ("tool_call", "tool_call_update")]

    def permission_requests(self) -> list[dict[str, Any]]:
        return [p for m, p in self.requests if m == "session/request_permission"]

    def stderr(self) -> str:
        return self.process.stderr.text(8000)

    # -- answering the agent

    async def _on_request(self, method: str, params: Any) -> Any:
        self.requests.append((method, params))
        if method == "session/request_permission" and isinstance(params, dict):
            return self.permission(params)
        raise HandlerError(METHOD_NOT_FOUND, f"method not found: {method}")

    def _on_notification(self, method: str, params: Any) -> None:
        self.notifications.append((method, params))


@asynccontextmanager
async def open_peer(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], permission: PermissionPolicy = REJECT
) -> AsyncIterator[Peer]:
    """Start ``argv`` under codex-fusion's reaper; yield a peer; stop the agent's whole process group."""
    process = await AgentProcess.spawn(argv, cwd=cwd, env=env)
    peer = Peer(process, None, permission)  # type: ignore[arg-type]
    peer.connection = Connection(
        process.stdin, process.stdout, on_request=peer._on_request, on_notification=peer._on_notification
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(process.drain_stderr)
            tg.start_soon(process.watch_exit)
            tg.start_soon(peer.connection.run)
            try:
                yield peer
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await process.terminate()
            # The process host leaves its pipes to the garbage collector, which may run after this
            # test's event loop is gone: close them here.
            with contextlib.suppress(Exception):
                await process._process.aclose()
