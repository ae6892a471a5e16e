"""A scripted mock of the Anthropic Messages API, enough to drive the real Claude Code CLI offline.

Stdlib only, loopback only. A test queues *steps*; each request that offers tools (a turn of the main
conversation) consumes the next one:

    with MockAnthropic() as mock:
        mock.script(call_tool("consult", {"question": "..."}), say("done"))
        ...  # run claude with ANTHROPIC_BASE_URL=mock.base_url
        assert "answer" in mock.tool_results()[0].text

Requests without tools (title generation, summaries and other side requests) get a short text and
leave the script alone; so does any request once the script is exhausted. A conversation of its own
(a subagent's) gets its own queue with :meth:`MockAnthropic.script_for` and a predicate such as
:func:`system_contains`, so its turns never take the main conversation's steps. ``POST /v1/messages``
answers as Server-Sent Events when the body says ``"stream": true``, else as one JSON message;
``/v1/messages/count_tokens`` estimates; every ``GET`` gets an empty page. Every request is recorded
(:attr:`MockAnthropic.requests`), so a test can read exactly what the model was given: the tool list,
``tool_result`` blocks, the system prompt, hook context.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from loopback import LoopbackHandler, LoopbackServer, text_in

__all__ = [
    "MockAnthropic",
    "RecordedRequest",
    "Step",
    "ToolCall",
    "ToolResult",
    "call_tool",
    "say",
    "system_contains",
]

SIDE_TEXT = "ok"
EXHAUSTED_TEXT = "(mock: no scripted step left)"


# --------------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class Step:
    """What the model does in one main-conversation turn: say ``text``, or call a tool."""

    text: str = ""
    tool_substring: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


def say(text: str) -> Step:
    """Answer ``text`` and end the turn."""
    return Step(text=text)


def call_tool(name_contains: str, arguments: dict[str, Any], preface: str = "") -> Step:
    """Call the offered tool named exactly ``name_contains``, else the first whose name contains it
    (after an optional text)."""
    return Step(text=preface, tool_substring=name_contains, arguments=dict(arguments))


def system_contains(text: str) -> Callable[[RecordedRequest], bool]:
    """A :meth:`MockAnthropic.script_for` predicate: the request's system prompt contains ``text``
    (a subagent's system prompt is its definition's body)."""
    return lambda request: text in request.system_text


# --------------------------------------------------------------------------------------------------
# What was received


@dataclass(frozen=True)
class ToolCall:
    """A ``tool_use`` the mock sent: which request answered, with which tool and id."""

    request_index: int
    tool_use_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """A ``tool_result`` block as the model received it."""

    request_index: int
    tool_use_id: str
    is_error: bool
    content: Any  # the raw ``content`` (a string or a list of blocks)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        if isinstance(self.content, str):
            return [{"type": "text", "text": self.content}]
        return [b for b in self.content or [] if isinstance(b, dict)]

    @property
    def text(self) -> str:
        return "\n".join(str(b.get("text", "")) for b in self.blocks if b.get("type") == "text")


@dataclass(frozen=True)
class RecordedRequest:
    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text if it was not JSON

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0].rstrip("/").endswith("/v1/messages")

    @property
    def model(self) -> str:
        """The model the request asked for (``""`` when it names none)."""
        return str(self.body.get("model") or "") if isinstance(self.body, dict) else ""

    def raw_text(self) -> str:
        """The whole body as JSON text: every block, tool results included (headers are not in it)."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body, ensure_ascii=False)

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools") if isinstance(self.body, dict) else None
        return [t for t in tools or [] if isinstance(t, dict)]

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name", "")) for t in self.tools]

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return [m for m in messages or [] if isinstance(m, dict)]

    @property
    def system_text(self) -> str:
        system = self.body.get("system") if isinstance(self.body, dict) else None
        return text_in(system)

    def all_text(self) -> str:
        """The system prompt and every text in every message (tool results included), joined."""
        parts = [self.system_text]
        for message in self.messages:
            parts.append(text_in(message.get("content")))
        return "\n".join(parts)

    def tool_results(self) -> list[ToolResult]:
        out = []
        for message in self.messages:
            content = message.get("content")
            if message.get("role") != "user" or not isinstance(content, list):
                continue
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    out.append(
                        ToolResult(
                            request_index=self.index,
                            tool_use_id=str(block.get("tool_use_id", "")),
                            is_error=bool(block.get("is_error", False)),
                            content=block.get("content"),
                        )
                    )
        return out


# --------------------------------------------------------------------------------------------------
# The server


