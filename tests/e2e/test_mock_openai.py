"""Self-tests of the mock Responses API (no adapters needed)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from mock_openai import MockResponses, apply_patch, error, exec_cmd, plant_review, reason, say, slow

from codex_fusion.review import parts as shards
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs import DiffRequest, collect_diff

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


# -- the reviewer mode (bench/council.py's sharded review) ------------------------------------------


def _git_repo(path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_GLOBAL": os.devnull}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(path)}
    (path / "README.md").write_text("# demo\n")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
    ):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)


def _review(mock: MockResponses, prompt: str, reads: dict[str, str]) -> tuple[list[str], str]:
    """Drive the reviewer to its answer, playing Codex: run each `cat` it asks for (from ``reads``).
    Returns (the paths it read, in order; its answer)."""
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}
    ]
    read: list[str] = []
    for _ in range(50):
        events = _post(mock, {"input": items, **TOOLS})
        done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        calls = [item for item in done if item["type"] == "function_call"]
        if not calls:
            return read, "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        (call,) = calls  # one read per request
        path = json.loads(call["arguments"])["cmd"].removeprefix("cat ")
        read.append(path)
        items += [call, {"type": "function_call_output", "call_id": call["call_id"], "output": reads[path]}]
    raise AssertionError("the reviewer never answered")


def test_the_reviewer_reads_what_was_left_out_one_file_per_request_and_reports_what_it_saw(
    tmp_path: Path,
) -> None:
    _git_repo(tmp_path)
    planted = plant_review(tmp_path, files=8, chars=2_000)
    material = anyio.run(lambda: collect_diff(tmp_path, DiffRequest(), max_chars=5_000))
    shown = {path for path, _ in material.sections}
    assert 0 < len(shown) < 8  # the budget leaves some out, as in a lone review of a large diff
    contents = {path: (tmp_path / path).read_text() for path in planted}
    with MockResponses(reviewer=True) as mock:
        read, answer = _review(mock, review_prompts.review_diff(material, None, None).text(), contents)
        assert read == sorted(set(planted) - shown)  # each file left out, once, one per request
        assert len(mock.turn_requests) == len(read) + 1
        findings = {line for line in answer.splitlines() if line.startswith("- ")}
        assert findings == {f"- {path}: minor: {marker}" for path, marker in planted.items()}
        assert answer.splitlines()[-1] == f"VERDICT: OPEN — {len(planted)} minor finding(s) to fix"

        # A part of a review in parts reads nothing: other reviewers have the other files.
        whole = anyio.run(lambda: collect_diff(tmp_path, DiffRequest(), max_chars=50_000))
        # each part's budget holds its prompt's own text (the findings format) and two of the files
        parts = shards.plan(whole, 8_000)
        assert parts is not None
        assert len(parts) > 1
        union: set[str] = set()
        for part in parts:
            read, answer = _review(mock, review_prompts.review_diff(part, None, None).text(), contents)
            assert read == []
            union |= {line for line in answer.splitlines() if line.startswith("- ")}
        assert union == findings  # the parts together found what the lone review found


def test_latency_delays_turn_requests_only() -> None:
    with MockResponses([say("a"), say("b")], latency=1.5) as mock:
        started = time.monotonic()
        _post(mock, {})
        assert time.monotonic() - started >= 1.5
        started = time.monotonic()
        side = {"text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}}
        _post(mock, side)
        assert time.monotonic() - started < 1.5  # a hang detector for a side request, not a speed bound
