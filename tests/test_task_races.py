"""The task's copy and accept against a workspace whose directory is swapped for a symlink to an outside
directory over and over, atomically (``renameat2(RENAME_EXCHANGE)``), while they run (issue 25 item 2):
1,000 runs each, nothing read from outside and nothing written there."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from codex_fusion.errors import TaskError
from codex_fusion.tasks import copying
from codex_fusion.tasks.handles import Refused
from codex_fusion.tasks.placing import Current, Write, write_all

RUNS = 1000
SECRET = b"OUTSIDE-SECRET\n"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")


def _exchange() -> object:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if not hasattr(libc, "renameat2"):
        pytest.skip("no renameat2 in this libc")
    return libc.renameat2


class Swaps:
    def __init__(self) -> None:
        self.count = 0
        self.paused = threading.Lock()  # held by the test while it resets the workspace


@contextmanager
def swapping(workspace: Path, outside: Path) -> Iterator[Swaps]:
    """``workspace/d`` and a symlink to ``outside`` trade places in a tight loop."""
    renameat2 = _exchange()
    (workspace / "d.link").symlink_to(outside)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    stop = threading.Event()
    swaps = Swaps()
    real, link = os.fsencode(workspace / "d"), os.fsencode(workspace / "d.link")

    def racer() -> None:
        while not stop.is_set():
            with swaps.paused:
                if renameat2(AT_FDCWD, real, AT_FDCWD, link, RENAME_EXCHANGE) != 0:  # type: ignore[operator]
                    raise OSError(ctypes.get_errno(), "renameat2")
                swaps.count += 1

    thread = threading.Thread(target=racer, daemon=True)
    thread.start()
    try:
        yield swaps
    finally:
        stop.set()
        thread.join()


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    (workspace / "d").mkdir(parents=True)
    (workspace / "d" / "f").write_bytes(b"inside\n")
    outside.mkdir()
    (outside / "f").write_bytes(SECRET)
    return workspace, outside


def test_the_copy_never_reads_through_a_directory_swapped_for_a_symlink(tmp_path: Path) -> None:
    workspace, outside = _setup(tmp_path)
    tree = tmp_path / "tree"
    (tree / "git").mkdir(parents=True)
    inside = hashlib.sha1(b"blob 7\0inside\n").hexdigest()
    target = copying.Target(os.fsencode(tree), tree / "git", {b"d/f": inside})  # its blob: not written
    read_outside = copied = refused = 0
    with swapping(workspace, outside) as swaps:
        for _run in range(RUNS):
            try:
                plan = copying.measure(os.fsencode(workspace), [b"d/f"], 1 << 30)
                done = copying.copy(os.fsencode(workspace), target, plan.entries, copying.Progress())
            except (Refused, FileNotFoundError):
                refused += 1
                continue
            got = tree / "d" / "f"
            if got.exists():
                copied += 1
                read_outside += got.read_bytes() == SECRET
                got.unlink()
            else:
                refused += 1
                assert done.files == 0
    assert read_outside == 0
    assert swaps.count > RUNS  # the swap really raced the copies
    assert copied > 0
    assert refused > 0


def test_accept_never_writes_through_a_directory_swapped_for_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not what is raced here
    workspace, outside = _setup(tmp_path)
    written = refused = 0
    escaped = 0
    reasons: set[str] = set()
    with swapping(workspace, outside) as swaps:
        for _run in range(RUNS):
            writes = [Write("d/new", b"from the member\n", seen=Current("missing"))]
            try:
                write_all(str(workspace), writes)
            except TaskError as exc:
                reasons.add(str(exc))
                refused += 1
                continue
            written += 1
            with swaps.paused:  # put the real directory back as it was, while nothing moves
                real = workspace / ("d.link" if (workspace / "d").is_symlink() else "d")
                if (outside / "new").exists():
                    escaped += 1
                    (outside / "new").unlink()
                else:
                    (real / "new").unlink()
    assert escaped == 0
    assert swaps.count > RUNS
    assert written > 0
    assert refused > 0
    assert all("symlink" in why or "changed while the patch was being applied" in why for why in reasons)
    assert sorted(p.name for p in outside.iterdir()) == ["f"]  # nothing new outside
    assert (outside / "f").read_bytes() == SECRET  # and nothing changed there
