"""A scripted mock of the OpenAI Responses API, good enough to drive the real Codex offline.

Stdlib only. Every ``POST .../responses`` consumes the next scripted :class:`Step` (or answers a short
default text when the script is exhausted) and streams it back as Server-Sent Events the way Codex parses
them (``event: <type>`` + ``data: <json with the same "type">``). Every request is recorded.

    with MockResponses() as mock:
        mock.script([exec_cmd("touch made.txt"), say("done")])
        ...  # point Codex at mock.base_url
        assert "made.txt" in mock.last_input_text()

``MockResponses(latency=S)`` waits S seconds before answering each request that is not a side request
(a model's fixed time per request, for the benchmarks). ``MockResponses(reviewer=True)`` ignores the
script and answers every turn request as :func:`review_step` decides: an honest reviewer of the diff
codex-fusion's ``review_diff`` prompt shows it (see there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from loopback import LoopbackHandler

__all__ = [
    "FunctionCall",
    "MockResponses",
    "Patch",
    "Reasoning",
    "RecordedRequest",
    "Shell",
    "Step",
    "Text",
    "apply_patch",
    "error",
    "exec_cmd",
    "function_call",
    "long",
    "plant_review",
    "read_file",
    "reason",
    "review_step",
    "say",
    "slow",
    "then",
]

DEFAULT_USAGE: dict[str, Any] = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 20},
    "output_tokens": 30,
    "output_tokens_details": {"reasoning_tokens": 5},
    "total_tokens": 150,
}

# Shell tool names Codex may offer, in order of preference when several are offered.
SHELL_TOOLS = ("exec_command", "shell_command", "shell")


# --------------------------------------------------------------------------------------------------
# Script items and steps


@dataclass(frozen=True)
class Text:
    """An assistant message streamed as ``chunks`` ``response.output_text.delta`` events."""

    text: str
    chunks: int = 1
    delay: float = 0.0  # seconds before each delta


@dataclass(frozen=True)
class Reasoning:
    """A reasoning item whose summary is streamed as ``response.reasoning_summary_text.delta``."""

    text: str
    chunks: int = 1
    delay: float = 0.0


@dataclass(frozen=True)
class Shell:
    """A command, sent with whichever shell tool the request offers."""

    cmd: str
    escalate: bool = False
    justification: str | None = None
    workdir: str | None = None
    tool: str | None = None  # force a tool name instead of picking from the request's tools


@dataclass(frozen=True)
class Patch:
    """An ``apply_patch`` call (custom tool call or function call, whichever the request offers)."""

    patch: str


@dataclass(frozen=True)
class FunctionCall:
    """A raw function call with explicit name and arguments."""

    name: str
    arguments: dict[str, Any]
    namespace: str | None = None  # a deferred MCP tool: ``mcp__<server>`` (Codex's tool_search)


@dataclass(frozen=True)
class ToolSearch:
    """A ``tool_search_call``: Codex keeps MCP tools deferred until the model searches for them."""

    query: str
    limit: int = 8


@dataclass(frozen=True)
class Relay:
    """Assistant text quoting the newest tool output in the request (how a host's model answers
    with what a tool returned): ``prefix`` then that output."""

    prefix: str = ""


Item = Text | Reasoning | Shell | Patch | FunctionCall | ToolSearch | Relay


@dataclass(frozen=True)
class Step:
    """What to answer to one POST. Either ``items`` (streamed), or an error."""

    items: tuple[Item, ...] = ()
    usage: dict[str, Any] | None = None  # None -> DEFAULT_USAGE
    http_status: int | None = None  # answer a plain HTTP error instead of a stream
    failed_message: str | None = None  # stream ``response.failed`` with this message
    error_code: str | None = None
    complete: bool = True  # False: end the stream without response.completed
    wait: float = 0.0  # seconds before answering (e.g. until a host's MCP servers are up)
    #: Answer the next request with this same step again while this holds of it (a model that
    #: searches until a server's tools turn up, or polls a handle), ``retries`` times at most.
    again_while: Callable[[RecordedRequest], bool] | None = None
    retries: int = 30


def say(text: str, chunks: int = 1, delay: float = 0.0) -> Step:
    """Plain assistant text, streamed in ``chunks`` deltas with ``delay`` seconds before each."""
    return Step(items=(Text(text, chunks=max(1, chunks), delay=delay),))


def reason(thought: str, text: str = "ok", chunks: int = 1) -> Step:
    """A reasoning summary (-> ACP ``agent_thought_chunk``) followed by assistant text."""
    return Step(items=(Reasoning(thought, chunks=max(1, chunks)), Text(text)))


def exec_cmd(
    cmd: str,
    escalate: bool = True,
    justification: str | None = "Needed for the test",
    workdir: str | None = None,
    tool: str | None = None,
) -> Step:
    """A shell command. ``escalate`` asks for ``sandbox_permissions: require_escalated``, which makes
    Codex request an approval (in an on-request approval mode)."""
    return Step(
        items=(Shell(cmd, escalate=escalate, justification=justification, workdir=workdir, tool=tool),)
    )


def apply_patch(patch_text: str) -> Step:
    """An ``apply_patch`` edit (``*** Begin Patch`` ... ``*** End Patch``)."""
    return Step(items=(Patch(patch_text),))


def read_file(path: str) -> Step:
    """Make Codex read a file: Codex has no dedicated read tool in these versions; it classifies a
    ``cat``/``sed -n`` command as a read (ACP tool kind ``read``)."""
    return Step(items=(Shell(f"cat {path}", escalate=False, justification=None),))


def function_call(name: str, **arguments: Any) -> Step:
    return Step(items=(FunctionCall(name, arguments),))


def tool_search(query: str, limit: int = 8, until: str | None = None, wait: float = 0.0) -> Step:
    """A search; with ``until``, searched again until that namespace is in its output (a host lists an
    MCP server's tools only once the server is up)."""
    again = (lambda rec: until not in searched(rec)) if until is not None else None
    return Step(items=(ToolSearch(query, limit),), wait=wait, again_while=again)


def searched(rec: RecordedRequest) -> list[str]:
    """The namespaces the newest ``tool_search_output`` in a request holds."""
    for item in reversed(rec.input_items()):
        if isinstance(item, dict) and item.get("type") == "tool_search_output":
            return [str(t.get("name")) for t in item.get("tools", []) if isinstance(t, dict)]
    return []


def _again(previous: Step | None, rec: RecordedRequest) -> Step | None:
    """``previous`` once more, if its ``again_while`` holds of this request."""
    if previous is None or previous.again_while is None or previous.retries <= 0:
        return None
    if not previous.again_while(rec):
        return None
    return dataclasses.replace(previous, retries=previous.retries - 1, wait=max(previous.wait, 0.5))


def mcp_call(server: str, tool: str, **arguments: Any) -> Step:
    """A call to an MCP server's tool as Codex 0.166 expects it after ``tool_search``."""
    return Step(items=(FunctionCall(tool, arguments, namespace=f"mcp__{server}"),))


def relay(prefix: str = "") -> Step:
    return Step(items=(Relay(prefix),))


def tool_output(rec: RecordedRequest) -> str:
    """The newest ``function_call_output`` in a request, as text ("" if none)."""
    for item in reversed(rec.input_items()):
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            return "\n".join(_texts([item]))
    return ""


def slow(text: str, chunk_delay: float, chunks: int | None = None) -> Step:
    """Text streamed slowly: one delta per word (or ``chunks`` deltas), ``chunk_delay`` s apart."""
    n = chunks if chunks is not None else max(1, len(text.split()))
    return Step(items=(Text(text, chunks=n, delay=chunk_delay),))


def long(n_chunks: int, word: str = "lorem") -> Step:
    """A long answer made of ``n_chunks`` deltas."""
    return Step(items=(Text(" ".join(f"{word}{i}" for i in range(n_chunks)), chunks=n_chunks),))


def error(
    status: int = 500, message: str = "mock failure", sse: bool = False, code: str | None = None
) -> Step:
    """An HTTP error (``sse=False``) or a ``response.failed`` event inside a 200 stream (``sse=True``)."""
    if sse:
        return Step(failed_message=message, error_code=code)
    return Step(http_status=status, failed_message=message, error_code=code)


def then(*steps: Step) -> Step:
    """Concatenate the items of several steps into one response (e.g. text + a tool call)."""
    return Step(items=tuple(itertools.chain.from_iterable(s.items for s in steps)))


# --------------------------------------------------------------------------------------------------
# Recording


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    raw: bytes = b""
    step: Step | None = None  # the step that answered it
    aborted: bool = False  # the client went away before the stream finished
    received_at: float = field(default_factory=time.monotonic)
    side: bool = False  # an auxiliary request (e.g. title generation) answered outside the script

    def tools(self) -> list[dict[str, Any]]:
        """Every offered tool: top-level ``tools`` plus ``additional_tools`` input items, with namespaces
        flattened (bundled Codex 0.166 puts some tools inside ``input``)."""
        out: list[dict[str, Any]] = []

        def walk(tools: Any) -> None:
            for t in tools if isinstance(tools, list) else []:
                if not isinstance(t, dict):
                    continue
                if t.get("type") == "namespace":
                    walk(t.get("tools"))
                else:
                    out.append(t)

        walk((self.body or {}).get("tools"))
        for item in self.input_items():
            if isinstance(item, dict) and item.get("type") == "additional_tools":
                walk(item.get("tools"))
        return out

    @property
    def tool_names(self) -> list[str]:
        return [name for name in (_tool_name(t) for t in self.tools()) if name]

    def tool(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.tools() if _tool_name(t) == name), None)

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema of a structured-output request (``text.format.type == "json_schema"``)."""
        fmt = ((self.body or {}).get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
            return fmt["schema"]
        return None

    def input_items(self) -> list[dict[str, Any]]:
        items = (self.body or {}).get("input", [])
        return items if isinstance(items, list) else []

    def input_text(self) -> str:
        """All text in ``input`` (messages, tool outputs, tool call arguments), newline-joined."""
        return "\n".join(_texts(self.input_items()))

    def user_texts(self) -> list[str]:
        out: list[str] = []
        for item in self.input_items():
            if item.get("type", "message") == "message" and item.get("role") == "user":
                out.extend(_texts([item]))
        return out


def _is_responses(rec: RecordedRequest) -> bool:
    return rec.method == "POST" and rec.path.rstrip("/").endswith("/responses")


def _tool_name(tool: dict[str, Any]) -> str:
    if "name" in tool:
        return str(tool["name"])
    fn = tool.get("function")
    if isinstance(fn, dict) and "name" in fn:
        return str(fn["name"])
    return str(tool.get("type", ""))


def _texts(items: Iterable[Any]) -> Iterator[str]:
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key in ("text", "output", "input", "arguments"):
                value = item.get(key)
                if isinstance(value, str):
                    yield value
                elif isinstance(value, list):
                    yield from _texts(value)
            content = item.get("content")
            if isinstance(content, str):
                yield content
            elif isinstance(content, list):
                yield from _texts(content)
            summary = item.get("summary")
            if isinstance(summary, list):
                yield from _texts(summary)


# --------------------------------------------------------------------------------------------------
# The reviewer


#: A finding the reviewer reports: a file's marker, as planted in the benchmark's files.
FLAW = re.compile(r"FLAW-[0-9a-f]{8}")
#: ``review_diff``'s summary line for one changed file (prompts.review_diff).
_CHANGE = re.compile(r"^- (\S+) \((.*)\)$", re.M)
_DIFF_HEAD = re.compile(r"^diff --git a/(\S+) b/\S+$", re.M)
#: What a part's note says in a review done in parts (shards.py): the other files are covered.
PARALLEL_NOTE = "other reviewers have the other files"


def plant_review(workspace: Path, files: int, chars: int) -> dict[str, str]:
    """Write ``files`` new files of about ``chars`` characters each under ``workspace/src``, each with
    one ``FLAW-…`` marker line; returns {path: marker}. Untracked files are part of ``review_diff``'s
    default diff."""
    planted: dict[str, str] = {}
    (workspace / "src").mkdir(parents=True, exist_ok=True)
    for index in range(files):
        path = f"src/mod_{index:02d}.py"
        marker = "FLAW-" + hashlib.sha256(path.encode()).hexdigest()[:8]
        body = [f"def f{index}_{n}(x):\n    return x + {n}\n" for n in range(max(1, chars // 32))]
        body.insert(len(body) // 2, f"# {marker}: an off-by-one in the loop below\n")
        (workspace / path).write_text("".join(body))
        planted[path] = marker
    return planted


def _block(text: str, tag: str) -> str:
    start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
    return text[start + len(tag) + 2 : end] if start != -1 and end > start else ""


def _reads(rec: RecordedRequest) -> dict[str, str]:
    """What each ``cat <path>`` the reviewer asked for gave it, by path."""
    asked: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for item in rec.input_items():
        if item.get("type") == "function_call":
            try:
                args = json.loads(item.get("arguments") or "{}")
            except ValueError:
                continue
            cmd = args.get("cmd") or args.get("command") or ""
            cmd = cmd[-1] if isinstance(cmd, list) and cmd else cmd
            if isinstance(cmd, str) and cmd.startswith("cat "):
                asked[str(item.get("call_id"))] = cmd[4:].strip()
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            outputs[str(item.get("call_id"))] = output if isinstance(output, str) else json.dumps(output)
    return {path: outputs.get(call_id, "") for call_id, path in asked.items()}


def review_step(rec: RecordedRequest) -> Step:
    """The next step of an honest reviewer of a ``review_diff`` prompt.

    It reviews what it was shown: each file whose diff is in the prompt's ``<diff>``, and each file
    the ``<changes>`` summary marks "not shown below" — which it reads itself with one ``cat <path>``
    per request, as a model told "read them in the workspace" would, unless the prompt says other
    reviewers have those files (a part of a review done in parts). Once it has read them all, it
    answers one finding line per file it saw, ``- <path>: minor: <the file's FLAW-… marker>`` (from the
    text it was shown for that file; "nothing found" when there is none), then a VERDICT line. It
    never reports a file it was not shown, so two reviews find the same only if they saw the same."""
    prompt = next((t for t in reversed(rec.user_texts()) if "<diff>" in t), "")
    diff = _block(prompt, "diff")
    heads = list(_DIFF_HEAD.finditer(diff))
    shown = {
        m.group(1): diff[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(diff)]
        for i, m in enumerate(heads)
    }
    left_out = [
        path for path, what in _CHANGE.findall(_block(prompt, "changes")) if "not shown below" in what
    ]
    to_read = [] if PARALLEL_NOTE in prompt else [p for p in left_out if p not in shown]
    reads = _reads(rec)
    unread = next((path for path in to_read if path not in reads), None)
    if unread is not None:
        return exec_cmd(f"cat {unread}", escalate=False, justification=None)
    seen = {**shown, **{path: reads[path] for path in to_read}}
    lines = []
    for path in sorted(seen):
        marker = FLAW.search(seen[path])
        lines.append(f"- {path}: minor: {marker.group() if marker else 'nothing found'}")
    found = sum("nothing found" not in line for line in lines)
    verdict = (
        f"VERDICT: OPEN — {found} minor finding(s) to fix" if found else "VERDICT: CONSENSUS — no issues"
    )
    return say("\n".join([f"Reviewed {len(seen)} file(s).", *lines, verdict]))


# --------------------------------------------------------------------------------------------------
# Server


class _ClientGone(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    mock: MockResponses


class _Handler(LoopbackHandler):
    server: _Server
    timeout = 30  # socket timeout for reads: never hang a handler thread forever

    def _record(self, body: bytes) -> RecordedRequest:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        rec = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=parsed,
            raw=body,
        )
        # Structured-output requests are side requests (TS: thread title generation, model gpt-5.6-luna).
        # They race with the turn's own request, so they never consume a scripted step.
        rec.side = self.command == "POST" and rec.output_schema is not None
        self.server.mock._add(rec)
        return rec

    # -- verbs

    def do_GET(self) -> None:
        self._record(b"")
        self._send_json(200, {"object": "list", "data": [], "models": []})

    def do_POST(self) -> None:
        rec = self._record(self._read_body())
        mock = self.server.mock
        if not self.path.rstrip("/").endswith("/responses"):
            self._send_json(404, {"error": {"message": f"mock: no route {self.path}", "type": "not_found"}})
            return
        if mock.together and not rec.side:
            mock._meet()
        if mock.latency and not rec.side:
            try:
                self._sleep_watching(mock.latency)
            except _ClientGone:
                rec.aborted = True
                return
        step = mock._step_for(rec)
        rec.step = step
        if step.wait:
            try:
                self._sleep_watching(step.wait)
            except _ClientGone:
                rec.aborted = True
                return
        if step.http_status is not None:
            self._send_json(
                step.http_status,
                {
                    "error": {
                        "message": step.failed_message or "mock failure",
                        "type": "server_error",
                        "code": step.error_code,
                    }
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        mock._stream_started.set()
        try:
            for event_type, data, delay in _render(step, rec, next(mock._ids)):
                if delay:
                    self._sleep_watching(delay)
                payload = {"type": event_type, **data}
                self.wfile.write(f"event: {event_type}\ndata: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()
        except (_ClientGone, BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            rec.aborted = True
            mock._aborted.set()

    def _sleep_watching(self, seconds: float) -> None:
        """Sleep, but notice at once when the client disconnects or the mock stops."""
        deadline = time.monotonic() + seconds
        mock = self.server.mock
        sock = self.connection
        while True:
            if mock._stopping.is_set():
                raise _ClientGone
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable:
                try:
                    peek = sock.recv(1, socket.MSG_PEEK)
                except OSError as exc:
                    raise _ClientGone from exc
                if not peek:
                    raise _ClientGone
                # The client sent something (unexpected for SSE); avoid a busy loop.
                time.sleep(min(left, 0.05))


def _render(step: Step, rec: RecordedRequest, n: int) -> Iterator[tuple[str, dict[str, Any], float]]:
    """Yield (event type, data, delay before sending) for one response."""
    resp_id = f"resp_mock_{n}"
    yield "response.created", {"response": {"id": resp_id, "status": "in_progress"}}, 0.0
    if step.failed_message is not None:
        yield (
            "response.failed",
            {
                "response": {
                    "id": resp_id,
                    "status": "failed",
                    "error": {
                        "type": "server_error",
                        "code": step.error_code,
                        "message": step.failed_message,
                    },
                }
            },
            0.0,
        )
        return
    for index, item in enumerate(step.items):
        item_id = f"{n}_{index}"
        if isinstance(item, Relay):
            item = Text(item.prefix + tool_output(rec))
        if isinstance(item, Text):
            msg_id = f"msg_{item_id}"
            yield (
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": {"type": "message", "role": "assistant", "id": msg_id, "content": []},
                },
                0.0,
            )
            for piece in _split(item.text, item.chunks):
                yield (
                    "response.output_text.delta",
                    {"delta": piece, "item_id": msg_id, "output_index": index, "content_index": 0},
                    item.delay,
                )
            yield (
                "response.output_item.done",
                {
                    "output_index": index,
                    "item": {
                        "type": "message",
                        "role": "assistant",
                        "id": msg_id,
                        "content": [{"type": "output_text", "text": item.text}],
                    },
                },
                0.0,
            )
        elif isinstance(item, Reasoning):
            rs_id = f"rs_{item_id}"
            yield (
                "response.output_item.added",
                {"output_index": index, "item": {"type": "reasoning", "id": rs_id, "summary": []}},
                0.0,
            )
            yield (
                "response.reasoning_summary_part.added",
                {
                    "item_id": rs_id,
                    "output_index": index,
                    "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""},
                },
                0.0,
            )
            for piece in _split(item.text, item.chunks):
                yield (
                    "response.reasoning_summary_text.delta",
                    {"delta": piece, "item_id": rs_id, "output_index": index, "summary_index": 0},
                    item.delay,
                )
            yield (
                "response.output_item.done",
                {
                    "output_index": index,
                    "item": {
                        "type": "reasoning",
                        "id": rs_id,
                        "summary": [{"type": "summary_text", "text": item.text}],
                    },
                },
                0.0,
            )
        else:
            yield (
                "response.output_item.done",
                {"output_index": index, "item": _call_item(item, rec, item_id)},
                0.0,
            )
    if step.complete:
        usage = step.usage if step.usage is not None else DEFAULT_USAGE
        yield "response.completed", {"response": {"id": resp_id, "status": "completed", "usage": usage}}, 0.0


def _call_item(
    item: Shell | Patch | FunctionCall | ToolSearch, rec: RecordedRequest, item_id: str
) -> dict[str, Any]:
    call_id = f"call_{item_id}"
    if isinstance(item, ToolSearch):
        return {
            "type": "tool_search_call",
            "id": f"tsc_{item_id}",
            "call_id": call_id,
            "status": "completed",
            "execution": "client",
            "arguments": {"query": item.query, "limit": item.limit},
        }
    if isinstance(item, FunctionCall):
        call = _function_call(item.name, item.arguments, call_id, item_id)
        return call if item.namespace is None else {**call, "namespace": item.namespace}
    if isinstance(item, Patch):
        tool = rec.tool("apply_patch")
        if tool is not None and tool.get("type") == "custom":
            return {
                "type": "custom_tool_call",
                "id": f"ctc_{item_id}",
                "call_id": call_id,
                "name": "apply_patch",
                "input": item.patch,
            }
        return _function_call("apply_patch", {"input": item.patch}, call_id, item_id)
    # Shell
    offered = rec.tool_names
    name = item.tool or next((t for t in SHELL_TOOLS if t in offered), "shell_command")
    args: dict[str, Any]
    if name == "exec_command":
        args = {"cmd": item.cmd}
    elif name == "shell":
        args = {"command": ["bash", "-lc", item.cmd]}
    else:
        args = {"command": item.cmd}
    if item.workdir:
        args["workdir"] = item.workdir
    if item.escalate:
        args["sandbox_permissions"] = "require_escalated"
        if item.justification:
            args["justification"] = item.justification
    return _function_call(name, args, call_id, item_id)


def _function_call(name: str, args: dict[str, Any], call_id: str, item_id: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{item_id}",
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(args),
    }


def _split(text: str, n: int) -> list[str]:
    """Split ``text`` into ``n`` non-empty pieces (fewer if the text is shorter), keeping words whole
    when possible."""
    if n <= 1 or len(text) <= 1:
        return [text]
    words = text.split(" ")
    if len(words) >= n:
        per = len(words) / n
        bounds = [round(i * per) for i in range(n + 1)]
        pieces = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(n)]
        return [p + (" " if i < n - 1 else "") for i, p in enumerate(pieces)]
    n = min(n, len(text))
    size = len(text) / n
    return [text[round(i * size) : round((i + 1) * size)] for i in range(n)]


def _example(schema: dict[str, Any]) -> Any:
    """A small value satisfying a (simple) JSON schema."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _example(v) if isinstance(v, dict) else "mock" for k, v in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return "Mock title"


