"""JSON-RPC 2.0 over newline-delimited JSON, sans I/O.

Pure functions and value types: bytes in, classified messages out; messages in, bytes out.
The I/O loop that uses them lives in :mod:`codex_fusion.acp.connection`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import pydantic_core

RequestId: TypeAlias = int | str | None
JsonObject: TypeAlias = dict[str, Any]

METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
AUTH_REQUIRED: Final = -32000
RESOURCE_NOT_FOUND: Final = -32002
REQUEST_CANCELLED: Final = -32800

#: A line longer than this is dropped as malformed instead of growing the buffer without bound.
MAX_LINE_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    id: RequestId
    method: str
    params: Any


@dataclass(frozen=True)
class Notification:
    method: str
    params: Any


@dataclass(frozen=True)
class ErrorObject:
    code: int
    message: str
    data: Any = None


@dataclass(frozen=True)
class Response:
    id: RequestId
    result: Any = None
    error: ErrorObject | None = None


@dataclass(frozen=True)
class Malformed:
    """A line that is not a JSON-RPC message. Kept with its text so it can be logged."""

    text: str
    reason: str


Message: TypeAlias = Request | Notification | Response | Malformed


def _is_id(value: Any) -> bool:
    return value is None or (isinstance(value, int | str) and not isinstance(value, bool))


def _parse_error(raw: Any) -> ErrorObject:
    if not isinstance(raw, dict):
        return ErrorObject(INTERNAL_ERROR, f"malformed error object: {raw!r}")
    code = raw.get("code")
    message = raw.get("message")
    return ErrorObject(
        code=code if isinstance(code, int) and not isinstance(code, bool) else INTERNAL_ERROR,
        message=message if isinstance(message, str) else repr(message),
        data=raw.get("data"),
    )


def _loads(line: bytes | str) -> Any:
    """The JSON value of ``line``. pydantic's parser reads the
    raw line about twice as fast as :func:`json.loads`; whatever it refuses (invalid UTF-8, a lone
    surrogate escape, a control character, a number or a nesting past its limits, not JSON at all),
    :func:`json.loads` decides, as it alone did before — it and pydantic agree where both accept."""
    try:
        return pydantic_core.from_json(line)
    except ValueError:
        return json.loads(_text(line))


def _text(line: bytes | str) -> str:
    """The line as text, for :func:`json.loads` and for a warning."""
    return (line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line).strip()


def parse_message(line: bytes | str) -> Message:
    """Classify one line: request (method+id), notification (method), response (result/error+id)."""
    try:
        obj = _loads(line)
    except ValueError as exc:
        return Malformed(_text(line), f"not JSON: {exc}")
    if not isinstance(obj, dict):
        return Malformed(_text(line), "not a JSON object")
    method = obj.get("method")
    if method is not None:
        if not isinstance(method, str):
            return Malformed(_text(line), "method is not a string")
        if "id" in obj:
            if not _is_id(obj["id"]):
                return Malformed(_text(line), "id is not an int, string or null")
            return Request(obj["id"], method, obj.get("params"))
        return Notification(method, obj.get("params"))
    if "id" in obj and ("result" in obj or "error" in obj):
        if not _is_id(obj["id"]):
            return Malformed(_text(line), "id is not an int, string or null")
        if "error" in obj and obj["error"] is not None:
            return Response(obj["id"], error=_parse_error(obj["error"]))
        return Response(obj["id"], result=obj.get("result"))
    return Malformed(_text(line), "neither a request, a notification nor a response")


def _encode(obj: JsonObject) -> bytes:
    """One NDJSON line. Never raises for text: a lone surrogate (which strict UTF-8 refuses, and
    which would otherwise raise inside a task nobody watches) goes out as U+FFFD."""
    # json.dumps escapes control characters, so the line never contains a raw newline.
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # surrogates sit only inside strings: replacing them keeps the JSON
        # what text/wellformed.py does (pairs joined, a lone half as U+FFFD), kept here so the wire
        # format needs nothing from above it
        data = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")
    return data + b"\n"


def encode_request(request_id: RequestId, method: str, params: Any) -> bytes:
    msg: JsonObject = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        msg["params"] = params
    return _encode(msg)


def encode_notification(method: str, params: Any) -> bytes:
    msg: JsonObject = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return _encode(msg)


def encode_result(request_id: RequestId, result: Any) -> bytes:
    return _encode({"jsonrpc": "2.0", "id": request_id, "result": result})


def encode_error(request_id: RequestId, code: int, message: str, data: Any = None) -> bytes:
    error: JsonObject = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _encode({"jsonrpc": "2.0", "id": request_id, "error": error})


@dataclass
class LineSplitter:
    """Reassembles newline-terminated lines from arbitrary byte chunks.

    Over-long lines are reported (their first bytes) and discarded rather than buffered forever.
    """

    max_line: int = MAX_LINE_BYTES
    _buf: bytearray = field(default_factory=bytearray)
    _discarding: bool = False

    def feed(self, chunk: bytes) -> list[bytes]:
        pieces = chunk.split(b"\n")  # in C: a streamed answer brings hundreds of lines per read
        rest = pieces.pop()  # what follows the last newline
        if pieces:  # the first piece ends the line begun in an earlier chunk
            if self._discarding:
                self._discarding = False
                del pieces[0]
            elif self._buf:
                self._buf += pieces[0]
                pieces[0] = bytes(self._buf)
            self._buf.clear()
        if not self._discarding:
            self._buf += rest
            if len(self._buf) > self.max_line:
                pieces.append(bytes(self._buf[:200]) + b"\xe2\x80\xa6 [line too long, dropped]")
                self._buf.clear()
                self._discarding = True
        return [line for line in pieces if line.strip()]

    def flush(self) -> list[bytes]:
        """The unterminated remainder at end of stream (a half line), if any."""
        rest = bytes(self._buf)
        self._buf.clear()
        return [rest] if rest.strip() and not self._discarding else []
