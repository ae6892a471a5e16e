"""What the mock model APIs (mock_anthropic.py, mock_gemini.py) share: a loopback HTTP server on a
free port, served from a daemon thread, and a request handler that reads a JSON body however the
client framed it (Content-Length or chunked, gzip or deflate) and answers with a Content-Length; and
:func:`text_in`, the text of a request's messages.

Stdlib only.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class LoopbackHandler(BaseHTTPRequestHandler):
    """A quiet handler (the mocks record requests instead of logging them), keep-alive."""

    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length
    #: The Content-Type of :meth:`_send_json`.
    json_type: ClassVar[str] = "application/json"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            data = b"".join(chunks)
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        return data

    def _read_json(self) -> tuple[bytes, Any]:
        """The raw body and its JSON (the text itself when it is not JSON, None when empty)."""
        raw = self._read_body()
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, raw.decode("utf-8", "replace")

    def _extra_headers(self) -> dict[str, str]:
        """Headers every answer carries besides the content's (none by default)."""
        return {}

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in self._extra_headers().items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), self.json_type)


class LoopbackServer:
    """Serves :attr:`handler` (with ``owner`` set to this object) on ``127.0.0.1:<free port>`` while
    used as a context manager."""

    handler: ClassVar[type[LoopbackHandler]]
    thread_name: ClassVar[str] = "mock-api"

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        bound = type("Handler", (self.handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, f"use {type(self).__name__} as a context manager"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"


def text_in(value: Any) -> str:
    """All text in a string, a content block or a Gemini part, or a list of them (nested ``content``
    and ``parts`` too): what a request to a mock says, as one text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(text_in(v) for v in value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        if "content" in value:
            return text_in(value["content"])
        return text_in(value.get("parts"))
    return ""
