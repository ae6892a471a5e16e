"""Parallel delegated tasks: the wall time of 1, 2 and 4 tasks at once (issue 20's target: four within
1.3× of one), against a mock model with a fixed latency per request.

    uv run python bench/delegate.py [--latency 2] [--rounds 3] [--agent ts|rust|fake]

Each task is a real delegation through :class:`~codex_fusion.tasks.manager.TaskManager`: the workspace
copied, a member session opened in the copy, two model requests (an ``apply_patch`` edit, then the
report), the patch computed and checked. ``ts``/``rust``: the provisioned codex-acp with codex-fusion's
write profile, every model request answered after ``--latency`` seconds by the mock OpenAI API
(per request, whatever order the tasks' requests arrive in). ``fake``: the scripted fake agent
sleeping ``2 × latency`` per turn, which measures codex-fusion's own part. Record results with their
date in docs/benchmarks.md. Also a figure of ``bench/run.py`` (``--only delegate``).

``--copy`` (and ``bench/run.py --only delegate_copy``): ``delegate`` → the member's session open in
the copy, against ``cp -a`` of the same files measured in the same run, at 10k, 50k and 200k small
files and 1,000 files of 1 MiB (issue 26: ≤ 2× and ≤ 3×). The fake agent stands in for the member,
so the figure is codex-fusion's copy and base, not an agent's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from codex_fusion.launch.config import Config  # noqa: E402
from codex_fusion.launch.planning import configure  # noqa: E402
from codex_fusion.tasks.manager import TaskManager  # noqa: E402
from codex_fusion.tasks.record import TaskBrief  # noqa: E402
from codex_fusion.tasks.table import TaskState  # noqa: E402

COUNTS = (1, 2, 4)
_FILE = re.compile(r"bench-(\d+)\.txt")


def _mock(latency: float) -> Any:
    from mock_openai import MockResponses, Patch, Step, Text

    class Latent(MockResponses):
        """Every turn request answered after ``latency``: the first of a task with an edit of its
        own file, the next with the report."""

        def _step_for(self, rec: Any) -> Any:
            if rec.side:
                return super()._step_for(rec)
            text = rec.input_text()
            number = (_FILE.findall(text) or ["0"])[0]
            if "function_call_output" in json.dumps(rec.body) or "custom_tool_call_output" in json.dumps(
                rec.body
            ):
                report = (
                    f"SUMMARY: wrote bench-{number}.txt\nTESTS: not run\nCRITERIA: 1 met\n"
                    f"FILES: bench-{number}.txt"
                )
                return Step(items=(Text(report, delay=latency),))
            patch = f"*** Begin Patch\n*** Add File: bench-{number}.txt\n+task {number}\n*** End Patch\n"
            return Step(items=(Text("Editing.", delay=latency), Patch(patch)))

    return Latent()


def _workspace(base: Path) -> Path:
    workspace = base / "workspace"
    (workspace / "src").mkdir(parents=True)
    for index in range(50):
        (workspace / "src" / f"m{index}.py").write_text(f"VALUE = {index}\n" * 20)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b", "PATH": "/usr/bin:/bin"}  # fmt: skip
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=workspace, env=env, check=True, capture_output=True)
    return workspace


def _config(agent: str, base: Path, workspace: Path, mock_url: str | None) -> Config:
    if agent == "fake":
        sys.path.insert(0, str(ROOT / "tests"))
        from bench.common import base_environ

        env = base_environ()
        env.update(
            CODEX_FUSION_ACP_COMMAND=shlex.join([sys.executable, str(ROOT / "tests" / "fake_agent.py")]),
            CODEX_FUSION_AGENT_ENV="FAKE_ACP*",
        )
    else:
        from e2e_adapters import Adapter, find_adapters, make_adapter_env, write_codex_config

        found = find_adapters()[agent]
        if not isinstance(found, Adapter):
            raise SystemExit(f"{agent} adapter not provisioned: {found}")
        assert mock_url is not None
        codex_home = base / "codex_home"
        write_codex_config(codex_home, mock_url)
        env = make_adapter_env(found, codex_home, base / "home")
        env["CODEX_FUSION_ACP_COMMAND"] = shlex.join(found.argv)
    env.update(
        CODEX_FUSION_WORKSPACE=str(workspace),
        CLAUDE_PLUGIN_DATA=str(base / "plugin-data"),
        CODEX_FUSION_WARM="0",
        CODEX_FUSION_STARTUP_TIMEOUT_MS="120000",
        CODEX_FUSION_LOG_LEVEL="WARNING",
    )
    return configure(env)


async def _round(config: Config, agent: str, latency: float, results: dict[int, list[float]]) -> None:
    """One server (one TaskManager), as Claude would use it: 1 task, then 2 at once, then 4. Each task
    starts an agent of its own; every task is discarded before the next count."""
    member_for = None
    if agent == "fake":

        def member_for(name: str, tree: Path) -> Any:  # the fake agent is no codex-acp
            return config.members[name]

    async with TaskManager(config, member_for=member_for) as tasks:
        offset = 0
        for count in COUNTS:
            started = time.perf_counter()
            done: list[Any] = []

            async def one(index: int, done: list[Any] = done) -> None:
                lines = [f"Write the file bench-{index}.txt."]
                if agent == "fake":
                    report = f"SUMMARY: s\\nTESTS: none\\nCRITERIA: 1 met\\nFILES: bench-{index}.txt"
                    lines += [f"@fake sleep {2 * latency}", f"@fake write bench-{index}.txt task {index}",
                              f"@fake say {report}"]  # fmt: skip
                task = await tasks.delegate(
                    TaskBrief("\n".join(lines), criteria=("the file exists",)), "codex"
                )
                await tasks.wait(task, 600)
                files = [c.path for c in task.record.files]
                if task.state is not TaskState.REVIEW or files != [f"bench-{index}.txt"]:
                    raise RuntimeError(f"task {task.id}: {task.state}, {files}, {task.record.findings}")
                done.append(task)

            async with anyio.create_task_group() as tg:
                for index in range(offset, offset + count):
                    tg.start_soon(one, index)
            results[count].append(time.perf_counter() - started)
            offset += count
            for task in done:
                await tasks.discard(task)


def measure(agent: str = "ts", latency: float = 2.0, rounds: int = 3) -> dict[str, Any]:
    results: dict[int, list[float]] = {count: [] for count in COUNTS}
    work = Path(tempfile.mkdtemp(prefix="codex-fusion-bench-delegate-"))
    mock = _mock(latency) if agent != "fake" else None
    try:
        if mock is not None:
            mock.start()
        for round_ in range(rounds):
            base = work / str(round_)
            workspace = _workspace(base)
            config = _config(agent, base, workspace, mock.base_url if mock is not None else None)
            anyio.run(_round, config, agent, latency, results)
    finally:
        if mock is not None:
            mock.stop()
        shutil.rmtree(work, ignore_errors=True)
    medians = {count: statistics.median(times) for count, times in results.items()}
    return {
        "agent": agent,
        "latency_s": latency,
        "rounds": rounds,
        "wall_s": {str(k): v for k, v in results.items()},
        "median_s": {str(k): v for k, v in medians.items()},
        "ratio_vs_one": {str(k): medians[k] / medians[1] for k in COUNTS},
    }


def figure(lab: Any) -> Any:
    """``bench/run.py``'s figure: the real TypeScript adapter (skipped when not provisioned)."""
    from bench.report import Figure, skipped

    if lab.quick:
        return skipped("skipped in --quick (starts the real Codex four times at once)")
    from e2e_adapters import Adapter, find_adapters

    if not isinstance(find_adapters()["ts"], Adapter):
        return skipped("TypeScript adapter not provisioned")
    data = measure("ts", 2.0, lab.n(3))
    fig = Figure(data=data)
    for count in COUNTS:
        fig.row(
            f"{count} task(s) at once, real codex-acp + mock model (2 s per request)",
            f"{data['median_s'][str(count)]:.2f} s = {data['ratio_vs_one'][str(count)]:.2f}× one",
        )
    fig.note("target (issue 20): four tasks within 1.3× of one")
    return fig


