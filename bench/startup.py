"""Start-up figures: cold start (with and without bytecode, the floors, our import work), the warm
first consult, and the first consult with the real TypeScript codex-acp against the mock model."""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Lab,
    Peer,
    bare_agent_round_trips,
    clean_env,
    count_pyc,
    med,
    ms,
    plugin_argv,
    run_timed,
    status_session,
    summary,
    uv_path,
    venv_python,
    wait_until,
)
from bench.report import Figure, skipped

#: What Claude Code installs: the plugin's files, without the caches a checkout accumulates.
_NOT_SHIPPED = shutil.ignore_patterns(
    ".venv",
    ".git",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "node_modules",
    "results",
)


def plugin_copy(lab: Lab, name: str) -> Path:
    """A copy of the plugin as Claude Code installs it (no ``__pycache__`` anywhere)."""
    dest = lab.work / name
    if not dest.exists():
        shutil.copytree(ROOT, dest, ignore=_NOT_SHIPPED)
    return dest


def ensure_plugin_venv(lab: Lab) -> tuple[Path, Path]:
    """(plugin root, venv): a plugin copy and the venv its own launch built, with bytecode."""
    if lab.plugin_venv is None:
        root = plugin_copy(lab, "plugin")
        venv = lab.work / "venv-plugin"
        env = clean_env(UV_PROJECT_ENVIRONMENT=str(venv), UV_COMPILE_BYTECODE="1")
        run_timed(plugin_argv(root, "python", "-c", "pass"), env, timeout=600)
        lab.plugin_root, lab.plugin_venv = root, venv
    assert lab.plugin_root is not None
    return lab.plugin_root, lab.plugin_venv


def time_to_tools(lab: Lab, argv: list[str], env: dict[str, str], base: Path) -> float:
    """Spawn → ``initialize`` → ``tools/list`` answered, seconds."""
    peer = lab.start(argv, env, base)
    try:
        peer.initialize()
        tools = peer.list_tools()
        elapsed = time.perf_counter() - peer.started
        if "consult" not in tools:
            raise RuntimeError(f"tools/list has no consult: {tools}")
        return elapsed
    finally:
        lab.release(peer)


def _launch_env(lab: Lab, base: Path, venv: Path, *, bytecode: bool, warm: bool = False) -> dict[str, str]:
    env = lab.env(base, warm=warm)
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    if bytecode:
        env["UV_COMPILE_BYTECODE"] = "1"
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# -- cold start ------------------------------------------------------------------------------------


