"""Every file the server reads is untrusted input: session links, the hook's records and debate
states, the install lock. Whatever bytes they hold — garbage, another version's fields, wrong types,
lone surrogates — reading them yields a value or "ignored, with a log line", never an exception.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_fusion.council.council import Council
from codex_fusion.hookside import nonce, serverside
from codex_fusion.host import continuity
from codex_fusion.host.follow import Follower
from codex_fusion.launch import installer

from .conftest import FakeAgentSetup
from .memory_host import memory_spawn

TEXT = st.text(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=20)
#: Near misses a reader must tell apart: another version's words, wrong case, empty, huge, not finite.
NEAR = st.sampled_from(["maybe", "OPEN", "", " open", "end", "CLEAR", 10**30, -1, 0, 2, math.inf, math.nan])
VALUES = st.recursive(
    NEAR | st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
LINK_KEYS = ("version", "claude_session", "codex_session", "agent", "rounds", "verdict", "summary", "at")
RECORD_KEYS = ("version", "nonce", "session_id", "event", "detail", "at", "claude_pid", "workspace")
STATE_KEYS = ("version", "summary", "at", "claude_pid", "workspace", "session_id")


def shaped(keys: tuple[str, ...], good: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """JSON objects with the right keys, each value either a plausible one or anything at all."""
    fields = {key: st.one_of(st.just(good[key]), VALUES) if key in good else VALUES for key in keys}
    return st.fixed_dictionaries({}, optional=fields).map(lambda obj: json.dumps(obj).encode())


def one_off(keys: tuple[str, ...], good: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A good object with one field replaced by anything at all (or removed)."""

    def vary(key: str) -> st.SearchStrategy[bytes]:
        missing = st.just({k: v for k, v in good.items() if k != key})
        value = st.one_of(NEAR, VALUES)  # near misses often: they are what slips through
        return st.one_of(missing, value.map(lambda value: {**good, key: value})).map(
            lambda obj: json.dumps(obj).encode()
        )

    return st.sampled_from(keys).flatmap(vary)


def contents(keys: tuple[str, ...], good: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200), shaped(keys, good), one_off(keys, good))


GOOD_LINK = {"version": 1, "claude_session": "S1", "codex_session": "sess-1", "agent": "a", "rounds": 1}
GOOD_LINK |= {"verdict": "open", "summary": "", "at": 1.0}
GOOD_RECORD = {"version": 1, "nonce": "n" * 32, "session_id": "S2", "event": "clear", "detail": None}
GOOD_RECORD |= {"at": 1.0, "claude_pid": 7, "workspace": "/w"}
GOOD_STATE = {"version": 1, "summary": "s", "at": 1.0, "claude_pid": 7, "workspace": "/w", "session_id": "S2"}

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _warnings() -> _Warnings:
    handler = _Warnings()
    logging.getLogger("codex_fusion").addHandler(handler)
    return handler


@FUZZ
@given(contents(LINK_KEYS, GOOD_LINK))
def test_any_link_is_a_link_or_ignored_with_a_log_line(data: bytes) -> None:
    warnings = _warnings()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state, workspace = Path(tmp) / "state", Path(tmp)
            path = serverside.link_path(state, workspace, "S1")
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            link = continuity.load(state, workspace, "S1")
    finally:
        logging.getLogger("codex_fusion").removeHandler(warnings)
    if link is None:
        assert any("ignoring" in message for message in warnings.messages)
    else:
        assert isinstance(link.codex_session, str)
        assert link.codex_session
        assert isinstance(link.rounds, int)
        assert link.rounds >= 0
        assert link.verdict is None or link.verdict in ("consensus", "open", "missing")
        assert math.isfinite(link.at)


@FUZZ
@given(contents(RECORD_KEYS, GOOD_RECORD))
def test_any_record_is_a_record_or_ignored_with_a_warning(data: bytes) -> None:
    warned: list[str] = []
    nonce.set_warning_sink(warned.append)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pid-7.json"
            path.write_bytes(data)
            record = serverside.read_record(path)
            parsed = serverside.parse_record(data, path) if data.strip() else None
    finally:
        nonce.set_warning_sink(None)
    if record is None:
        assert warned
    else:
        assert record == parsed
        assert record.event in nonce.EVENTS


@FUZZ
@given(contents(STATE_KEYS, GOOD_STATE))
def test_any_debate_state_is_a_line_or_nothing(data: bytes) -> None:
    nonce.set_warning_sink(lambda message: None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state"
            paths = nonce.record_paths(state, "/w", 7)
            assert paths.window_debate is not None
            paths.window_debate.parent.mkdir(parents=True)
            paths.window_debate.write_bytes(data)
            summary = nonce.read_debate_state(state, "/w", 7, "S2")
    finally:
        nonce.set_warning_sink(None)
    assert summary is None or (isinstance(summary, str) and "\n" not in summary)


@FUZZ
@given(st.binary(max_size=100))
def test_any_lock_file_left_behind_is_simply_locked_again(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lock = Path(tmp) / ".install.lock"
        lock.write_bytes(data)
        installer.release_lock(lock, installer.take_lock(lock))
        assert not lock.exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=contents(RECORD_KEYS, GOOD_RECORD), link=contents(LINK_KEYS, GOOD_LINK))
def test_the_follower_survives_any_record_and_link(fake: FakeAgentSetup, record: bytes, link: bytes) -> None:
    """Start-up (the lifespan) and every check read both; neither may raise."""
    config = fake.config("close,resume", CLAUDE_PID="7")
    assert config.state_dir is not None
    assert config.workspace.path is not None
    state, workspace = config.state_dir, config.workspace.path
    paths = nonce.record_paths(state, workspace, 7)
    assert paths.window is not None
    paths.window.parent.mkdir(parents=True, exist_ok=True)
    paths.window.write_bytes(record)
    for claude_session in ("S1", "S2"):
        where = serverside.link_path(state, workspace, claude_session)
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_bytes(link)

    async def scenario() -> None:
        async with Council(config, spawn=memory_spawn(fake.hosts)) as council:
            follower = Follower(council, config, state, workspace, env={"CLAUDE_PID": "7"}, ancestors=[7, 1])
            await follower.start()
            paths.window.write_bytes(record[::-1])  # whatever comes next
            assert await follower.check() is True

    nonce.set_warning_sink(lambda message: None)
    try:
        anyio.run(scenario)
    finally:
        nonce.set_warning_sink(None)