# -- call → session open against `cp -a` of the same files (issue 26 item 1) -------------------------

#: (label, files, bytes each); small files are ~100 bytes, as in a source tree.
COPY_CASES = (("10k small", 10_000, 100), ("50k small", 50_000, 100), ("200k small", 200_000, 100),
              ("1,000 × 1 MiB", 1_000, 1 << 20))  # fmt: skip


def _big_workspace(base: Path, files: int, size: int) -> Path:
    """``files`` files of ``size`` bytes under ``src/`` (100 a directory), committed; ten of them then
    modified and ten untracked, as a working tree is."""
    workspace = base / "workspace"
    src = workspace / "src"
    for index in range(files):
        directory = src / f"d{index // 100:05}"
        if index % 100 == 0:
            directory.mkdir(parents=True)
        line = f"file {index} ".encode()
        (directory / f"f{index:06}.txt").write_bytes((line * (size // len(line) + 1))[:size])
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b", "PATH": "/usr/bin:/bin"}  # fmt: skip
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=workspace, env=env, check=True, capture_output=True)
    for index in range(10):
        (src / "d00000" / f"f{index:06}.txt").write_bytes(b"modified\n")
        (src / f"untracked{index}.txt").write_bytes(b"untracked\n")
    return workspace


def _cp_floor(workspace: Path, base: Path) -> float:
    """``cp -a`` of the same files (the working tree, not ``.git``)."""
    target = base / "cp-floor"
    target.mkdir()
    started = time.perf_counter()
    subprocess.run(["cp", "-a", str(workspace / "src"), str(target)], check=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


async def _open_once(config: Config) -> tuple[float, str]:
    """``delegate`` → the member's session open in the copy and the brief sent (the call's return)."""

    def member_for(name: str, tree: Path) -> Any:
        return config.members[name]

    async with TaskManager(config, member_for=member_for) as tasks:
        brief = TaskBrief("Nothing to do.\n@fake say SUMMARY: s\\nTESTS: none\\nCRITERIA: 1 met",
                          criteria=("done",))  # fmt: skip
        started = time.perf_counter()
        try:
            task = await tasks.delegate(brief, "codex")
        except Exception as exc:
            return time.perf_counter() - started, f"refused: {str(exc)[:400]}"
        elapsed = time.perf_counter() - started
        await tasks.wait(task, 60)
        await tasks.discard(task)
        return elapsed, "ok"


def measure_copy(cases: tuple[tuple[str, int, int], ...] = COPY_CASES) -> dict[str, Any]:
    """Per case: call → session open (fake agent, so the agent's own start is ~0.1 s) and the
    ``cp -a`` floor of the same files, measured in the same run, the floor before and after."""
    out: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="codex-fusion-bench-copy-", dir=os.environ.get("BENCH_DIR")))
    try:
        for label, files, size in cases:
            base = work / label.replace(" ", "_").replace(",", "")
            base.mkdir()
            workspace = _big_workspace(base, files, size)
            config = _config("fake", base, workspace, None)
            floors = [_cp_floor(workspace, base)]
            opened, outcome = anyio.run(_open_once, config)
            floors.append(_cp_floor(workspace, base))
            floor = statistics.median(floors)
            out[label] = {"open_s": opened, "cp_a_s": floor, "cp_a_runs_s": floors, "ratio": opened / floor,
                          "outcome": outcome}  # fmt: skip
            shutil.rmtree(base)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def copy_figure(lab: Any) -> Any:
    """``bench/run.py``'s figure: call → session open against ``cp -a`` (skipped in --quick)."""
    from bench.report import Figure, skipped

    if lab.quick:
        return skipped("skipped in --quick (builds workspaces of up to 200,000 files)")
    data = measure_copy()
    fig = Figure(data=data)
    for label, row in data.items():
        target = 3 if "MiB" in label else 2
        value = f"{row['open_s']:.2f} s vs {row['cp_a_s']:.2f} s = {row['ratio']:.2f}× ({row['outcome']})"
        fig.row(f"{label}: delegate → session open vs cp -a (target ≤ {target}×)", value)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", choices=("ts", "rust", "fake"), default="ts")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per model request")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copy", action="store_true", help="call → session open against cp -a instead")
    args = parser.parse_args()
    if args.copy:
        print(json.dumps(measure_copy(), indent=2))
        return
    data = measure(args.agent, args.latency, args.rounds)
    print(json.dumps(data, indent=2))
    for count in COUNTS:
        print(f"{count} task(s): median {data['median_s'][str(count)]:.2f} s, "
              f"{data['ratio_vs_one'][str(count)]:.2f}× one")  # fmt: skip


if __name__ == "__main__":
    main()
