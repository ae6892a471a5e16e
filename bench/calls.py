"""Per-call figures: steady consults and server CPU per call, the raw ACP floor, the profiles, the
chunk stream, and memory (idle, and after 1,000 consults)."""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from bench.common import (
    FAKE_AGENT,
    ROOT,
    Lab,
    Peer,
    agent_pid,
    bare_agent_round_trips,
    children,
    clean_env,
    cpu_seconds,
    descendants,
    med,
    memory,
    mib,
    ms,
    reset_peak_rss,
    sec,
    status_session,
    summary,
    uv_path,
    wait_until,
)
from bench.report import Figure

QUESTION = "@fake say ok"
#: The MCP SDK alone, one trivial tool: the floor a consult is measured against.
FLOOR_SERVER = Path(__file__).resolve().with_name("floor_server.py")
PROGRESS_TOKEN = "bench-progress"  # noqa: S105 (an MCP progress token)


def _fake_agent_pid(peer: Peer) -> int | None:
    """The fake agent itself: the child of the reaper whose pid ``status`` shows."""
    reaper = agent_pid(peer.status())
    if reaper is None:
        return None
    kids = children(reaper)
    return kids[0] if kids else None


def _settle(lab: Lab) -> None:
    """Let the follower's view of the hook's records settle: a check within ``SETTLED_S`` of a change
    to them (the first turn writes the debate state beside them) reads them in a worker thread; the
    steady state is a stat (ADR 0031)."""
    from codex_fusion.host.follow import SETTLED_S

    if not lab.quick:
        time.sleep(SETTLED_S + 0.1)


def _timed_loop(
    fn: Callable[[], Any], n: int, server: int, agent: int | None
) -> tuple[dict[str, Any], float, float | None]:
    """(latency summary, server CPU per call, agent CPU per call) over ``n`` calls of ``fn``."""
    cpu0 = cpu_seconds(server)
    agent0 = cpu_seconds(agent) if agent else None
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    cpu = (cpu_seconds(server) - cpu0) / n
    agent_cpu = (cpu_seconds(agent) - agent0) / n if agent and agent0 is not None else None
    return summary(samples), cpu, agent_cpu


# -- steady consults -------------------------------------------------------------------------------


def steady(lab: Lab) -> Figure:
    n = lab.n(400, 5)
    base = lab.fresh_dir("steady")
    peer = lab.direct(base)
    peer.initialize()
    peer.list_tools()
    for _ in range(lab.n(30, 2)):
        peer.consult(QUESTION)
    _settle(lab)
    server = peer.server_pid()
    agent = _fake_agent_pid(peer)
    loops: dict[str, tuple[dict[str, Any], float, float | None]] = {}
    loops["ping"] = _timed_loop(lambda: peer.request("ping", {}), n, server, None)
    loops["tools/list"] = _timed_loop(lambda: peer.request("tools/list", {}), n, server, None)
    loops["status tool"] = _timed_loop(lambda: peer.call_tool("status", {}), n, server, None)
    loops["consult"] = _timed_loop(lambda: peer.consult(QUESTION), n, server, agent)
    notes: list[dict[str, Any]] = []
    loops["consult with progressToken"] = _timed_loop(
        lambda: peer.consult(QUESTION, token=PROGRESS_TOKEN, notes=notes), n, server, agent
    )
    lab.release(peer)
    floor = lab.start([sys.executable, str(FLOOR_SERVER)], lab.env(base), base)
    floor.initialize()
    for _ in range(lab.n(30, 2)):
        floor.consult(QUESTION)
    loops["SDK floor server: consult"] = _timed_loop(
        lambda: floor.consult(QUESTION), n, floor.server_pid(), None
    )
    lab.release(floor)

    acp = anyio.run(_acp_layer_round_trips, lab, n)
    bare = summary(bare_agent_round_trips(n))
    fig = Figure()
    fig.data = {
        name: {"latency": st, "server_cpu_per_call_s": cpu, "agent_cpu_per_call_s": agent_cpu}
        for name, (st, cpu, agent_cpu) in loops.items()
    }
    fig.data["acp_layer"] = acp
    fig.data["bare_agent"] = bare
    fig.data["progress_notifications"] = len(notes)
    for name, (st, cpu, agent_cpu) in loops.items():
        extra = f", agent CPU {ms(agent_cpu, 2)}" if agent_cpu is not None else ""
        fig.row(f"stdio {name}", f"{med(st, p95=True, digits=2)}; server CPU {ms(cpu, 2)}/call{extra}")
    fig.row(
        "raw ACP: our acp layer (run_agent + Agent.prompt), no MCP",
        f"{med(acp['latency'], p95=True, digits=2)}; CPU {ms(acp['cpu_per_call_s'], 2)}/call",
    )
    fig.row("raw ACP: bare NDJSON to the fake agent (its own answer time)", med(bare, p95=True, digits=2))
    ratio = loops["consult"][0]["median"] / loops["SDK floor server: consult"][0]["median"]
    fig.data["consult_over_sdk_floor"] = ratio
    fig.row("stdio consult ÷ the SDK floor server's consult (same run)", f"{ratio:.2f}×")
    mcp_cost = loops["consult"][0]["median"] - acp["latency"]["median"]
    fig.data["consult_minus_acp_layer_s"] = mcp_cost
    fig.row("stdio consult − acp layer (MCP SDK + our tool/runner layers)", ms(mcp_cost, 2))
    fig.note("server = dev venv entry point (no uv); CPU = /proc/<pid>/stat utime+stime delta / n")
    return fig


