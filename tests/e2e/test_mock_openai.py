"""Self-tests of the mock Responses API (no adapters needed)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from mock_openai import MockResponses, apply_patch, error, exec_cmd, reason, say, slow

pytestmark = pytest.mark.e2e


def _post(mock: MockResponses, body: dict[str, Any]) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        mock.base_url + "/responses",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        raw = resp.read().decode()
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        events.append(data)
    return events


TOOLS = {"tools": [{"type": "function", "name": "exec_command"}, {"type": "custom", "name": "apply_patch"}]}


def test_text_reasoning_usage_and_recording():
    with MockResponses([reason("hmm", "Hello there world"), say("a b c", chunks=3)]) as mock:
        events = _post(
            mock,
            {
                "input": [
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
                ]
            },
        )
        types = [e["type"] for e in events]
        assert types[0] == "response.created"
        assert "response.reasoning_summary_text.delta" in types
        assert types[-1] == "response.completed"
        usage = events[-1]["response"]["usage"]
        assert usage["input_tokens_details"]["cached_tokens"] == 20
        assert usage["output_tokens_details"]["reasoning_tokens"] == 5
        deltas = [e["delta"] for e in _post(mock, {}) if e["type"] == "response.output_text.delta"]
        assert deltas == ["a ", "b ", "c"]
        assert [e["delta"] for e in _post(mock, {}) if e["type"] == "response.output_text.delta"] == ["ok"]
        assert mock.turn_requests[0].user_texts() == ["hi"]
        assert "hi" in mock.turn_requests[0].input_text()
        with urllib.request.urlopen(mock.base_url + "/models", timeout=5) as resp:
            assert json.load(resp) == {"object": "list", "data": [], "models": []}


def test_tool_calls_follow_offered_tools():
    with MockResponses(
        [exec_cmd("ls", justification="why"), apply_patch("*** Begin Patch\n*** End Patch\n")]
    ) as mock:
        call = _post(mock, TOOLS)[1]["item"]
        assert call["name"] == "exec_command"
        assert json.loads(call["arguments"]) == {
            "cmd": "ls",
            "sandbox_permissions": "require_escalated",
            "justification": "why",
        }
        patch = _post(mock, TOOLS)[1]["item"]
        assert patch["type"] == "custom_tool_call"
        assert patch["input"].startswith("*** Begin Patch")
        mock.script([exec_cmd("ls", escalate=False), apply_patch("P")])
        shell = _post(mock, {"tools": [{"type": "function", "name": "shell"}]})[1]["item"]
        assert json.loads(shell["arguments"]) == {"command": ["bash", "-lc", "ls"]}
        fn_patch = _post(mock, {"tools": [{"type": "function", "name": "apply_patch"}]})[1]["item"]
        assert fn_patch["type"] == "function_call"
        assert json.loads(fn_patch["arguments"]) == {"input": "P"}


def test_side_requests_do_not_consume_the_script():
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    with MockResponses([say("scripted")]) as mock:
        side = _post(mock, {"text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}})
        assert json.loads(side[-2]["item"]["content"][0]["text"]) == {"title": "Mock title"}
        assert mock.remaining == 1
        assert mock.turn_requests == []
        deltas = [e["delta"] for e in _post(mock, {}) if e["type"] == "response.output_text.delta"]
        assert deltas == ["scripted"]


def test_errors():
    with MockResponses([error(503, "down"), error(message="bad", sse=True)]) as mock:
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(mock, {})
        assert info.value.code == 503
        assert json.loads(info.value.read())["error"]["message"] == "down"
        failed = _post(mock, {})
        assert [e["type"] for e in failed] == ["response.created", "response.failed"]
        assert failed[1]["response"]["error"]["message"] == "bad"


def test_slow_stream_aborts_on_disconnect_and_stop_is_prompt():
    mock = MockResponses([slow("a b c d e f g h", chunk_delay=1.0)]).start()
    req = urllib.request.Request(mock.base_url + "/responses", data=b"{}")
    resp = urllib.request.urlopen(req, timeout=10)
    resp.readline()
    resp.close()
    assert mock.wait_aborted(3)
    assert mock.requests[-1].aborted

    mock.script([slow("a b c d e f g h", chunk_delay=5.0)])
    reader = threading.Thread(target=lambda: urllib.request.urlopen(req, timeout=30).read(), daemon=True)
    reader.start()
    assert mock.wait_stream_started(5)
    started = time.monotonic()
    mock.stop()
    assert time.monotonic() - started < 2.0
    reader.join(5)
    assert not reader.is_alive()
