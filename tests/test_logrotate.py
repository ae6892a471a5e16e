"""The turn log stays bounded: rotated at a size cap, a few generations kept, private, links left alone."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from codex_fusion.member import logrotate
from tests.conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio


def _fill(path: Path, size: int, byte: bytes = b"x") -> None:
    path.write_bytes(byte * size)
    path.chmod(0o600)


def test_a_log_under_the_cap_is_left_alone(tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    _fill(log, 50)
    assert logrotate.rotate_if_full(log, 50, max_bytes=100) is False
    assert log.stat().st_size == 50
    assert not (tmp_path / "turns.jsonl.1").exists()


def test_generations_shift_and_the_oldest_is_dropped(tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    for number, byte in ((1, b"1"), (2, b"2"), (3, b"3")):
        _fill(tmp_path / f"turns.jsonl.{number}", 10, byte)
    _fill(log, 100, b"0")
    assert logrotate.rotate_if_full(log, 1, max_bytes=100, generations=3) is True
    assert not log.exists()
    assert (tmp_path / "turns.jsonl.1").read_bytes() == b"0" * 100
    assert (tmp_path / "turns.jsonl.2").read_bytes() == b"1" * 10
    assert (tmp_path / "turns.jsonl.3").read_bytes() == b"2" * 10
    assert not (tmp_path / "turns.jsonl.4").exists()


def test_a_link_where_a_generation_goes_stops_the_rotation(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("precious\n")
    log = tmp_path / "turns.jsonl"
    _fill(log, 100)
    (tmp_path / "turns.jsonl.2").symlink_to(outside)
    assert logrotate.rotate_if_full(log, 1, max_bytes=100, generations=3) is False
    assert log.stat().st_size == 100
    assert outside.read_text() == "precious\n"
    assert (tmp_path / "turns.jsonl.2").is_symlink()


def test_a_linked_log_is_never_rotated(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    _fill(target, 100)
    log = tmp_path / "turns.jsonl"
    log.symlink_to(target)
    assert logrotate.rotate_if_full(log, 1, max_bytes=100) is False
    assert log.is_symlink()


async def test_the_turn_log_rotates_and_stays_private(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logrotate, "MAX_BYTES", 1000)
    monkeypatch.setattr(logrotate, "GENERATIONS", 2)
    log = fake.workspace.parent / "logs" / "turns.jsonl"
    async with fake.consultant(CODEX_FUSION_LOG=str(log)) as consultant:
        for number in range(12):
            await consultant.consult(f"@fake say turn {number} " + "x" * 300)
    files = sorted(p.name for p in log.parent.iterdir())
    assert files == ["turns.jsonl", "turns.jsonl.1", "turns.jsonl.2"]
    for path in log.parent.iterdir():
        assert path.stat().st_size <= 1000
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    newest = [json.loads(line) for line in log.read_text().splitlines()]
    assert newest[-1]["answer"].startswith("turn 11 ")
    assert os.path.getsize(log.parent / "turns.jsonl.2") > 0
