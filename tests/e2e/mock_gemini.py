"""A scripted mock of the Gemini API (``generativelanguage``, v1beta), enough to drive the real Gemini CLI
offline (``GOOGLE_GEMINI_BASE_URL=<base_url>``, ``GEMINI_API_KEY=<anything>``).

Stdlib only, loopback only. A test queues *steps*; each request that offers function declarations (a
turn of the main conversation) consumes the next one:

    with MockGemini() as mock:
        mock.script(call_function("read_file", {"absolute_path": "/etc/hostname"}), say("done"))
        ...  # run `gemini --acp` against mock.base_url
        assert mock.turn_requests()[0].model == "gemini-2.5-pro"

``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` answers as Server-Sent Events,
``:generateContent`` as one JSON response, ``:countTokens`` with an estimate. A request without tools
(the model router, the next-speaker check and other side calls Gemini CLI makes through
``generateJson``) gets text that satisfies its ``responseJsonSchema`` when it names one, else a short
text, and leaves the script alone; so does any request once the script is exhausted. Every request is
recorded whole (:attr:`MockGemini.requests`) with the model name taken from its path.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from loopback import LoopbackHandler, LoopbackServer, text_in

__all__ = [
    "FunctionResult",
    "MockGemini",
    "RecordedRequest",
    "Step",
    "call_function",
    "relay",
    "say",
]

SIDE_TEXT = "ok"
#: Google's answer to a request with a missing or wrong API key (HTTP 400).
INVALID_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}
EXHAUSTED_TEXT = "(mock: no scripted step left)"


# --------------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class Step:
    """What the model does in one main-conversation turn: say ``text``, or call a function."""

    text: str = ""
    function: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    relay: bool = False  # say ``text`` followed by the newest function result in the request
    #: Answer the next request with this same step again while this holds of it (a model polling a
    #: handle), ``retries`` times at most.
    again_while: Callable[[RecordedRequest], bool] | None = None
    retries: int = 30


def say(text: str) -> Step:
    """Answer ``text`` and end the turn."""
    return Step(text=text)


def relay(prefix: str = "") -> Step:
    """Answer with the newest function result the request carries (what a host's model read from a
    tool), after ``prefix``."""
    return Step(text=prefix, relay=True)


def call_function(name: str, arguments: dict[str, Any], preface: str = "") -> Step:
    """Call the offered function named ``name`` (exactly, else the first whose name contains it)."""
    return Step(text=preface, function=name, arguments=dict(arguments))


# --------------------------------------------------------------------------------------------------
# What was received


@dataclass(frozen=True)
class FunctionResult:
    """A ``functionResponse`` part as the model received it."""

    request_index: int
    name: str
    response: Any

    @property
    def text(self) -> str:
        return json.dumps(self.response, ensure_ascii=False)


@dataclass(frozen=True)
class RecordedRequest:
    index: int
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names in lower case
    body: Any  # parsed JSON, or the raw text if it was not JSON

    @property
    def route(self) -> str:
        return unquote(urlsplit(self.path).path)

    @property
    def model(self) -> str:
        """The model named in the path (``.../models/<model>:<method>``), or ``""``."""
        tail = self.route.rsplit("/models/", 1)
        return tail[1].split(":", 1)[0] if len(tail) == 2 else ""

    @property
    def rpc(self) -> str:
        """``streamGenerateContent``, ``generateContent``, ``countTokens``, … (``""`` for other paths)."""
        return self.route.rsplit(":", 1)[1] if ":" in self.route.rsplit("/", 1)[-1] else ""

    @property
    def is_generate(self) -> bool:
        return self.method == "POST" and self.rpc in ("streamGenerateContent", "generateContent")

    @property
    def function_declarations(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools") if isinstance(self.body, dict) else None
        out: list[dict[str, Any]] = []
        for tool in tools or []:
            if isinstance(tool, dict):
                out += [d for d in tool.get("functionDeclarations") or [] if isinstance(d, dict)]
        return out

    @property
    def function_names(self) -> list[str]:
        return [str(d.get("name", "")) for d in self.function_declarations]

    @property
    def contents(self) -> list[dict[str, Any]]:
        contents = self.body.get("contents") if isinstance(self.body, dict) else None
        return [c for c in contents or [] if isinstance(c, dict)]

    @property
    def system_text(self) -> str:
        system = self.body.get("systemInstruction") if isinstance(self.body, dict) else None
        return text_in(system)

    def all_text(self) -> str:
        """The whole request body as text: every prompt, instruction and function response in it."""
        return json.dumps(self.body, ensure_ascii=False) if not isinstance(self.body, str) else self.body

    def function_results(self) -> list[FunctionResult]:
        out = []
        for content in self.contents:
            for part in content.get("parts") or []:
                response = part.get("functionResponse") if isinstance(part, dict) else None
                if isinstance(response, dict):
                    out.append(
                        FunctionResult(self.index, str(response.get("name", "")), response.get("response"))
                    )
        return out


def _satisfy(schema: Any) -> Any:
    """A small value that validates against the JSON schema ``schema`` (objects, enums, numbers)."""
    if not isinstance(schema, dict):
        return "mock"
    if schema.get("enum"):
        return schema["enum"][-1]
    kind = schema.get("type")
    kind = str(kind[0] if isinstance(kind, list) and kind else kind or "").lower()
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _satisfy(sub) for name, sub in props.items() if isinstance(name, str)}
    if kind in ("number", "integer"):
        low, high = schema.get("minimum", 1), schema.get("maximum", 100)
        return max(low, min(high, 50))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return "mock"


# --------------------------------------------------------------------------------------------------
# The server


class MockGemini(LoopbackServer):
    """The mock API on ``127.0.0.1:<free port>``; use as a context manager."""

    thread_name = "mock-gemini"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        #: Problems the mock could not answer as scripted (e.g. no offered function matched).
        self.errors: list[str] = []
        #: Called with every generate request before it is answered (from a handler thread).
        self.on_request: Callable[[RecordedRequest], None] | None = None
        #: Seconds to wait before answering each request that offers function declarations (a main-conversation
        #: turn): a model's fixed time per request, for the benchmarks.
        self.latency = 0.0
        #: When set, a generate request whose ``x-goog-api-key`` is not this key is refused with HTTP 400
        #: ``API_KEY_INVALID``, shaped like Google's answer (Gemini CLI sends an empty key when none is set).
        self.api_key: str | None = None
        self._steps: list[Step] = []
        self._last: Step | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- script

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    @property
    def steps_left(self) -> int:
        with self._lock:
            return len(self._steps)

    # --- what was received

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.snapshot() if r.is_generate]

    def turn_requests(self) -> list[RecordedRequest]:
        """The main conversation's requests: those that offered functions."""
        return [r for r in self.generate_requests() if r.function_declarations]

    def function_results(self) -> list[FunctionResult]:
        """Every function response the model received, each once (from the first request carrying it)."""
        seen = 0
        out: list[FunctionResult] = []
        for request in self.turn_requests():
            results = request.function_results()
            out += results[seen:]
            seen = max(seen, len(results))
        return out

    def all_text(self) -> str:
        return "\n".join(r.all_text() for r in self.snapshot())

    # --- answering (called from the handler threads)

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> RecordedRequest:
        with self._lock:
            request = RecordedRequest(len(self.requests), method, path, headers, body)
            self.requests.append(request)
            return request

    def _parts(self, request: RecordedRequest) -> list[dict[str, Any]]:
        """The model's parts answering ``request``."""
        if not request.function_declarations:
            config = request.body.get("generationConfig") if isinstance(request.body, dict) else None
            schema = None
            if isinstance(config, dict):
                schema = config.get("responseJsonSchema") or config.get("responseSchema")
            text = json.dumps(_satisfy(schema)) if schema else SIDE_TEXT
            return [{"text": text}]
        with self._lock:
            last = self._last
            again = last is not None and last.again_while is not None and last.retries > 0
            if last is not None and again and last.again_while is not None and last.again_while(request):
                step: Step | None = dataclasses.replace(last, retries=last.retries - 1)
            else:
                step, last = (self._steps.pop(0) if self._steps else None), None
            self._last = step
        if last is not None:
            time.sleep(0.5)  # polling again: give the call time to move on
        if step is None:
            return [{"text": EXHAUSTED_TEXT}]
        if step.relay:
            results = request.function_results()
            return [{"text": step.text + (results[-1].text if results else "")}]
        parts: list[dict[str, Any]] = [{"text": step.text}] if step.text else []
        if step.function is not None:
            names = request.function_names
            name = (
                step.function
                if step.function in names
                else next((n for n in names if step.function in n), None)
            )
            if name is None:
                problem = f"request {request.index}: no offered function matches {step.function!r}; offered: {names}"
                with self._lock:
                    self.errors.append(problem)
                parts.append({"text": f"(mock: {problem})"})
            else:
                parts.append({"functionCall": {"name": name, "args": step.arguments}})
        return parts or [{"text": ""}]

    def _response(self, request: RecordedRequest, parts: list[dict[str, Any]]) -> dict[str, Any]:
        prompt_tokens = max(1, len(request.all_text()) // 4)
        output_tokens = max(1, len(json.dumps(parts)) // 4)
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": request.model or "gemini-mock",
            "responseId": f"resp_mock{next(self._ids):04d}",
        }

    def _stream(self, request: RecordedRequest, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The chunks of a streamed answer: text in two pieces, then the rest with the finish reason."""
        whole = self._response(request, parts)
        texts = [p for p in parts if set(p) == {"text"}]
        others = [p for p in parts if set(p) != {"text"}]
        chunks: list[dict[str, Any]] = []
        text = "".join(str(p["text"]) for p in texts)
        pieces = [text[: len(text) // 2], text[len(text) // 2 :]] if text else []
        for piece in pieces[:-1] if not others else pieces:
            if piece:
                chunks.append(
                    {"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}]}
                )
        last_parts = others if others else [{"text": pieces[-1] if pieces else ""}]
        final = dict(whole)
        final["candidates"] = [{**whole["candidates"][0], "content": {"role": "model", "parts": last_parts}}]
        chunks.append(final)
        return chunks


class _Handler(LoopbackHandler):
    owner: MockGemini
    json_type = "application/json; charset=UTF-8"

    def do_GET(self) -> None:
        self.owner._record("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None)
        self._send_json(200, {"models": []})

    def do_POST(self) -> None:
        raw, body = self._read_json()
        request = self.owner._record("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if request.rpc == "countTokens":
            self._send_json(200, {"totalTokens": max(1, len(raw) // 4)})
            return
        if not request.is_generate:
            self._send_json(404, {"error": {"code": 404, "message": f"mock: no route {request.route}"}})
            return
        if self.owner.on_request is not None:
            try:
                self.owner.on_request(request)
            except Exception as exc:
                self.owner.errors.append(f"on_request failed on request {request.index}: {exc!r}")
        if self.owner.api_key is not None and request.headers.get("x-goog-api-key") != self.owner.api_key:
            self._send_json(400, INVALID_KEY)
            return
        if self.owner.latency and request.function_declarations:
            time.sleep(self.owner.latency)
        parts = self.owner._parts(request)
        if request.rpc == "streamGenerateContent":
            stream = "".join(
                f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in self.owner._stream(request, parts)
            )
            self._send(200, stream.encode(), "text/event-stream")
        else:
            self._send_json(200, self.owner._response(request, parts))


MockGemini.handler = _Handler
