from __future__ import annotations

import json

import anyio
import anyio.abc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_fusion.acp import jsonrpc
from codex_fusion.acp.connection import Connection
from codex_fusion.acp.jsonrpc import LineSplitter, Malformed, Notification, Request, Response
from codex_fusion.errors import HandlerError


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


#: Any text, lone surrogates often (hypothesis leaves them out by default).
ANY_TEXT = st.text(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)))


@given(ANY_TEXT)
def test_any_text_encodes_to_one_valid_utf8_line(text: str) -> None:
    for data in (
        jsonrpc.encode_request(1, "session/prompt", {"text": text, text: 1}),
        jsonrpc.encode_notification("session/cancel", {"sessionId": text}),
        jsonrpc.encode_result(2, {"content": text}),
        jsonrpc.encode_error(3, -32603, text),
    ):
        assert data.endswith(b"\n")
        assert data.count(b"\n") == 1
        json.loads(data.decode("utf-8"))  # strict UTF-8 and JSON: what codex-acp's parser needs


def test_a_lone_surrogate_goes_out_as_a_replacement_character_and_pairs_stay_whole() -> None:
    data = jsonrpc.encode_request(1, "session/prompt", {"text": "a\ud800b \ud83d\ude00"})
    assert json.loads(data)["params"]["text"] == "a\ufffdb \U0001f600"


@pytest.mark.anyio
async def test_an_answer_that_cannot_be_encoded_is_still_answered() -> None:
    """A handler's result or error data that JSON cannot carry must not kill the connection's task."""
    to_us_send, to_us = anyio.create_memory_object_stream[bytes](100)
    from_us, from_us_receive = anyio.create_memory_object_stream[bytes](100)

    class Send(anyio.abc.ByteSendStream):
        async def send(self, item: bytes) -> None:
            await from_us.send(item)

        async def aclose(self) -> None:
            await from_us.aclose()

    class Receive(anyio.abc.ByteReceiveStream):
        async def receive(self, max_bytes: int = 65536) -> bytes:
            return await to_us.receive()

        async def aclose(self) -> None:
            await to_us.aclose()

    async def handler(method: str, params: object) -> object:
        if method == "bad/result":
            return {"value": object()}
        raise HandlerError(-32000, "no \ud800 way", data={"x": object()})

    connection = Connection(Send(), Receive(), on_request=handler)
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.run)
        for i, method in enumerate(("bad/result", "bad/error")):
            await to_us_send.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": method}).encode() + b"\n")
        with anyio.fail_after(5):
            answers = [json.loads(await from_us_receive.receive()) for _ in range(2)]
        await to_us_send.aclose()
    by_id = {answer["id"]: answer for answer in answers}
    assert by_id[0]["error"]["code"] == jsonrpc.INTERNAL_ERROR
    assert by_id[1]["error"] == {"code": -32000, "message": "no \ufffd way"}
