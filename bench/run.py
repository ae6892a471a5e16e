"""Benchmarks of issue 13: ``uv run python bench/run.py [--quick] [--only NAME[,NAME]] [--json PATH]``.

Prints a table of medians (p95 where it matters) per figure and writes everything as JSON (default
``bench/results/latest.json``; the per-call profile goes to ``profile.txt`` beside it). The scripted
fake agent (tests/fake_agent.py) stands in for Codex except in ``real_acp``, so the numbers measure
codex-fusion itself. Benchmarks are not tests: nothing here fails on a number, but a figure that
crashes makes the run exit 1 (the CI smoke run, tests/test_bench_smoke.py, relies on that).
Record results with their date in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import calls, council, coverage, delegate, gatehooks, hook, lifecycle, parts, redaction, startup  # noqa: E402
from bench import context_cost as context_cost_module  # noqa: E402
from bench.common import Lab, strip_none, uv_path  # noqa: E402
from bench.report import Figure, render  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"


def context_cost(lab: Lab) -> Figure:
    """The always-on context cost (bench/context_cost.py)."""
    module = context_cost_module
    items = module.measure()
    totals = module.totals(items)
    budget = getattr(module, "BUDGET_TOKENS", None)
    fig = Figure(
        data={
            "totals_tokens": totals,
            "budget_tokens": budget,
            "chars_per_token": getattr(module, "CHARS_PER_TOKEN", None),
            "items": [
                {"part": i.part, "name": i.name, "chars": i.chars, "tokens": i.tokens, "listed": i.listed}
                for i in items
            ],
        }
    )
    parts = ", ".join(f"{k} {v:.0f}" for k, v in totals.items() if k != "total")
    fig.row("always-on context, tokens ≈ chars/4", f"{totals['total']:.0f} tokens ({parts})")
    if budget is not None:
        fig.row("  budget (bench/context_cost.py)", f"{budget} tokens")
    return fig


#: name → (title, function), in the order they run.
FIGURES: dict[str, tuple[str, Callable[[Lab], Figure]]] = {
    "cold_start": ("Cold start: spawn → tools/list", startup.cold_start),
    "warm_consult": ("Warm first consult (fake agent)", startup.warm_consult),
    "steady": ("Steady consult over stdio, server CPU per call, raw ACP floor", calls.steady),
    "profile": ("Per-call profile (cProfile)", calls.profile),
    "streaming": ("Streaming: N-chunk turns", calls.streaming),
    "cancel": ("Cancel → idle", lifecycle.cancel),
    "shutdown": ("Shutdown", lifecycle.shutdown),
    "memory": ("Memory", calls.memory_figure),
    "hook": ("Hook process, start to exit", hook.hook),
    "gate": ("Review gate: socket round trip vs one-shot, and the prompt's snapshot", hook.gate),
    "gate_edges": ("Gate hooks: off through sh, on at 100k files, a slow workspace", gatehooks.gate_edges),
    "reset": ("A /clear reaching the server: hook exit → reset", hook.reset),
    "context_cost": ("Always-on context cost", context_cost),
    "redaction": ("Redaction: both tiers over the corpora and real code, cost per call", redaction.redaction),
    "real_acp": ("Real codex-acp (TypeScript) + mock model: first consult", startup.real_acp),
    "council_fan_out": ("Council round: wall vs the slowest member", council.fan_out),
    "sharded_review": (
        "A 24-file diff: one session vs parts at once (real TS codex-acp)",
        council.sharded_review,
    ),
    "review_parts": ("Reviews in parts: collecting vs git diff, each part's prompt", parts.review_parts),
    "delegate": ("Delegated tasks at once: 1, 2, 4 (real codex-acp, mock model)", delegate.figure),
    "findings_coverage": ("Findings: planted defects, four mock members, merged table", coverage.figure),
    "delegate_copy": (
        "Delegate → session open against cp -a: 10k/50k/200k files, 1,000 × 1 MiB",
        delegate.copy_figure,
    ),
}


def machine() -> dict[str, Any]:
    def read(path: str) -> str:
        try:
            return Path(path).read_text()
        except OSError:
            return ""

    mem_kib = next(
        (int(line.split()[1]) for line in read("/proc/meminfo").splitlines() if line.startswith("MemTotal")),
        0,
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )

    def out(*argv: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT).stdout.strip()
        return ""

    uv = uv_path()
    return {
        "loadavg_at_start": read("/proc/loadavg").split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "mcp": importlib.metadata.version("mcp"),
        "codex_fusion": importlib.metadata.version("codex-fusion"),
        "uv": out(uv, "--version") if uv else None,
        "node": out("node", "--version") if shutil.which("node") else None,
        "commit": out("git", "rev-parse", "--short", "HEAD"),
        "worktree_dirty": bool(out("git", "status", "--porcelain", "--untracked-files=no")),
    }


def cpu_snapshot() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process and its reaped children)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = os.times()
    return busy, own.user + own.system + own.children_user + own.children_system


def foreign_cpu(before: tuple[float, float], after: tuple[float, float], seconds: float) -> float:
    """Share of the machine's cores that processes outside the bench used meanwhile (0 = quiet).

    Every process a figure starts has been waited for by the end of it, so its CPU is in ours."""
    if seconds <= 0:
        return 0.0
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others / seconds / (os.cpu_count() or 1))


def wait_quiet(limit: float, threshold: float = 0.05) -> None:
    """Wait (up to ``limit`` seconds) until other processes use under ``threshold`` of the cores."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before = cpu_snapshot()
        time.sleep(1.0)
        if foreign_cpu(before, cpu_snapshot(), 1.0) < threshold:
            return
    print(f"   (the machine did not get quiet within {limit:g} s; going on)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="codex-fusion benchmarks (issue 13)")
    parser.add_argument("--quick", action="store_true", help="one iteration of each, small sizes (CI smoke)")
    parser.add_argument("--only", help=f"comma-separated figures: {', '.join(FIGURES)}")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write (default {DEFAULT_JSON})"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each figure, wait up to SECONDS for other processes to leave the CPU idle",
    )
    args = parser.parse_args(argv)
    names = list(FIGURES)
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in names if name not in FIGURES]
        if unknown:
            parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")

    meta = machine()
    meta["quick"] = args.quick
    print(
        f"codex-fusion benchmarks · {meta['date']} · {meta['cores']} cores, {meta['ram_gib']} GiB · "
        f"{meta['cpu']} · Python {meta['python']} · mcp {meta['mcp']} · {meta['uv']} · "
        f"commit {meta['commit']}{' (dirty)' if meta['worktree_dirty'] else ''} · "
        f"load {' '.join(meta['loadavg_at_start'])}" + (" · QUICK" if args.quick else ""),
        flush=True,
    )
    sample = cpu_snapshot()
    time.sleep(1.0)
    meta["other_processes_cpu_share_at_start"] = others = foreign_cpu(sample, cpu_snapshot(), 1.0)
    if others >= 0.05:
        print(
            f"warning: other processes use {others:.0%} of the cores: numbers will be noisy "
            "(--wait-quiet SECONDS waits for a quiet machine before each figure)",
            flush=True,
        )
    json_path: Path = args.json.resolve()
    results: dict[str, Any] = {}
    failed: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="codex-fusion-bench-"))
    lab = Lab(work=work, quick=args.quick, results=json_path.parent)
    begun = time.perf_counter()
    try:
        for name in names:
            title, run = FIGURES[name]
            if args.wait_quiet:
                wait_quiet(args.wait_quiet)
            started = time.perf_counter()
            before = cpu_snapshot()
            try:
                figure = run(lab)
            except Exception as exc:
                seconds = time.perf_counter() - started
                failed.append(name)
                results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                print(
                    f"\n== {title} [{name}] ({seconds:.1f} s)\n   FAILED: {type(exc).__name__}: {exc}",
                    flush=True,
                )
                traceback.print_exc()
                lab.close()
                continue
            seconds = time.perf_counter() - started
            others = foreign_cpu(before, cpu_snapshot(), seconds)
            results[name] = {**figure.to_json(seconds), "other_processes_cpu_share": others}
            print(render(name, title, figure, seconds, others), flush=True)
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)
    meta["elapsed_s"] = time.perf_counter() - begun
    with contextlib.suppress(OSError):
        meta["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(strip_none({"meta": meta, "figures": results}), indent=2) + "\n")
    print(
        f"\n{len(names) - len(failed)} of {len(names)} figures ran in {meta['elapsed_s']:.0f} s; "
        f"JSON: {json_path}"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
