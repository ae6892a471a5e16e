"""Self-tests of the mock Gemini API and of mock_anthropic's tool choice (no agents needed)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from mock_anthropic import MockAnthropic, call_tool
from mock_gemini import MockGemini, call_function, say

pytestmark = pytest.mark.e2e

TOOLS = {"tools": [{"functionDeclarations": [{"name": "read_file"}, {"name": "run_shell_command"}]}]}


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def _chunks(raw: str) -> list[dict[str, Any]]:
    return [json.loads(block.removeprefix("data: ")) for block in raw.strip().split("\r\n\r\n")]


def test_stream_text_then_function_call_and_the_record() -> None:
    with MockGemini() as mock:
        mock.script(say("Hello there"), call_function("shell", {"command": "ls"}, preface="Let me look."))
        url = f"{mock.base_url}/v1beta/models/gemini-mock-9:streamGenerateContent?alt=sse"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **TOOLS}
        kind, raw = _post(url, body, {"x-goog-api-key": "k1"})
        assert kind == "text/event-stream"
        chunks = _chunks(raw)
        text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
        assert text == "Hello there"
        assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
        assert chunks[-1]["usageMetadata"]["totalTokenCount"] > 0

        follow_up = {
            "contents": [
                *body["contents"],
                {"role": "model", "parts": [{"text": "Hello there"}]},
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "read_file", "response": {"output": "x"}}}],
                },
            ],
            **TOOLS,
        }
        _, raw = _post(url, follow_up)
        parts = [p for c in _chunks(raw) for p in c["candidates"][0]["content"]["parts"]]
        assert {"functionCall": {"name": "run_shell_command", "args": {"command": "ls"}}} in parts
        assert "".join(p.get("text", "") for p in parts) == "Let me look."  # streamed in pieces

        turns = mock.turn_requests()
        assert [r.model for r in turns] == ["gemini-mock-9", "gemini-mock-9"]
        assert turns[0].headers["x-goog-api-key"] == "k1"
        assert turns[0].function_names == ["read_file", "run_shell_command"]
        assert [(r.name, r.response) for r in mock.function_results()] == [("read_file", {"output": "x"})]
        assert mock.steps_left == 0
        assert "hi" in mock.all_text()


def test_side_requests_answer_their_schema_and_leave_the_script_alone() -> None:
    with MockGemini() as mock:
        mock.script(say("for the main conversation"))
        schema = {
            "type": "object",
            "properties": {
                "complexity_reasoning": {"type": "string"},
                "complexity_score": {"type": "number", "minimum": 1, "maximum": 100},
                "model_choice": {"type": "string", "enum": ["flash", "pro"]},
            },
        }
        body = {
            "contents": [{"role": "user", "parts": [{"text": "route"}]}],
            "generationConfig": {"responseJsonSchema": schema},
        }
        kind, raw = _post(f"{mock.base_url}/v1beta/models/gemini-3.5-flash-lite:generateContent", body)
        assert kind.startswith("application/json")
        answer = json.loads(json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"])
        assert answer == {"complexity_reasoning": "mock", "complexity_score": 50, "model_choice": "pro"}
        _, raw = _post(f"{mock.base_url}/v1beta/models/m:countTokens", {"contents": []})
        assert json.loads(raw)["totalTokens"] >= 1
        assert mock.steps_left == 1
        assert mock.turn_requests() == []


def test_an_unknown_function_is_reported_not_guessed() -> None:
    with MockGemini() as mock:
        mock.script(call_function("web_fetch", {}))
        _, raw = _post(f"{mock.base_url}/v1beta/models/m:generateContent", {"contents": [], **TOOLS})
        assert "no offered function matches 'web_fetch'" in raw
        assert mock.errors


def test_mock_anthropic_prefers_the_exact_tool_name_and_records_the_model() -> None:
    with MockAnthropic() as mock:
        mock.script(call_tool("Read", {"file_path": "/x"}), call_tool("Read", {"file_path": "/y"}))
        body = {
            "model": "claude-mock-7",
            "messages": [],
            "tools": [{"name": "NotebookRead"}, {"name": "Read"}],
        }
        _post(f"{mock.base_url}/v1/messages", body)
        _post(f"{mock.base_url}/v1/messages", {**body, "tools": [{"name": "NotebookRead"}]})
        assert [(c.name, c.arguments["file_path"]) for c in mock.tool_calls] == [
            ("Read", "/x"),
            ("NotebookRead", "/y"),
        ]
        assert {r.model for r in mock.message_requests()} == {"claude-mock-7"}
        assert "claude-mock-7" in mock.all_text()


def test_a_wrong_key_is_refused_like_googles_api_and_latency_delays_turns() -> None:
    with MockGemini() as mock:
        mock.api_key, mock.latency = "right", 0.3
        mock.script(say("ok"))
        url = f"{mock.base_url}/v1beta/models/gemini-mock-9:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **TOOLS}
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(url, body, {"x-goog-api-key": ""})
        assert refused.value.code == 400
        assert json.loads(refused.value.read())["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert mock.steps_left == 1  # a refused request takes no step
        started = time.monotonic()
        _post(url, body, {"x-goog-api-key": "right"})
        assert time.monotonic() - started >= 0.3
        assert mock.steps_left == 0
