"""A JSON-RPC peer over a pair of byte streams: requests, responses and notifications both ways.

Our outgoing ids are ints from 1; the agent's ids are its own (ints from 0, UUID strings, …) and live
in a separate table, so the two id spaces never collide. Incoming notifications are delivered in
order, synchronously; incoming requests each run in their own task, can be cancelled by
``$/cancel_request``, and are always answered.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, TaskGroup

from codex_fusion.acp import jsonrpc
from codex_fusion.acp.jsonrpc import Malformed, Notification, Request, RequestId, Response
from codex_fusion.errors import ConnectionClosed, HandlerError, RequestTimeout, RpcError

log = logging.getLogger(__name__)

RequestHandler = Callable[[str, Any], Awaitable[Any]]
NotificationHandler = Callable[[str, Any], None]


class _Call:
    """A request we sent and have not had an answer to yet."""

    def __init__(self, request_id: int, method: str) -> None:
        self.id = request_id
        self.method = method
        self.done = anyio.Event()
        self.response: Response | None = None


async def _method_not_found(method: str, params: Any) -> Any:
    raise HandlerError(jsonrpc.METHOD_NOT_FOUND, f"method not found: {method}")


def _ignore(method: str, params: Any) -> None:
    return None


class Connection:
    def __init__(
        self,
        send_stream: ByteSendStream,
        receive_stream: ByteReceiveStream,
        *,
        on_request: RequestHandler = _method_not_found,
        on_notification: NotificationHandler = _ignore,
        name: str = "agent",
    ) -> None:
        self._send_stream = send_stream
        self._receive_stream = receive_stream
        self._on_request = on_request
        self._on_notification = on_notification
        self._name = name
        self._ids = itertools.count(1)
        self._pending: dict[RequestId, _Call] = {}
        self._incoming: dict[RequestId, anyio.CancelScope] = {}
        self._write_lock = anyio.Lock()
        self._closed: str | None = None
        self._tg: TaskGroup | None = None
        self.malformed_lines = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def closed(self) -> str | None:
        """Why the connection is closed, or None while it is open."""
        return self._closed

    async def run(self) -> None:
        """Read until end of stream; dispatch everything. Returns when the peer closes its side."""
        splitter = jsonrpc.LineSplitter()
        reason = "the agent closed its output"
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    while True:
                        try:
                            chunk = await self._receive_stream.receive(65536)
                        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                            break
                        for line in splitter.feed(chunk):
                            self._dispatch(line)
                    for line in splitter.flush():
                        self._dispatch(line)
                finally:
                    # Handlers still running have nobody left to answer to.
                    for scope in self._incoming.values():
                        scope.cancel()
                    self._tg = None
        finally:
            self._close(reason)

    def _close(self, reason: str) -> None:
        if self._closed is None:
            self._closed = reason
        for pending in self._pending.values():
            pending.done.set()

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, line: bytes) -> None:
        message = jsonrpc.parse_message(line)
        if isinstance(message, Malformed):
            self.malformed_lines += 1
            log.warning(
                "%s sent a malformed line (%s), skipped: %.500s", self._name, message.reason, message.text
            )
        elif isinstance(message, Response):
            pending = self._pending.get(message.id)
            if pending is None:
                log.debug("%s answered unknown request id %r", self._name, message.id)
                return
            pending.response = message
            pending.done.set()
        elif isinstance(message, Notification):
            if message.method == "$/cancel_request":
                self._cancel_incoming(message.params)
                return
            try:
                self._on_notification(message.method, message.params)
            except Exception:
                log.exception("handling %s notification %s failed", self._name, message.method)
        else:
            assert self._tg is not None
            self._tg.start_soon(self._serve, message)

    def _cancel_incoming(self, params: Any) -> None:
        request_id = params.get("requestId") if isinstance(params, dict) else None
        scope = self._incoming.get(request_id)
        if scope is not None:
            log.debug("%s cancelled its request %r", self._name, request_id)
            scope.cancel()

    async def _serve(self, request: Request) -> None:
        scope = anyio.CancelScope()
        self._incoming[request.id] = scope
        answer: bytes
        try:
            with scope:
                result = await self._on_request(request.method, request.params)
                answer = jsonrpc.encode_result(request.id, result)
            if scope.cancel_called:
                answer = jsonrpc.encode_error(request.id, jsonrpc.REQUEST_CANCELLED, "request cancelled")
        except HandlerError as exc:
            answer = _error_answer(request.id, exc.code, exc.message, exc.data)
        except Exception as exc:
            log.exception("handling %s request %s failed", self._name, request.method)
            answer = _error_answer(request.id, jsonrpc.INTERNAL_ERROR, f"client error: {exc}")
        finally:
            self._incoming.pop(request.id, None)
        with anyio.CancelScope(shield=True):
            await self._write(answer)

    # -- sending -----------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        if self._closed is not None:
            return
        async with self._write_lock:
            try:
                await self._send_stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                log.debug("write to %s failed: %s", self._name, exc)
                self._close(f"writing to the agent failed: {exc}")

    async def notify(self, method: str, params: Any = None) -> None:
        await self._write(jsonrpc.encode_notification(method, params))

    async def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Send a request and wait for its answer.

        Raises RpcError for an error answer, ConnectionClosed if the connection ends first and
        RequestTimeout when ``timeout`` (seconds) passes; a cancelled caller sends ``$/cancel_request``.
        """
        if self._closed is not None:
            raise ConnectionClosed(self._closed)
        call = _Call(next(self._ids), method)
        self._pending[call.id] = call
        try:
            await self._write(jsonrpc.encode_request(call.id, method, params))
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await call.done.wait()
            if not call.done.is_set():
                raise RequestTimeout(method, timeout or 0.0)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.notify("$/cancel_request", {"requestId": call.id})
            raise
        finally:
            self._pending.pop(call.id, None)
        response = call.response
        if response is None:
            raise ConnectionClosed(self._closed or "connection closed")
        if response.error is not None:
            error = response.error
            raise RpcError(method, error.code, error.message, error.data)
        return response.result


def _error_answer(request_id: RequestId, code: int, message: str, data: Any = None) -> bytes:
    """An error answer that always encodes: without ``data`` when that cannot be serialised."""
    try:
        return jsonrpc.encode_error(request_id, code, message, data)
    except (TypeError, ValueError):
        log.warning("an error answer's data could not be encoded; sent without it", exc_info=True)
        return jsonrpc.encode_error(request_id, code, message)