async def _acp_layer_round_trips(lab: Lab, n: int) -> dict[str, Any]:
    from codex_fusion.acp.agent import StartOptions
    from codex_fusion.acp.start import run_agent
    from codex_fusion.launch.sessions import POLICY

    logging.getLogger("codex_fusion").setLevel(logging.ERROR)
    base = lab.fresh_dir("acp-layer")
    options = StartOptions(
        argv=[sys.executable, str(FAKE_AGENT)], cwd=base, env=clean_env(FAKE_ACP=""), policy=POLICY
    )

    async def on_request(method: str, params: Any) -> Any:
        raise RuntimeError(f"unexpected request {method}")

    def on_notification(method: str, params: Any) -> None:
        return None

    async with run_agent(options, on_request=on_request, on_notification=on_notification) as agent:
        opened = await agent.open_session(base, mode="read-only", timeout=30)
        for _ in range(20):
            await agent.prompt(opened.session_id, QUESTION)
        samples = []
        cpu0 = time.process_time()
        for _ in range(n):
            started = time.perf_counter()
            await agent.prompt(opened.session_id, QUESTION)
            samples.append(time.perf_counter() - started)
        cpu = (time.process_time() - cpu0) / n
        agent.fast_stop = True
    return {"latency": summary(samples), "cpu_per_call_s": cpu}


# -- profiles --------------------------------------------------------------------------------------


