"""The hook figure: ``python3 hooks/codex_fusion_hook.py`` as Claude Code runs it, start to exit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Lab, base_environ, clean_env, med, ms, summary
from bench.report import Figure

HOOK = ROOT / "hooks" / "codex_fusion_hook.py"
PID = 4242
SESSION = "bench-session"

#: label, hook_event_name, extra payload fields (a label ending "(gate off)" runs the `gate` entry)
EVENTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("UserPromptSubmit (gate off)", "UserPromptSubmit", {"prompt": "hi"}),
    ("Stop (gate off)", "Stop", {"stop_hook_active": False}),
    ("SessionStart startup", "SessionStart", {"source": "startup"}),
    ("SessionStart clear", "SessionStart", {"source": "clear"}),
    ("PreCompact", "PreCompact", {"trigger": "auto"}),
    ("SessionStart compact (reads the debate state)", "SessionStart", {"source": "compact"}),
    ("SessionEnd", "SessionEnd", {"reason": "clear"}),
)


def interpreters() -> list[tuple[str, str]]:
    """(label, path): ``python3`` as found on PATH, and the system one when it is another file."""
    found: list[tuple[str, str]] = []
    on_path = shutil.which("python3", path=base_environ().get("PATH"))
    if on_path:
        found.append((f"python3 on PATH ({on_path})", on_path))
    system = "/usr/bin/python3"
    if os.path.exists(system) and (not on_path or os.path.realpath(on_path) != os.path.realpath(system)):
        found.append((f"system python3 ({system})", system))
    return found


def _run(
    python: str, payload: bytes, env: dict[str, str], cwd: Path, args: tuple[str, ...] = ()
) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(HOOK), *args], input=payload, capture_output=True, env=env, cwd=cwd, check=False
    )
    return time.perf_counter() - started, done


def hook(lab: Lab) -> Figure:
    sys.path.insert(0, str(ROOT / "server"))
    from codex_fusion.hookside import nonce, serverside

    n = lab.n(40, 1)
    base = lab.fresh_dir("hook")
    data = base / "plugin-data"
    data.mkdir(mode=0o755)
    workspace = base / "workspace"
    workspace.mkdir()
    env = clean_env(
        CLAUDE_PLUGIN_ROOT=str(ROOT),
        CLAUDE_PLUGIN_DATA=str(data),
        CLAUDE_PROJECT_DIR=str(workspace),
        CLAUDE_PID=str(PID),
        CLAUDE_CODE_SESSION_ID=SESSION,
    )
    state = nonce.state_dir(env)
    serverside.write_debate_state(
        state, workspace, PID, "Round 2: Codex objects to the cache; reply due", SESSION
    )
    fig = Figure()
    for label, python in interpreters():
        results: dict[str, Any] = {}
        floor = [_run_floor(python, env, base) for _ in range(n)]
        results["python -c pass"] = summary(floor)
        for event_label, event, fields in EVENTS:
            payload = json.dumps(
                {
                    "session_id": SESSION,
                    "transcript_path": str(base / "t.jsonl"),
                    "cwd": str(workspace),
                    "hook_event_name": event,
                    **fields,
                }
            ).encode()
            samples = []
            for _ in range(n + 1):
                args = ("gate",) if event_label.endswith("(gate off)") else ()
                elapsed, done = _run(python, payload, env, base, args)
                if done.returncode != 0 or done.stderr:
                    raise RuntimeError(
                        f"hook {event_label} failed: rc {done.returncode}, {done.stderr[-500:]!r}"
                    )
                if "compact" in event_label and "Codex objects to the cache" not in done.stdout.decode():
                    raise RuntimeError(f"the compact hook did not show the debate state: {done.stdout!r}")
                samples.append(elapsed)
            results[event_label] = summary(samples[1:])  # the first run writes the hook's bytecode
        fig.data[label] = results
        fig.row(f"{label}: floor `python3 -c pass`", med(results["python -c pass"], p95=True))
        for event_label, _, _ in EVENTS:
            fig.row(f"  hook {event_label}", med(results[event_label], p95=True))
    imports = _hook_imports(interpreters()[-1][1], env, base)
    fig.data["imports"] = imports
    fig.row(
        f"  -X importtime of the SessionStart hook ({imports['python']})",
        f"total {ms(imports['total_s'])}: " + ", ".join(f"{m} {ms(s)}" for m, s in imports["top"][:5]),
    )
    if any("shims" in label for label, _ in interpreters()):
        fig.note(
            "python3 on PATH is a pyenv shim here (a bash script that execs pyenv): the system row is "
            "what a plain python3 costs"
        )
    fig.note("start to exit, payload on stdin, CLAUDE_PLUGIN_DATA/CLAUDE_PROJECT_DIR/CLAUDE_PID set")
    return fig


def gate(lab: Lab) -> Figure:
    """The review gate figure, measured in a process of its own (``_gate_measure``): its in-memory
    server's watcher must not share the process with the ``reset`` figure's, which then misses events."""
    n = lab.n(30, 2)
    base = lab.fresh_dir("gate")
    code = "import json, sys; from pathlib import Path; from bench.hook import _gate_measure; "
    code += "print(json.dumps(_gate_measure(Path(sys.argv[1]), int(sys.argv[2]))))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(base), str(n)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the gate figure failed: {done.stderr[-2000:]}")
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    fig = Figure(data=results)
    for label, value in results.items():
        fig.row(label, med(value, p95=True))
    fig.note("fake agent, never asked: these are the costs around a review, not Codex's review time")
    fig.note(
        "one-shot: `python -m codex_fusion.cli.main gate-review` from the dev venv (the plugin adds `uv run`)"
    )
    return fig


def _gate_measure(base: Path, n: int) -> dict[str, Any]:
    """The review gate's ways to a review, without Codex's own time: a request over the server's
    socket (the bare round trip, and a review of a change that is empty, which runs git), against the
    one-shot process the hook starts when no server runs for its window; and a gate-on prompt's
    snapshot through the real hook."""
    import anyio
    from mcp import Client
    from tests.conftest import FakeAgentSetup
    from tests.test_gate_hook import WINDOW, git, hook_env

    from codex_fusion.hookside import gate_hook, gitsnap, nonce

    fake = FakeAgentSetup(base)
    (fake.workspace / "app.py").write_text("print('hi')\n")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "base")):
        git(fake.workspace, *args)
    tree = gitsnap.snapshot(str(fake.workspace), str(base / "bench.index"))
    request = {"version": 1, "type": "review", "before": tree, "after": tree, "timeout": 30}
    bad = {"version": 1, "type": "nonsense"}
    env = hook_env(fake)
    results: dict[str, Any] = {}

    async def over_socket() -> None:
        async with Client(fake.server("", CODEX_FUSION_REVIEW_GATE="1", CLAUDE_PID=str(WINDOW))):
            directory = nonce.window_dir(nonce.state_dir(env), fake.workspace)
            with anyio.fail_after(10):
                while not list(directory.glob("server-*.json")):  # noqa: ASYNC110 - the server's own file
                    await anyio.sleep(0.01)
            path = json.loads(next(directory.glob("server-*.json")).read_text())["socket"]
            for label, body in (
                ("bare round trip (a refused request)", bad),
                ("empty change (runs git)", request),
            ):
                samples = []
                for _ in range(n + 1):
                    started = time.perf_counter()
                    answer = await anyio.to_thread.run_sync(gate_hook._ask_socket, path, body, 30.0)
                    samples.append(time.perf_counter() - started)
                    assert answer is not None
                results[f"socket: {label}"] = summary(samples[1:])

    anyio.run(over_socket)
    samples = []
    command = [*gate_hook.one_shot_command(env)]
    for _ in range(max(3, n // 3)):
        started = time.perf_counter()
        subprocess.run(command, input=json.dumps(request).encode(), env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    results["one-shot process: empty change"] = summary(samples)
    payload = json.dumps(
        {"session_id": "b", "hook_event_name": "UserPromptSubmit", "cwd": str(fake.workspace)}
    )
    samples = []
    for _ in range(n + 1):
        elapsed, done = _run(sys.executable, payload.encode(), env, base, ("gate",))
        if done.returncode != 0 or done.stderr:
            raise RuntimeError(f"gate hook failed: {done.stderr[-300:]!r}")
        samples.append(elapsed)
    results["hook UserPromptSubmit (gate on: snapshot)"] = summary(samples[1:])
    return results


def _run_floor(python: str, env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def _hook_imports(python: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """What the hook imports (``-X importtime``, top-level imports by cumulative time)."""
    from bench.startup import parse_importtime

    payload = json.dumps({"session_id": SESSION, "hook_event_name": "SessionStart", "source": "startup"})
    done = subprocess.run(
        [python, "-X", "importtime", str(HOOK)], input=payload.encode(), capture_output=True, env=env, cwd=cwd
    )
    rows = parse_importtime(done.stderr.decode(errors="replace"))
    top = sorted(((m, c / 1e6) for m, _, c, depth in rows if depth == 0), key=lambda mc: -mc[1])
    return {
        "python": python,
        "total_s": sum(c for _, c in top),
        "top": top[:12],
    }


def reset(lab: Lab) -> Figure:
    """A /clear, end to end on the server side: the real hook writes the record, the server's watcher
    sees it and resets Codex (the fake agent in memory; the server is not asked anything meanwhile,
    so only the watcher can have done it: ``status`` never checks the record)."""
    import anyio
    from mcp import Client
    from tests.conftest import FakeAgentSetup
    from tests.test_follow import WINDOW, run_hook

    n = lab.n(10, 1)
    samples: list[float] = []

    async def measure() -> None:
        fake = FakeAgentSetup(lab.fresh_dir("reset"))
        run_hook(fake, "SessionStart", "S0")
        async with Client(fake.server("close", CLAUDE_PID=str(WINDOW))) as client:
            for i in range(n):
                await client.call_tool("consult", {"question": "@fake say hi"})
                run_hook(fake, "SessionStart", f"S{i + 1}", source="clear")
                started = time.perf_counter()
                with anyio.fail_after(10):
                    # Polling is the measurement: nothing outside the server can be awaited for it.
                    while "session: none" not in await _status(client):  # noqa: ASYNC110
                        await anyio.sleep(0.002)
                samples.append(time.perf_counter() - started)

    anyio.run(measure)
    fig = Figure(data={"hook_exit_to_reset": summary(samples)})
    fig.row(
        "hook exit (SessionStart clear) → Codex's session reset",
        med(fig.data["hook_exit_to_reset"], p95=True),
    )
    fig.note("the real hook script; the server in memory with the fake agent; status polled every 2 ms")
    return fig


async def _status(client: Any) -> str:
    result = await client.call_tool("status", {})
    return str(result.content[0].text)