class MockAnthropic(LoopbackServer):
    """The mock API on ``127.0.0.1:<free port>``; use as a context manager."""

    thread_name = "mock-anthropic"

    def __init__(self, model: str = "claude-mock-1") -> None:
        super().__init__()
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.tool_calls: list[ToolCall] = []
        #: Problems the mock could not answer as scripted (e.g. no offered tool matched).
        self.errors: list[str] = []
        #: Called with every ``/v1/messages`` request before it is answered (from a handler thread):
        #: lets a test look at the world while Claude Code waits for the model.
        self.on_request: Callable[[RecordedRequest], None] | None = None
        #: Seconds to wait before answering each request that offers tools (a main-conversation
        #: turn): a model's fixed time per request, for the benchmarks.
        self.latency = 0.0
        self._steps: list[Step] = []
        self._routes: list[tuple[Callable[[RecordedRequest], bool], list[Step]]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- script

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def script_for(self, predicate: Callable[[RecordedRequest], bool], *steps: Step) -> None:
        """Queue steps for the requests ``predicate`` picks (checked in the order the routes were
        added); the main script answers every other request that offers tools."""
        with self._lock:
            for known, queue in self._routes:
                if known is predicate:
                    queue.extend(steps)
                    return
            self._routes.append((predicate, list(steps)))

    @property
    def steps_left(self) -> int:
        with self._lock:
            return len(self._steps) + sum(len(queue) for _, queue in self._routes)

    def _queue_for(self, request: RecordedRequest) -> list[Step]:
        for predicate, queue in self._routes:
            if predicate(request):
                return queue
        return self._steps

    # --- what was received

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    def message_requests(self, *, with_tools: bool | None = None) -> list[RecordedRequest]:
        out = [r for r in self.snapshot() if r.is_messages]
        if with_tools is not None:
            out = [r for r in out if bool(r.tools) == with_tools]
        return out

    def all_text(self) -> str:
        """Every request's whole body as text (for asserting what never reached the model)."""
        return "\n".join(request.raw_text() for request in self.snapshot())

    def tool_results(self) -> list[ToolResult]:
        """Every distinct tool_result the model received (the first request that carried each)."""
        seen: set[str] = set()
        out = []
        for request in self.message_requests():
            for result in request.tool_results():
                if result.tool_use_id not in seen:
                    seen.add(result.tool_use_id)
                    out.append(result)
        return out

    # --- answering (called from the handler threads)

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> RecordedRequest:
        with self._lock:
            request = RecordedRequest(len(self.requests), method, path, headers, body)
            self.requests.append(request)
            return request

    def _next_message(self, request: RecordedRequest) -> dict[str, Any]:
        """The assistant message answering ``request``."""
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model") or self.model)
        step: Step | None = None
        if request.tools:
            with self._lock:
                queue = self._queue_for(request)
                step = queue.pop(0) if queue else None
        content: list[dict[str, Any]] = []
        stop_reason = "end_turn"
        if step is None:
            content.append({"type": "text", "text": SIDE_TEXT if not request.tools else EXHAUSTED_TEXT})
        else:
            if step.text:
                content.append({"type": "text", "text": step.text})
            if step.tool_substring is not None:
                names = request.tool_names
                name = (
                    step.tool_substring
                    if step.tool_substring in names
                    else next((n for n in names if step.tool_substring in n), None)
                )
                if name is None:
                    problem = (
                        f"request {request.index}: no offered tool contains {step.tool_substring!r}; "
                        f"offered: {request.tool_names}"
                    )
                    with self._lock:
                        self.errors.append(problem)
                    content.append({"type": "text", "text": f"(mock: {problem})"})
                else:
                    tool_use_id = f"toolu_mock{next(self._ids):04d}"
                    content.append(
                        {"type": "tool_use", "id": tool_use_id, "name": name, "input": step.arguments}
                    )
                    stop_reason = "tool_use"
                    with self._lock:
                        self.tool_calls.append(ToolCall(request.index, tool_use_id, name, step.arguments))
        input_tokens = max(1, len(json.dumps(body)) // 4)
        output_tokens = max(1, len(json.dumps(content)) // 4)
        return {
            "id": f"msg_mock{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }


def sse_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Messages streaming events that spell out ``message``."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            text = block["text"]
            for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                if piece:
                    yield (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
        else:  # tool_use
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                },
            )
            raw = json.dumps(block["input"])
            for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


class _Handler(LoopbackHandler):
    owner: MockAnthropic

    def _extra_headers(self) -> dict[str, str]:
        return {"request-id": f"req_mock{next(self.owner._ids):04d}"}

    def do_GET(self) -> None:
        self.owner._record("GET", self.path, dict(self.headers.items()), None)
        self._send_json(200, {"data": [], "has_more": False})

    def do_POST(self) -> None:
        raw, body = self._read_json()
        request = self.owner._record("POST", self.path, dict(self.headers.items()), body)
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/v1/messages/count_tokens"):
            self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            return
        if not request.is_messages:
            self._send_json(200, {})
            return
        if self.owner.on_request is not None:
            try:
                self.owner.on_request(request)
            except Exception as exc:  # reported to the test, never to Claude Code
                self.owner.errors.append(f"on_request failed on request {request.index}: {exc!r}")
        if self.owner.latency and request.tools:
            time.sleep(self.owner.latency)
        message = self.owner._next_message(request)
        if isinstance(body, dict) and body.get("stream"):
            stream = "".join(
                f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in sse_events(message)
            )
            self._send(200, stream.encode(), "text/event-stream; charset=utf-8")
        else:
            self._send_json(200, message)


MockAnthropic.handler = _Handler