def cold_start(lab: Lab) -> Figure:
    if uv_path() is None:
        return skipped("uv is not on PATH")
    base = lab.fresh_dir("cold")
    fig = Figure()
    n_fresh, n = lab.n(3), lab.n(10)

    # The first start of a fresh install: uv creates the venv (from its warm cache), installs, compiles.
    bc_root = plugin_copy(lab, "plugin")
    fresh_bc: list[float] = []
    for i in range(n_fresh):
        venv = base / f"venv-bc-{i}"
        env = _launch_env(lab, base, venv, bytecode=True)
        fresh_bc.append(time_to_tools(lab, plugin_argv(bc_root), env, base))
        if i < n_fresh - 1:
            shutil.rmtree(venv)
            shutil.rmtree(bc_root)  # our own modules' bytecode too: a fresh install has none
            bc_root = plugin_copy(lab, "plugin")
    bc_venv = venv
    lab.plugin_root, lab.plugin_venv = bc_root, bc_venv

    # The same without UV_COMPILE_BYTECODE, and never writing any: a plugin copy and a venv that
    # stay free of bytecode (the standard library keeps its own).
    nobc_root = plugin_copy(lab, "plugin-nobc")
    fresh_nobc: list[float] = []
    for i in range(n_fresh):
        venv = base / f"venv-nobc-{i}"
        env = _launch_env(lab, base, venv, bytecode=False)
        fresh_nobc.append(time_to_tools(lab, plugin_argv(nobc_root), env, base))
        if i < n_fresh - 1:
            shutil.rmtree(venv)
    nobc_venv = venv
    pyc_left = count_pyc(nobc_venv) + count_pyc(nobc_root)

    # Later starts, and the floors: the interpreter, the SDK's import, uv's own part. Measured
    # round-robin (one of each per round), so a load that comes and goes hits every variant alike.
    bc_env = _launch_env(lab, base, bc_venv, bytecode=True)
    nobc_env = _launch_env(lab, base, nobc_venv, bytecode=False)
    warm_env = _launch_env(lab, base, bc_venv, bytecode=True, warm=True)
    entry = bc_venv / "bin" / "codex-fusion"
    py_bc, py_nobc = str(venv_python(bc_venv)), str(venv_python(nobc_venv))
    plain, nobc_plain = clean_env(), clean_env(PYTHONDONTWRITEBYTECODE="1")
    starts: dict[str, tuple[list[str], dict[str, str]]] = {
        "bytecode": (plugin_argv(bc_root), bc_env),
        "no_bytecode": (plugin_argv(nobc_root), nobc_env),
    }
    floor_runs: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([py_bc, "-c", "pass"], plain),
        "import mcp (bytecode)": ([py_bc, "-c", "import mcp"], plain),
        "uv run … python -c pass": (plugin_argv(bc_root, "python", "-c", "pass"), bc_env),
    }
    if not lab.quick:  # the smoke run keeps to the cheap ones
        time_to_tools(lab, plugin_argv(bc_root), bc_env, base)  # settle the page cache
        starts["bytecode_warm_on"] = (plugin_argv(bc_root), warm_env)
        starts["bytecode_no_uv"] = ([str(entry), "serve"], bc_env)
        floor_runs.update(
            {
                "import mcp (no bytecode)": ([py_nobc, "-c", "import mcp"], nobc_plain),
                "import mcp.server.mcpserver (bytecode)": (
                    [py_bc, "-c", "import mcp.server.mcpserver"],
                    plain,
                ),
                "import mcp.server.mcpserver (no bytecode)": (
                    [py_nobc, "-c", "import mcp.server.mcpserver"],
                    nobc_plain,
                ),
                "codex-fusion --version (no uv)": ([str(entry), "--version"], plain),
            }
        )
    start_samples: dict[str, list[float]] = {name: [] for name in starts}
    floors: dict[str, list[float]] = {name: [] for name in floor_runs}
    for _ in range(n):
        for name, (argv, env) in starts.items():
            start_samples[name].append(time_to_tools(lab, argv, env, base))
        for name, (argv, env) in floor_runs.items():
            floors[name].append(run_timed(argv, env))
    with_bc, without_bc = start_samples["bytecode"], start_samples["no_bytecode"]
    with_warm, no_uv = start_samples.get("bytecode_warm_on", []), start_samples.get("bytecode_no_uv", [])
    imports = import_breakdown(lab, bc_venv, bc_root, base, runs=lab.n(3))

    stats = {
        "fresh_venv_bytecode": summary(fresh_bc),
        "fresh_venv_no_bytecode": summary(fresh_nobc),
        "bytecode": summary(with_bc),
        "no_bytecode": summary(without_bc),
        "bytecode_warm_on": summary(with_warm),
        "bytecode_no_uv": summary(no_uv),
    }
    floor_stats = {name: summary(samples) for name, samples in floors.items()}
    fig.data = {
        "spawn_to_tools_list": stats,
        "floors": floor_stats,
        "pyc_files_in_no_bytecode_tree": pyc_left,
        "imports": imports,
        "python": subprocess.run([py_bc, "-VV"], capture_output=True, text=True).stdout.strip(),
    }
    fig.row("spawn → tools/list, uv run, bytecode (plugin default)", med(stats["bytecode"], p95=True))
    fig.row("spawn → tools/list, uv run, no bytecode", med(stats["no_bytecode"], p95=True))
    fig.row("spawn → tools/list, uv run, bytecode, CODEX_FUSION_WARM=1", med(stats["bytecode_warm_on"]))
    fig.row("spawn → tools/list, venv entry point (no uv), bytecode", med(stats["bytecode_no_uv"]))
    fig.row(
        "first start, fresh venv (uv cache warm), UV_COMPILE_BYTECODE=1", med(stats["fresh_venv_bytecode"])
    )
    fig.row("first start, fresh venv, no bytecode", med(stats["fresh_venv_no_bytecode"]))
    for name, st in floor_stats.items():
        fig.row(f"floor: {name}", med(st))
    fig.row(
        "import work on the start-up path (-X importtime, to tools/list)",
        f"total {ms(imports['total_s'])}, ours (self) {ms(imports['ours_self_s'])}",
    )
    top = ", ".join(f"{m['module']} {ms(m['cumulative_s'])}" for m in imports["ours_by_cumulative"][:4])
    fig.row("  our modules by cumulative import time", top)
    packages = ", ".join(f"{p} {ms(s)}" for p, s in list(imports["self_by_package"].items())[:6])
    fig.row("  self time by top-level package", packages)
    if pyc_left:
        fig.note(f"the no-bytecode tree has {pyc_left} .pyc files: that row is not bytecode-free")
    return fig


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def parse_importtime(text: str) -> list[tuple[str, int, int, int]]:
    """(module, self µs, cumulative µs, depth) per ``-X importtime`` line."""
    out = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            self_us, cumulative, indent, module = match.groups()
            out.append((module, int(self_us), int(cumulative), (len(indent) - 1) // 2))
    return out


def import_breakdown(lab: Lab, venv: Path, root: Path, base: Path, runs: int) -> dict[str, Any]:
    """``python -X importtime`` of the real server from spawn to ``tools/list`` answered (median of
    ``runs``): the total, our modules' own (self) time, our modules by cumulative time, and self time
    grouped by top-level package (self times add up to the total)."""
    stdlib = sys.stdlib_module_names
    per_run: list[dict[str, Any]] = []
    by_package: dict[str, int]
    entry = venv / "bin" / "codex-fusion"
    for _ in range(runs):
        env = lab.env(base)
        peer = lab.start([str(venv_python(venv)), "-X", "importtime", str(entry), "serve"], env, base)
        try:
            peer.initialize()
            peer.list_tools()
            peer._stderr.flush()
            text = peer.stderr_path.read_text(errors="replace")
        finally:
            lab.release(peer)
        rows = parse_importtime(text)
        ours = {m: (s, c) for m, s, c, _ in rows if m.split(".")[0] == "codex_fusion"}
        by_package = {}
        for module, self_us, _, _ in rows:
            top = module.split(".")[0]
            group = "codex_fusion" if top == "codex_fusion" else ("stdlib" if top in stdlib else top)
            by_package[group] = by_package.get(group, 0) + self_us
        per_run.append(
            {
                "total": sum(c for _, _, c, depth in rows if depth == 0),
                "ours": ours,
                "by_package": by_package,
                "count": len(rows),
            }
        )

    def median_of(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    modules = sorted({m for run in per_run for m in run["ours"]})
    ours_rows: list[dict[str, Any]] = [
        {
            "module": m,
            "self_s": median_of([run["ours"][m][0] / 1e6 for run in per_run if m in run["ours"]]),
            "cumulative_s": median_of([run["ours"][m][1] / 1e6 for run in per_run if m in run["ours"]]),
        }
        for m in modules
    ]
    packages = sorted({p for run in per_run for p in run["by_package"]})
    package_s = {p: median_of([run["by_package"].get(p, 0) / 1e6 for run in per_run]) for p in packages}
    package_s = dict(sorted(package_s.items(), key=lambda kv: -kv[1]))
    return {
        "runs": runs,
        "modules_imported": median_of([run["count"] for run in per_run]),
        "total_s": median_of([run["total"] / 1e6 for run in per_run]),
        "ours_self_s": sum(m["self_s"] for m in ours_rows),
        "ours_modules": len(ours_rows),
        "ours_by_cumulative": sorted(ours_rows, key=lambda m: -m["cumulative_s"])[:15],
        "ours_by_self": sorted(ours_rows, key=lambda m: -m["self_s"])[:15],
        "self_by_package": package_s,
        "how": "python -X importtime <venv>/bin/codex-fusion serve (bytecode venv, no uv), stderr read "
        "when tools/list is answered; self µs summed per top-level package",
    }


# -- warm first consult ----------------------------------------------------------------------------


def _wait_session(peer: Peer, prefix: str = "", timeout: float = 60) -> float:
    """Poll ``status`` until a session is open; the time it took, seconds."""
    started = time.perf_counter()
    found: list[str] = []

    def is_open() -> bool:
        sid = status_session(peer.status())
        if sid is not None and sid.startswith(prefix):
            found.append(sid)
            return True
        return False

    if not wait_until(is_open, timeout, interval=0.01):
        raise RuntimeError(f"warm-up opened no session within {timeout:g} s; {peer.stderr_tail()}")
    return time.perf_counter() - started


def warm_consult(lab: Lab) -> Figure:
    n = lab.n(10)
    warm_first, warm_second, warmup, cold_first, cold_second, at_once = [], [], [], [], [], []

    def timed_consult(peer: Peer, into: list[float]) -> None:
        started = time.perf_counter()
        peer.consult("@fake say ok")
        into.append(time.perf_counter() - started)

    for _ in range(n):  # one of each per round: a passing load hits all three alike
        peer = lab.direct(lab.fresh_dir("warm-on"), warm=True)
        peer.initialize()
        peer.list_tools()
        warmup.append(_wait_session(peer, "sess-"))
        time.sleep(0.1)
        timed_consult(peer, warm_first)
        timed_consult(peer, warm_second)
        lab.release(peer)

        peer = lab.direct(lab.fresh_dir("warm-at-once"), warm=True)
        peer.initialize()
        peer.list_tools()
        timed_consult(peer, at_once)  # Claude asks at once: the warm-up is still under way
        lab.release(peer)

        peer = lab.direct(lab.fresh_dir("warm-off"), warm=False)
        peer.initialize()
        peer.list_tools()
        time.sleep(0.1)
        timed_consult(peer, cold_first)
        timed_consult(peer, cold_second)
        lab.release(peer)
    agent = summary(bare_agent_round_trips(lab.n(200, 20)))
    fig = Figure()
    stats = {
        "warm_first": summary(warm_first),
        "warm_second": summary(warm_second),
        "warm_up_duration": summary(warmup),
        "cold_first": summary(cold_first),
        "warm_consult_at_once": summary(at_once),
        "cold_second": summary(cold_second),
        "agent_own_answer": agent,
    }
    over = stats["warm_first"]["median"] - agent["median"]
    fig.data = {**stats, "warm_first_minus_agent_s": over}
    fig.row("first consult, CODEX_FUSION_WARM=1, after warm-up", med(stats["warm_first"], p95=True))
    fig.row(
        "first consult, CODEX_FUSION_WARM=0 (agent spawn + handshake)", med(stats["cold_first"], p95=True)
    )
    fig.row(
        "first consult sent at once after tools/list, CODEX_FUSION_WARM=1", med(stats["warm_consult_at_once"])
    )
    fig.row(
        "second consult (same servers, warm / not)",
        f"{ms(stats['warm_second']['median'])} / {ms(stats['cold_second']['median'])}",
    )
    fig.row("agent's own answer time (bare NDJSON to the fake agent)", med(agent, p95=True, digits=2))
    fig.row("warm first consult − agent's own answer", ms(over, 2))
    fig.row("warm-up: tools/list answered → status shows the session", med(stats["warm_up_duration"]))
    fig.note("servers started as the dev venv's entry point (no uv); fake agent as a subprocess")
    return fig


# -- the real codex-acp ----------------------------------------------------------------------------


def real_acp(lab: Lab) -> Figure:
    if lab.quick:
        return skipped("skipped in --quick (starts the real Codex)")
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    try:
        from e2e_adapters import Adapter, find_adapters, make_adapter_env, write_codex_config
        from mock_openai import MockResponses, say
    except ImportError as exc:
        return skipped(f"cannot import the e2e helpers: {exc}")
    found = find_adapters()["ts"]
    if not isinstance(found, Adapter):
        return skipped(f"TypeScript adapter not provisioned: {found}")
    n = lab.n(5)
    results: dict[str, list[float]] = {"warm_first": [], "cold_first": [], "second": [], "warm_up": []}
    with MockResponses() as mock:
        mock.script([say(f"answer {i}") for i in range(4 * n + 4)])
        for warm in (True, False):
            for _ in range(n):
                base = lab.fresh_dir("real-warm" if warm else "real-cold")
                workspace = _git_workspace(base / "workspace")
                codex_home = base / "codex_home"
                write_codex_config(codex_home, mock.base_url)
                env = make_adapter_env(found, codex_home, base / "home")
                env.update(
                    CODEX_FUSION_ACP_COMMAND=shlex.join(found.argv),
                    CODEX_FUSION_WORKSPACE=str(workspace),
                    CODEX_FUSION_STARTUP_TIMEOUT_MS="60000",
                    CODEX_FUSION_WARM="1" if warm else "0",
                    CODEX_FUSION_LOG_LEVEL="WARNING",
                    CLAUDE_PLUGIN_DATA=str(base / "plugin-data"),
                )
                peer = lab.start([str(_entry()), "serve"], env, base)
                try:
                    peer.initialize()
                    peer.list_tools()
                    if warm:
                        results["warm_up"].append(_wait_session(peer, timeout=120))
                        time.sleep(0.2)
                    started = time.perf_counter()
                    answer = peer.consult("Say hi.", timeout=120)
                    results["warm_first" if warm else "cold_first"].append(time.perf_counter() - started)
                    if "answer" not in answer:
                        raise RuntimeError(f"unexpected answer from the real adapter: {answer[:300]}")
                    started = time.perf_counter()
                    peer.consult("Say hi again.", timeout=120)
                    results["second"].append(time.perf_counter() - started)
                finally:
                    lab.release(peer)
    stats = {k: summary(v) for k, v in results.items()}
    fig = Figure(data={**stats, "adapter": f"{found.name} {found.version}", "argv": found.argv})
    fig.row(
        f"first consult, real codex-acp {found.version}, WARM=1 after warm-up",
        med(stats["warm_first"], p95=True),
    )
    fig.row("first consult, real codex-acp, WARM=0", med(stats["cold_first"], p95=True))
    fig.row("second consult (steady, real Codex + mock model)", med(stats["second"]))
    fig.row("warm-up: tools/list answered → session open", med(stats["warm_up"], "s"))
    fig.note("node + the provisioned adapter (no npx), mock OpenAI Responses API on localhost")
    return fig


def _entry() -> Path:
    from bench.common import ENTRY

    return ENTRY


def _git_workspace(path: Path) -> Path:
    (path / "src").mkdir(parents=True)
    (path / "README.md").write_text("# demo\nhello\n")
    (path / "src" / "app.py").write_text("def main():\n    print('hi')\n")
    env = clean_env(
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        with contextlib.suppress(FileNotFoundError):
            subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return path
