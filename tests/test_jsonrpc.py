from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_fusion.acp import jsonrpc
from codex_fusion.acp.jsonrpc import LineSplitter, Malformed, Notification, Request, Response


@pytest.mark.parametrize("req_id", [0, 7, "2f9c1e3a-uuid", None])
def test_request_ids_of_any_kind_are_requests(req_id: object) -> None:
    msg = jsonrpc.parse_message(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": "fs/x", "params": {}}))
    assert msg == Request(req_id, "fs/x", {})


def test_notification_response_and_error_are_classified() -> None:
    assert jsonrpc.parse_message(b'{"jsonrpc":"2.0","method":"session/update","params":{"a":1}}') == (
        Notification("session/update", {"a": 1})
    )
    assert jsonrpc.parse_message('{"jsonrpc":"2.0","id":0,"result":null}') == Response(0, result=None)
    msg = jsonrpc.parse_message('{"jsonrpc":"2.0","id":"u","error":{"code":-32000,"message":"Auth"}}')
    assert isinstance(msg, Response)
    assert msg.error is not None
    assert (msg.id, msg.error.code, msg.error.message) == ("u", -32000, "Auth")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1,2]", "not a JSON object"),
        ('{"jsonrpc":"2.0"}', "neither"),
        ('{"method":5}', "method is not a string"),
        ('{"id":true,"method":"x"}', "id is not"),
    ],
)
def test_malformed_lines_are_reported_with_their_text(line: str, reason: str) -> None:
    msg = jsonrpc.parse_message(line)
    assert isinstance(msg, Malformed)
    assert reason in msg.reason
    assert msg.text == line


def test_encoded_messages_are_single_lines() -> None:
    data = jsonrpc.encode_request(1, "session/prompt", {"text": "a\nb\u2028c"})
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert json.loads(data)["params"]["text"] == "a\nb\u2028c"
    err = json.loads(jsonrpc.encode_error(3, -32601, "nope"))
    assert err == {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "nope"}}


def test_splitter_reassembles_half_lines_and_flushes_the_tail() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":') == []
    assert splitter.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\n\n") == [b'{"b":2}']
    assert splitter.feed(b"half") == []
    assert splitter.flush() == [b"half"]


def test_splitter_drops_overlong_lines_and_recovers() -> None:
    splitter = LineSplitter(max_line=100)
    out = splitter.feed(b"x" * 150)
    assert len(out) == 1
    assert b"line too long" in out[0]
    assert splitter.feed(b"y" * 50 + b"\nok\n") == [b"ok"]


@given(st.lists(st.text(max_size=30), max_size=8), st.data())
def test_splitter_is_chunking_independent(lines: list[str], data: st.DataObject) -> None:
    payload = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=6)))
    splitter = LineSplitter()
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(payload)]:
        out += splitter.feed(payload[prev:cut])
        prev = cut
    assert [json.loads(x) for x in out] == lines