def _group(filename: str, name: str) -> str:
    """Which package a profiled function belongs to."""
    if filename == "~":
        if "poll" in name or "select" in name:
            return "idle (waiting in epoll/select)"
        return "C builtins"
    if filename.startswith("<frozen importlib"):
        return "import machinery"
    if filename.startswith("<frozen "):  # os, posixpath, _collections_abc… are frozen in 3.11
        return "stdlib " + filename[len("<frozen ") :].rstrip(">")
    path = filename.replace(os.sep, "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/codex_fusion/" in path:
        return "codex_fusion"
    if path.endswith(("fake_agent.py", "memory_host.py")):
        return "fake agent (tests/)"
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib " + (rest[1].removesuffix(".py") if len(rest) > 1 else "?")
    return Path(path).name


def describe_profile(
    stats: pstats.Stats, calls: int, title: str, top: int = 15
) -> tuple[str, dict[str, Any]]:
    """Text (top ``top`` by cumulative and by self time, self time by package) and JSON summary."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    by_group: dict[str, float] = {}
    for (filename, _, name), (_, _, tottime, _, _) in raw.items():
        group = _group(filename, name)
        by_group[group] = by_group.get(group, 0.0) + tottime
    groups = sorted(by_group.items(), key=lambda kv: -kv[1])

    def label(key: tuple[str, int, str]) -> str:
        filename, line, name = key
        if filename == "~":
            return name
        path = filename.replace(os.sep, "/")
        for marker in ("/site-packages/", "/server/", "/lib/python3.11/", str(ROOT) + "/"):
            if marker in path:
                path = path.split(marker, 1)[1]
                break
        return f"{path}:{line}({name})"

    def table(sort_index: int, ours: bool = False) -> list[dict[str, Any]]:
        items = [kv for kv in raw.items() if not ours or "/codex_fusion/" in kv[0][0].replace(os.sep, "/")]
        ordered = sorted(items, key=lambda kv: -kv[1][sort_index])[:top]
        return [
            {
                "function": label(key),
                "calls_per_consult": nc / calls,
                "self_us_per_consult": tt / calls * 1e6,
                "cumulative_us_per_consult": ct / calls * 1e6,
            }
            for key, (_, nc, tt, ct, _) in ordered
        ]

    by_cumulative, by_self, ours_cumulative = table(3), table(2), table(3, ours=True)

    def callers(key: tuple[str, int, str], count: int = 3) -> list[str]:
        found = raw[key][4]
        ordered = sorted(found.items(), key=lambda kv: -kv[1][3])[:count]
        return [f"{label(k)} ({v[3] / calls * 1e6:.0f} µs)" for k, v in ordered]

    by_key = {label(k): k for k in raw}
    for row in by_self[:10]:
        row["callers"] = callers(by_key[row["function"]])
    lines = [
        f"### {title}",
        f"{calls} consults profiled; {total / calls * 1e6:.0f} µs profiled per consult (profiler overhead "
        "included; a coroutine counts one call per resumption)",
        "",
    ]
    for heading, rows in (
        (f"top {top} by cumulative time", by_cumulative),
        (f"top {top} by self time", by_self),
        (f"top {top} of codex_fusion's own functions by cumulative time", ours_cumulative),
    ):
        lines.append(f"{heading} (per consult):")
        lines.append(f"  {'calls':>7} {'self µs':>9} {'cum µs':>9}  function")
        for row in rows:
            lines.append(
                f"  {row['calls_per_consult']:7.1f} {row['self_us_per_consult']:9.1f} "
                f"{row['cumulative_us_per_consult']:9.1f}  {row['function']}"
            )
            if heading.startswith(f"top {top} by self"):
                lines.extend(f"  {'':27}    ← {caller}" for caller in row.get("callers", []))
        lines.append("")
    lines.append("who calls the per-call hot spots (cumulative µs per consult through each caller):")
    watched = []
    for key in raw:
        filename, _, name = key
        if (
            (
                filename.startswith("<frozen importlib._bootstrap>")
                and name in ("_handle_fromlist", "_find_and_load")
            )
            or (filename.endswith("to_thread.py") and name == "run_sync")
            or (
                (filename.endswith("posixpath.py") or filename == "<frozen posixpath>") and name == "realpath"
            )
            or (
                filename == "~" and ("posix.stat" in name or "posix.lstat" in name or "posix.listdir" in name)
            )
            or (filename == "~" and "'sub' of 're.Pattern'" in name)
        ):
            watched.append(key)
    for key in sorted(watched, key=lambda k: -raw[k][3]):
        lines.append(f"  {raw[key][3] / calls * 1e6:9.1f} µs  {label(key)}")
        lines.extend(f"  {'':9}     ← {caller}" for caller in callers(key, 6))
    lines.append("")
    lines.append("self time by package (per consult):")
    for group, seconds in groups:
        lines.append(f"  {seconds / calls * 1e6:9.1f} µs  {seconds / total * 100:5.1f} %  {group}")
    lines.append("")
    data = {
        "consults": calls,
        "profiled_us_per_consult": total / calls * 1e6,
        "top_cumulative": by_cumulative,
        "top_self": by_self,
        "top_ours_cumulative": ours_cumulative,
        "self_by_package_us": {g: s / calls * 1e6 for g, s in groups},
    }
    return "\n".join(lines), data


async def _in_memory_profile(lab: Lab, n: int) -> tuple[pstats.Stats, dict[str, Any]]:
    from mcp import Client

    sys.path.insert(0, str(ROOT))
    from tests.memory_host import memory_spawn

    from codex_fusion.launch.planning import configure
    from codex_fusion.mcp.server import build_server

    logging.getLogger("codex_fusion").setLevel(logging.ERROR)
    base = lab.fresh_dir("profile-memory")
    config = configure(lab.env(base))
    async with Client(build_server(config, spawn=memory_spawn([]))) as client:
        for _ in range(20):
            await client.call_tool("consult", {"question": QUESTION})
        samples = []
        cpu0 = time.process_time()
        for _ in range(n):
            started = time.perf_counter()
            await client.call_tool("consult", {"question": QUESTION})
            samples.append(time.perf_counter() - started)
        cpu = (time.process_time() - cpu0) / n
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            await client.call_tool("consult", {"question": QUESTION})
        profile.disable()
    return pstats.Stats(profile), {"latency": summary(samples), "cpu_per_call_s": cpu}


#: Runs the real server with a profiler that SIGUSR1 turns on and SIGUSR2 turns off and dumps.
_PROFILED_SERVER = """
import cProfile, signal, sys
out = sys.argv[1]
profile = cProfile.Profile()
def on(signum, frame):
    profile.enable()
def off(signum, frame):
    profile.disable()
    profile.dump_stats(out)
    sys.stderr.write("bench: profile written\\n")
    sys.stderr.flush()
signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGUSR2, off)
from codex_fusion.cli.main import main
sys.exit(main(["serve"]))
"""


def _stdio_server_profile(lab: Lab, n: int, question: str = QUESTION) -> tuple[pstats.Stats, dict[str, Any]]:
    """The real server under cProfile over ``n`` consults of ``question`` (after 20 of the plain one)."""
    base = lab.fresh_dir("profile-stdio")
    out = base / "server.prof"
    env = lab.env(base)
    peer = lab.start([sys.executable, "-c", _PROFILED_SERVER, str(out)], env, base)
    try:
        peer.initialize()
        peer.list_tools()
        for _ in range(20):
            peer.consult(QUESTION)
        _settle(lab)
        server = peer.server_pid()
        os.kill(server, signal.SIGUSR1)
        peer.request("ping", {})  # the handler has run once the loop answers again
        cpu0 = cpu_seconds(server)
        started = time.perf_counter()
        for _ in range(n):
            peer.consult(question)
        wall = time.perf_counter() - started
        cpu = (cpu_seconds(server) - cpu0) / n
        os.kill(server, signal.SIGUSR2)
        peer.request("ping", {})
        if not wait_until(out.exists, 10, 0.01):
            raise RuntimeError(f"the profiled server wrote no profile; {peer.stderr_tail()}")
        time.sleep(0.2)  # dump_stats may still be writing
    finally:
        lab.release(peer)
    return pstats.Stats(str(out)), {"wall_per_call_s": wall / n, "server_cpu_per_call_s": cpu}


def profile(lab: Lab) -> Figure:
    n = lab.n(500, 10)
    memory_stats, memory_info = anyio.run(_in_memory_profile, lab, n)
    memory_text, memory_data = describe_profile(
        memory_stats,
        n,
        "in-memory: mcp.Client(build_server(config, spawn=memory_spawn())) — client, "
        "server and fake agent in one process (cProfile, wall clock)",
    )
    stdio_stats, stdio_info = _stdio_server_profile(lab, n)
    stdio_text, stdio_data = describe_profile(
        stdio_stats,
        n,
        "stdio server only: the real `serve` process under cProfile (main thread, wall "
        "clock; time in epoll/select is the loop waiting), fake agent as a subprocess",
    )
    chunks, turns = lab.n(20_000, 2_000), lab.n(3)
    stream_stats, stream_info = _stdio_server_profile(
        lab, turns, f"@fake say {'x' * chunks}\n@fake chunks {chunks}"
    )
    stream_text, stream_data = describe_profile(
        stream_stats,
        chunks * turns,
        f"stdio server only, streaming: {turns} turns of {chunks:,} one-character chunks under cProfile; "
        "figures per CHUNK (not per consult)",
    )
    results = lab.results or lab.work
    results.mkdir(parents=True, exist_ok=True)
    path = results / "profile.txt"
    header = (
        f"codex-fusion per-call profile · {time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores\n"
        f"consult = tools/call consult {QUESTION!r} against the instant fake agent\n\n"
    )
    path.write_text(header + memory_text + "\n" + stdio_text + "\n" + stream_text)
    memory_stats.dump_stats(results / "profile-in-memory.prof")  # for pstats / snakeviz
    stdio_stats.dump_stats(results / "profile-stdio-server.prof")
    stream_stats.dump_stats(results / "profile-stdio-stream.prof")
    fig = Figure()
    fig.data = {
        "profile_txt": str(path),
        "in_memory": {**memory_info, **memory_data},
        "stdio_server": {**stdio_info, **stdio_data},
        "stdio_stream": {**stream_info, **stream_data, "chunks_per_turn": chunks},
    }
    fig.row(
        "in-memory consult (client+server+agent, one process)",
        f"{med(memory_info['latency'], p95=True, digits=2)}; CPU {ms(memory_info['cpu_per_call_s'], 2)}/call",
    )
    idle = stdio_data["self_by_package_us"].get("idle (waiting in epoll/select)", 0.0)
    busy = stdio_data["profiled_us_per_consult"] - idle
    fig.row(
        "stdio server under cProfile: main-thread busy / process CPU per call",
        f"{busy / 1000:.2f} ms / {ms(stdio_info['server_cpu_per_call_s'], 2)} (profiler overhead included)",
    )
    top = [(g, us) for g, us in stdio_data["self_by_package_us"].items() if not g.startswith("idle")][:5]
    fig.row("  server self time by package", ", ".join(f"{g} {us:.0f} µs" for g, us in top))
    stream_busy = stream_data["profiled_us_per_consult"] - stream_data["self_by_package_us"].get(
        "idle (waiting in epoll/select)", 0.0
    )
    fig.row(
        f"stdio server under cProfile, {chunks:,}-chunk turn: busy µs per chunk / process CPU per turn",
        f"{stream_busy:.1f} µs / {sec(stream_info['server_cpu_per_call_s'], 3)} (profiler overhead included)",
    )
    fig.row("profile written to", str(path))
    return fig


# -- streaming -------------------------------------------------------------------------------------


def streaming(lab: Lab) -> Figure:
    sizes = (500, 1000, 2000) if lab.quick else (5000, 10000, 20000)
    reps = lab.n(3)
    base = lab.fresh_dir("stream")
    peer = lab.direct(base)
    peer.initialize()
    peer.list_tools()
    peer.consult(QUESTION)
    server = peer.server_pid()
    agent = _fake_agent_pid(peer)
    hwm_reset = True
    per_size: dict[str, Any] = {}
    for size in sizes:
        text = "x" * size
        walls, cpus, agent_cpus, notes_counts, peaks = [], [], [], [], []
        for r in range(reps):
            hwm_reset = reset_peak_rss(server) and hwm_reset
            cpu0, agent0 = cpu_seconds(server), cpu_seconds(agent) if agent else 0.0
            notes: list[dict[str, Any]] = []
            started = time.perf_counter()
            answer = peer.consult(f"@fake say {text}\n@fake chunks {size}", token=f"s{size}-{r}", notes=notes)
            walls.append(time.perf_counter() - started)
            cpus.append(cpu_seconds(server) - cpu0)
            if agent:
                agent_cpus.append(cpu_seconds(agent) - agent0)
            notes_counts.append(sum(1 for m in notes if m.get("method") == "notifications/progress"))
            peaks.append(memory(server).get("vmhwm", 0.0))
            if not answer.startswith(text):
                raise RuntimeError(f"the {size}-chunk answer came back altered: {answer[:200]!r}…")
        bare = summary(bare_agent_round_trips(reps, question=f"@fake say {text}\n@fake chunks {size}"))
        per_size[str(size)] = {
            "wall": summary(walls),
            "server_cpu": summary(cpus),
            "agent_cpu": summary(agent_cpus),
            "progress_notifications": summary([float(c) for c in notes_counts]),
            "peak_rss_kib": max(peaks),
            "bare_agent": bare,
        }
    after = memory(server)
    lab.release(peer)
    fig = Figure(data={"sizes": per_size, "rss_after_kib": after.get("vmrss"), "peak_reset": hwm_reset})
    for label, st in per_size.items():
        cpu = st["server_cpu"]["median"]
        fig.row(
            f"{int(label):,}-chunk turn",
            f"wall {sec(st['wall']['median'], 3)}, "
            f"{st['progress_notifications']['median']:.0f} notifications, "
            f"server CPU {sec(cpu, 3)} ({cpu / int(label) * 1e4:.3f} s/10k), "
            f"peak RSS {mib(st['peak_rss_kib'])}",
        )
        fig.row(
            f"  {int(label):,} chunks: bare agent stream / agent CPU in the server run",
            f"{sec(st['bare_agent']['median'], 3)} / {sec(st['agent_cpu'].get('median'), 3)}",
        )
    if not hwm_reset:
        fig.note("could not reset VmHWM: peak RSS is the process's lifetime peak")
    fig.note("one server; VmHWM reset (clear_refs 5) before each turn, so the peak is the turn's own")
    return fig


# -- memory ----------------------------------------------------------------------------------------


def _tree_memory(root_pid: int, pids: list[int]) -> dict[str, float]:
    total: dict[str, float] = {"vmrss": 0.0, "pss": 0.0}
    for pid in [root_pid, *pids]:
        m = memory(pid)
        total["vmrss"] += m.get("vmrss", 0.0)
        total["pss"] += m.get("pss", 0.0)
    return total


def memory_figure(lab: Lab) -> Figure:
    from bench.startup import ensure_plugin_venv

    fig = Figure()
    data: dict[str, Any] = {}
    reps = lab.n(3)
    if uv_path() is not None:
        root, venv = ensure_plugin_venv(lab)
        idle: list[dict[str, Any]] = []
        spawned = [
            (warm, lab.launch(root, venv, lab.fresh_dir("mem-idle"), CODEX_FUSION_WARM="1" if warm else "0"))
            for warm in (False, True)
            for _ in range(reps)
        ]  # all spawned first: their start-ups overlap, each is measured once it is up and idle
        for warm, peer in spawned:
            peer.initialize()
            peer.list_tools()
            if warm:
                wait_until(lambda p=peer: status_session(p.status()) is not None, 30, 0.02)
            time.sleep(0.3 if lab.quick else 1.0)
            server = peer.server_pid()
            sample: dict[str, Any] = {
                "warm": warm,
                "server": memory(server),
                "uv": memory(peer.pid),
            }
            sample["tree"] = _tree_memory(peer.pid, [server])
            if not warm:
                peer.consult(QUESTION)
                time.sleep(0.3)
                reaper = agent_pid(peer.status())
                sample["server_after_one_consult"] = memory(server)
                if reaper:
                    sample["agent_tree"] = _tree_memory(reaper, descendants(reaper))
            idle.append(sample)
            lab.release(peer)
        data["idle"] = idle

        def median_kib(samples: list[dict[str, Any]], *path: str) -> float:
            values = []
            for s in samples:
                v: Any = s
                for key in path:
                    v = v.get(key, {}) if isinstance(v, dict) else {}
                if isinstance(v, int | float):
                    values.append(float(v))
            values.sort()
            return values[len(values) // 2] if values else 0.0

        cold = [s for s in idle if not s["warm"]]
        warm_samples = [s for s in idle if s["warm"]]
        fig.row(
            "idle RSS, server process (uv run, WARM=0, no agent yet)",
            f"{mib(median_kib(cold, 'server', 'vmrss'))} (Pss {mib(median_kib(cold, 'server', 'pss'))})",
        )
        fig.row(
            "idle RSS, whole tree uv + server (WARM=0)",
            f"{mib(median_kib(cold, 'tree', 'vmrss'))} (Pss {mib(median_kib(cold, 'tree', 'pss'))}); "
            f"uv alone {mib(median_kib(cold, 'uv', 'vmrss'))}",
        )
        fig.row(
            "idle RSS, server process, WARM=1 after warm-up", mib(median_kib(warm_samples, "server", "vmrss"))
        )
        fig.row(
            "server RSS after its first consult / fake agent tree (reaper+agent)",
            f"{mib(median_kib(cold, 'server_after_one_consult', 'vmrss'))} / "
            f"{mib(median_kib(cold, 'agent_tree', 'vmrss'))}",
        )
    else:
        fig.note("uv is not on PATH: idle RSS through the plugin launch not measured")

    total = lab.n(1000, 30)
    marks = sorted({0, 10, 100, 250, 500, 1000, total} & set(range(total + 1)))
    base = lab.fresh_dir("mem-1000")
    peer = lab.direct(base)
    peer.initialize()
    peer.list_tools()
    for _ in range(10):
        peer.consult(QUESTION)
    server = peer.server_pid()
    curve: dict[str, float] = {}
    for i in range(total + 1):
        if i in marks:
            curve[str(i)] = memory(server).get("vmrss", 0.0)
        if i < total:
            peer.consult(QUESTION)
    lab.release(peer)
    first_mark = "100" if "100" in curve else "10"
    data["after_consults_kib"] = curve
    data["growth_kib"] = {
        "from_0": curve[str(total)] - curve["0"],
        f"from_{first_mark}": curve[str(total)] - curve[first_mark],
    }
    fig.data = data
    fig.row(
        f"server RSS after 10 / {total:,} consults (dev venv entry point)",
        f"{mib(curve['0'])} / {mib(curve[str(total)])}; growth {data['growth_kib']['from_0']:+.0f} KiB "
        f"(from consult {first_mark}: {data['growth_kib'][f'from_{first_mark}']:+.0f} KiB)",
    )
    fig.row("  RSS curve (consults: MiB)", ", ".join(f"{k}: {v / 1024:.1f}" for k, v in curve.items()))
    return fig