class MockResponses:
    """Scripted Responses API on ``127.0.0.1:<ephemeral port>``, served from a background thread."""

    def __init__(
        self,
        steps: Iterable[Step] = (),
        default_text: str = "ok",
        *,
        latency: float = 0.0,
        reviewer: bool = False,
        together: int = 0,
    ) -> None:
        self.default_text = default_text
        #: The first ``together`` turn requests are answered only once all of them are in flight at
        #: once (60 s at most): ``gathered`` then says whether they were (sessions that run at once).
        self.together = together
        self.gathered: bool | None = None
        self._met = 0
        self._meeting = threading.Condition()
        #: Seconds to wait before answering each request that is not a side request.
        self.latency = latency
        #: Answer every turn request with :func:`review_step` instead of the script.
        self.reviewer = reviewer
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._script: list[Step] = list(steps)
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._stream_started = threading.Event()
        self._aborted = threading.Event()
        self._new_request = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def _meet(self) -> None:
        """Hold one of the first ``together`` turn requests until all of them are in flight."""
        with self._meeting:
            if self._met >= self.together:
                return
            self._met += 1
            self._meeting.notify_all()
            met = self._meeting.wait_for(lambda: self._met >= self.together, timeout=60)
            self.gathered = met if self.gathered is None else self.gathered and met

    # -- lifecycle

    def start(self) -> MockResponses:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.mock = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MockResponses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("MockResponses not started")
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script

    def script(self, steps: Iterable[Step]) -> None:
        """Replace the remaining script."""
        with self._lock:
            self._script = list(steps)
            self._stream_started.clear()
            self._aborted.clear()

    def add(self, *steps: Step) -> None:
        """Append to the remaining script."""
        with self._lock:
            self._script.extend(steps)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _step_for(self, rec: RecordedRequest) -> Step:
        schema = rec.output_schema
        if rec.side and schema is not None:
            return say(json.dumps(_example(schema)))
        if self.reviewer:
            return review_step(rec)
        with self._lock:
            answered = [r.step for r in self.requests if r.step is not None and not r.side]
            again = _again(answered[-1] if answered else None, rec)
            if again is not None:
                return again
            if self._script:
                return self._script.pop(0)
        return say(self.default_text)

    # -- recording

    def _add(self, rec: RecordedRequest) -> None:
        with self._new_request:
            self.requests.append(rec)
            self._new_request.notify_all()

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST .../responses`` requests (side requests included), in order."""
        with self._lock:
            return [r for r in self.requests if _is_responses(r)]

    @property
    def turn_requests(self) -> list[RecordedRequest]:
        """The ``POST .../responses`` requests that consumed the script (no side requests), in order."""
        with self._lock:
            return [r for r in self.requests if _is_responses(r) and not r.side]

    def last_request(self) -> RecordedRequest:
        reqs = self.turn_requests
        if not reqs:
            raise AssertionError("the mock received no (non-side) POST /responses")
        return reqs[-1]

    def last_input_text(self) -> str:
        return self.last_request().input_text()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` (non-side) POST /responses requests were received."""
        deadline = time.monotonic() + timeout
        with self._new_request:
            while True:
                count = sum(1 for r in self.requests if _is_responses(r) and not r.side)
                if count >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._new_request.wait(left)

    def wait_stream_started(self, timeout: float = 10.0) -> bool:
        return self._stream_started.wait(timeout)

    def wait_aborted(self, timeout: float = 10.0) -> bool:
        """Wait until a stream was cut short because the client disconnected."""
        return self._aborted.wait(timeout)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._stream_started.clear()
            self._aborted.clear()


if __name__ == "__main__":  # manual poking: python tests/e2e/mock_openai.py
    with MockResponses([say("hello from the mock", chunks=3)]) as m:
        print(m.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


def tool_outputs(mock: MockResponses) -> dict[str, str]:
    """What each tool call gave the model, by its command (or view_image path)."""
    calls: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for request in mock.turn_requests:
        for item in request.input_items():
            if item.get("type") == "function_call":
                args = json.loads(item.get("arguments") or "{}")
                calls[item["call_id"]] = str(args.get("cmd") or args.get("command") or args.get("path"))
            elif item.get("type") == "function_call_output":
                output = item.get("output")
                outputs[item["call_id"]] = output if isinstance(output, str) else json.dumps(output)
    return {calls[call_id]: text for call_id, text in outputs.items() if call_id in calls}
