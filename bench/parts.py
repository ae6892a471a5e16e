"""Reviews in parts (issue 26.2): collecting a large change against ``git diff`` alone, and the size
of every part's prompt at 5,000 and 50,000 changed files. No agent is asked: these are the costs
and sizes around a review, the review's own time is ``council.sharded_review``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Lab, med, summary
from bench.report import Figure

BUDGET = 32_000  # the default max_answer_chars: one session's budget, and one part's


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_change(base: Path, files: int, line_chars: int, lines: int) -> Path:
    """A repository with ``files`` committed files, every one of them then changed: ``lines`` lines
    of ``line_chars`` characters each replaced, spread over 100 files to a directory."""
    repo = base / f"repo-{files}"
    repo.mkdir()
    _git(repo, "init", "-q")
    for index in range(files):
        folder = repo / f"pkg{index // 100:04d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{index:06d}.py").write_text(
            "".join(f"v{n} = {'a' * line_chars}\n" for n in range(lines))
        )
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base")
    for index in range(files):
        path = repo / f"pkg{index // 100:04d}" / f"mod{index:06d}.py"
        path.write_text("".join(f"v{n} = {'b' * line_chars}\n" for n in range(lines)))
    return repo


def _git_diff_alone(repo: Path) -> float:
    from codex_fusion.review.diffs.git import DIFF_OPTIONS

    started = time.perf_counter()
    subprocess.run(
        ["git", "--no-pager", "diff", *DIFF_OPTIONS, "--raw", "--numstat", "--patch", "-z", "HEAD"],
        cwd=repo,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _collect(repo: Path, max_chars: int) -> tuple[float, Any]:
    import anyio

    from codex_fusion.review.diffs import DiffRequest, collect_diff

    async def run() -> Any:
        return await collect_diff(repo, DiffRequest(), max_chars=max_chars, timeout=120.0)

    started = time.perf_counter()
    material = anyio.run(run)
    return time.perf_counter() - started, material


def part_sizes(material: Any, limit: int = BUDGET) -> tuple[list[int], float]:
    """Each part's prompt in characters (the brief; the frame aside), and plan's time."""
    from codex_fusion.review import parts, prompts

    started = time.perf_counter()
    planned = parts.plan(material, limit)
    elapsed = time.perf_counter() - started
    if planned is None:
        return [len(prompts.review_diff(material, None, None).text())], elapsed
    sizes = []
    for part in planned:
        sizes.append(len(prompts.review_diff(part, None, None).text()))
    return sizes, elapsed


def review_parts(lab: Lab) -> Figure:
    sys.path.insert(0, str(ROOT / "server"))
    from codex_fusion.review import parts

    fig = Figure()
    base = lab.fresh_dir("parts")
    n = lab.n(9, 1)
    # 10 MB of diff: 2,000 files, 20 lines of 120 characters each replaced (~5 kB of patch a file)
    files, lines = (2_000, 20) if not lab.quick else (200, 20)
    repo = make_change(base, files, 120, lines)
    floor, collected = [], []
    for _ in range(n):  # interleaved, so a shared machine's drift falls on both alike
        floor.append(_git_diff_alone(repo))
        elapsed, material = _collect(repo, BUDGET * parts.MAX_SHARDS)
        collected.append(elapsed)
    ratio = summary(collected)["median"] / summary(floor)["median"]
    fig.data["10MB"] = {"git_diff": summary(floor), "collect": summary(collected), "ratio": ratio}
    megabytes = files * lines * 2 * 126 / 1e6
    fig.row(f"{files} files (~{megabytes:.0f} MB of patch): `git diff` alone", med(summary(floor)))
    fig.row("  collect_diff (the same git diff, parsed and budgeted)", med(summary(collected)))
    fig.row("  ratio (target ≤ 1.3×)", f"{ratio:.2f}×")
    for count in (5_000, 50_000) if not lab.quick else (1_000,):
        repo = make_change(base, count, 20, 2)
        elapsed, material = _collect(repo, BUDGET * parts.MAX_SHARDS)
        sizes, planning = part_sizes(material)
        fig.data[f"{count}_files"] = {"collect_s": elapsed, "plan_s": planning, "part_chars": sizes}
        worst = max(sizes)
        fig.row(
            f"{count} changed files: collect · plan",
            f"{elapsed:.2f} s · {planning * 1000:.0f} ms",
        )
        fig.row(
            f"  {len(sizes)} parts' prompts, chars (budget {BUDGET})",
            f"{', '.join(map(str, sizes))}: largest {worst / BUDGET:.2f}× the budget",
        )
    fig.note("prompt sizes: the review brief; the constant frame (role, grounding, debate) aside")
    version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    fig.note(f"cpu count {os.cpu_count()}; {version}")
    return fig
