"""Benchmarks: `uv run python bench/run.py` prints medians (seconds unless said otherwise).

Uses the scripted fake agent (tests/fake_agent.py) so the numbers measure codex-fusion itself, not
Codex. Record results with the date in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_cli import StdioPeer  # noqa: E402

from codex_fusion.config import Config  # noqa: E402
from codex_fusion.consultant import Consultant  # noqa: E402
from codex_fusion.server import build_server  # noqa: E402

FAKE = ROOT / "tests" / "fake_agent.py"


def fake_env(workspace: Path, flags: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY")}
    env.update(
        CODEX_FUSION_ACP_COMMAND=shlex.join([sys.executable, str(FAKE)]),
        CODEX_FUSION_WORKSPACE=str(workspace),
        CODEX_FUSION_LOG_LEVEL="WARNING",
        FAKE_ACP=flags,
    )
    env.update(extra)
    return env


def report(name: str, samples: list[float], unit: str = "s") -> None:
    scale = 1000 if unit == "ms" else 1
    print(f"{name:<52} median {statistics.median(samples) * scale:8.1f} {unit}  (n={len(samples)})")


def bench_cold_start(workspace: Path, n: int = 10) -> None:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        peer = StdioPeer(fake_env(workspace))
        peer.initialize()
        peer.call("tools/list", {})
        samples.append(time.perf_counter() - started)
        peer.close()
    report("serve cold start → tools/list (stdio)", samples, "ms")


def bench_round_trip(workspace: Path, n: int = 30) -> None:
    peer = StdioPeer(fake_env(workspace))
    peer.initialize()
    peer.call("tools/call", {"name": "consult", "arguments": {"question": "warm up"}})
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        peer.call("tools/call", {"name": "consult", "arguments": {"question": "@fake say ok"}})
        samples.append(time.perf_counter() - started)
    peer.close()
    report("consult round trip, instant fake agent (stdio)", samples, "ms")


async def bench_cancel(workspace: Path, directive: str, label: str, n: int = 5) -> None:
    samples = []
    async with Consultant(Config.from_env(fake_env(workspace))) as consultant:
        for _ in range(n):
            await consultant.consult("warm up")
            with anyio.move_on_after(0.3) as scope:
                await consultant.consult(directive)
            started = scope.deadline
            samples.append(anyio.current_time() - started)
    report(f"cancel → idle, {label}", samples, "ms")


async def bench_flood(workspace: Path, chunks: int = 20_000) -> None:
    notifications = 0

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        nonlocal notifications
        notifications += 1

    text = "x" * chunks
    async with Client(build_server(Config.from_env(fake_env(workspace)))) as client:
        await client.call_tool("consult", {"question": "warm up"})
        cpu = time.process_time()
        started = time.perf_counter()
        result = await client.call_tool(
            "consult", {"question": f"@fake say {text}\n@fake chunks {chunks}"}, progress_callback=on_progress
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    assert result.content[0].text.startswith(text)  # type: ignore[union-attr]
    print(
        f"{'flood: ' + str(chunks) + ' chunks':<52} {elapsed:8.2f} s, {notifications} notifications "
        f"({notifications / elapsed:.1f}/s), server CPU {cpu / chunks * 10_000:.2f} s per 10k chunks"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        print(
            f"codex-fusion benchmarks · {time.strftime('%Y-%m-%d')} · {os.cpu_count()} cores · "
            f"Python {sys.version.split()[0]}"
        )
        bench_cold_start(workspace)
        bench_round_trip(workspace)
        anyio.run(bench_cancel, workspace, "@fake sleep 30", "cooperative agent")
        anyio.run(bench_cancel, workspace, "@fake hang 30", "wedged agent (grace 1.5 s, kill, respawn)")
        anyio.run(bench_flood, workspace)


if __name__ == "__main__":
    main()
