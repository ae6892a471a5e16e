"""Council figures (issue 19): a council round's wall time against its slowest member, and a large
diff reviewed in parts at once against one session.

Both drive codex-fusion's own pieces in this process (``Council``, ``Member``, ``shards``) with
real agent processes: the scripted fake agent, or the real agents against the local mocks of their
model APIs (``tests/e2e/mock_*.py``) with a fixed time per model request. The real agents come from
``scripts/provision-adapters`` and ``scripts/provision-agents``; a part that needs a missing one says
so and is skipped. ``--quick`` runs only the fake-agent council, small.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from bench.common import FAKE_AGENT, ROOT, Lab, med, summary
from bench.report import Figure, skipped

E2E = ROOT / "tests" / "e2e"
#: Seconds per model request for each member of a three-member round (the issue's example).
LATENCIES = (0.5, 1.0, 1.5)
#: The fake-agent councils measured: N members, each with its own latency.
FAKE_COUNCILS = ((2, (0.5, 1.0)), (3, LATENCIES), (5, (0.5, 0.75, 1.0, 1.25, 1.5)))
QUICK_COUNCIL = (3, (0.1, 0.2, 0.3))
REVIEW_FILES = 24
REVIEW_FILE_CHARS = 4_800  # 24 files: 130 kB of diff, 4.1 one-session budgets of 32,000 chars: 5 parts
REVIEW_LATENCIES = (0.5, 1.0, 2.0)
FINDING = re.compile(r"^- (src/\S+): minor: (FLAW-[0-9a-f]{8})$", re.M)


def _quiet() -> None:
    """codex-fusion's own warnings (the fake agent offers no modes) would interleave with the table."""
    logging.getLogger("codex_fusion").setLevel(logging.ERROR)


def _e2e() -> None:
    if str(E2E) not in sys.path:
        sys.path.insert(0, str(E2E))


# -- fan-out: wall vs the slowest member --------------------------------------------------------------


def fan_out(lab: Lab) -> Figure:
    """A council round of N members answering after a fixed time each: the round's wall time against
    its slowest member's own turn (wall ≈ slowest, not the sum), with the fake agent and with the
    real agents against their mocks."""
    _quiet()
    fig = Figure(data={"fake": {}, "real": None})
    runs = lab.n(5)
    councils = (QUICK_COUNCIL,) if lab.quick else FAKE_COUNCILS
    for count, latencies in councils:
        rounds = anyio.run(_fake_rounds, lab, latencies, runs)
        stats = _round_stats(rounds)
        fig.data["fake"][str(count)] = {"latencies_s": latencies, **stats}
        fig.row(
            f"fake agents, {count} members ({'/'.join(f'{x:g}' for x in latencies)} s): wall · slowest · sum",
            _line(stats),
        )
        fig.row("  overhead (wall − slowest member's turn)", med(stats["overhead"], "ms"))
    if lab.quick:
        fig.note("real agents: skipped in --quick (starts codex-acp, claude-agent-acp and Gemini CLI)")
        return fig
    missing = _real_agents_missing()
    if missing is not None:
        fig.note(f"real agents: skipped — {missing}")
        return fig
    rounds, per_member = anyio.run(_real_rounds, lab, runs)
    stats = _round_stats(rounds)
    fig.data["real"] = {"latencies_s": LATENCIES, **stats, "member_turn": per_member}
    fig.row("real agents, 3 members (0.5/1/1.5 s): wall · slowest · sum", _line(stats))
    fig.row("  overhead (wall − slowest member's turn)", med(stats["overhead"], "ms"))
    fig.row(
        "  each member's own turn (codex-acp TS · claude-agent-acp · Gemini CLI)",
        " · ".join(med(s, "s", digits=3) for s in per_member.values()),
    )
    fig.note(
        "a member's turn is its TurnOutcome.elapsed (prompt sent → answer, sessions already open); the "
        "round's wall is Council.ask from call to return, after one untimed round that starts the agents"
    )
    return fig


def _line(stats: dict[str, Any]) -> str:
    return " · ".join(med(stats[key], "s", digits=3) for key in ("wall", "slowest", "sum"))


def _round_stats(rounds: list[dict[str, float]]) -> dict[str, Any]:
    return {key: summary([r[key] for r in rounds]) for key in ("wall", "slowest", "sum", "overhead")}


def _measure(result: Any, wall: float) -> dict[str, float]:
    from codex_fusion.member.turn import TurnOutcome

    elapsed = []
    for seat in result.seats:
        answer = seat.answer
        if not isinstance(answer, TurnOutcome) or answer.stop_reason != "end_turn":
            raise RuntimeError(f"member {seat.name} did not answer: {answer!r}"[:600])
        elapsed.append(answer.elapsed)
    return {"wall": wall, "slowest": max(elapsed), "sum": sum(elapsed), "overhead": wall - max(elapsed)}


async def _fake_rounds(lab: Lab, latencies: tuple[float, ...], runs: int) -> list[dict[str, float]]:
    from codex_fusion.council.council import Council
    from codex_fusion.launch.planning import configure
    from codex_fusion.text import prompts

    base = lab.fresh_dir(f"council-{len(latencies)}")
    names = ["codex", *(f"m{i}" for i in range(1, len(latencies)))]
    fake = shlex.join([sys.executable, str(FAKE_AGENT)])
    members = {name: {"command": fake, "env": {"FAKE_ACP": f"name={name}"}} for name in names[1:]}
    env = lab.env(base, "name=codex", CODEX_FUSION_MEMBERS=json.dumps(members))
    lines = [
        f"@fake[{n}] sleep {s}\n@fake[{n}] say {n}\\nVERDICT: CONSENSUS — ok"
        for n, s in zip(names, latencies, strict=True)
    ]
    brief = prompts.Brief.raw("\n".join(lines))
    out = []
    async with Council(configure(env)) as council:
        await council.ask(brief, names, "my take")  # starts every agent and opens its session
        for _ in range(runs):
            started = time.perf_counter()
            result = await council.ask(brief, names, "my take")
            out.append(_measure(result, time.perf_counter() - started))
    return out


def _real_agents_missing() -> str | None:
    _e2e()
    from e2e_adapters import Adapter, find_adapters

    from codex_fusion.launch import agents

    found = find_adapters()["ts"]
    if not isinstance(found, Adapter):
        return f"the TypeScript codex-acp: {found}"
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_FUSION_AGENTS_DIR": str(_agents_dir())}
    for kind in ("claude", "gemini"):
        if agents.default_command(kind, env, None) is None:
            return f"{kind} not provisioned in {_agents_dir()} (scripts/provision-agents)"
    return None


def _agents_dir() -> Path:
    return Path(os.environ.get("CODEX_FUSION_AGENTS_DIR") or "~/.cache/codex-fusion/agents").expanduser()


async def _real_rounds(lab: Lab, runs: int) -> tuple[list[dict[str, float]], dict[str, Any]]:
    _e2e()
    from e2e_adapters import Adapter, find_adapters, make_adapter_env, write_codex_config
    from mock_anthropic import MockAnthropic
    from mock_anthropic import say as claude_says
    from mock_gemini import MockGemini
    from mock_gemini import say as gemini_says
    from mock_openai import MockResponses

    from codex_fusion.council.council import Council
    from codex_fusion.launch.planning import configure
    from codex_fusion.member.turn import TurnOutcome
    from codex_fusion.text import prompts

    adapter = find_adapters()["ts"]
    assert isinstance(adapter, Adapter)
    base = lab.fresh_dir("council-real")
    workspace = _git_workspace(base / "workspace")
    answer = "An answer.\nVERDICT: CONSENSUS — ok"
    names = ["codex", "claude", "gemini"]
    out: list[dict[str, float]] = []
    turns: dict[str, list[float]] = {name: [] for name in names}
    with (
        MockResponses(default_text=answer, latency=LATENCIES[0]) as codex,
        MockAnthropic() as claude,
        MockGemini() as gemini,
    ):
        claude.latency, gemini.latency = LATENCIES[1], LATENCIES[2]
        claude.script(*(claude_says(answer) for _ in range(runs + 1)))
        gemini.script(*(gemini_says(answer) for _ in range(runs + 1)))
        codex_home = base / "codex_home"
        write_codex_config(codex_home, codex.base_url)
        env = make_adapter_env(adapter, codex_home, base / "home")
        members = {
            "claude": {
                "env": {"ANTHROPIC_BASE_URL": claude.base_url, "ANTHROPIC_API_KEY": "sk-ant-bench"},
                "model": "claude-mock-7",
            },
            "gemini": {
                "env": {"GOOGLE_GEMINI_BASE_URL": gemini.base_url, "GEMINI_API_KEY": "gemini-bench"},
                "model": "gemini-mock-9",
            },
        }
        env.update(
            CODEX_FUSION_ACP_COMMAND=shlex.join(adapter.argv),
            CODEX_FUSION_WORKSPACE=str(workspace),
            CODEX_FUSION_STARTUP_TIMEOUT_MS="120000",
            CODEX_FUSION_WARM="0",
            CODEX_FUSION_AGENTS_DIR=str(_agents_dir()),
            CLAUDE_PLUGIN_DATA=str(base / "plugin-data"),
            CODEX_FUSION_MEMBERS=json.dumps(members),
        )
        brief = prompts.Brief.raw("Which is better here, a queue or a lock? Answer in one line.")
        async with Council(configure(env)) as council:
            _measure(await council.ask(brief, names, "my take"), 0.0)  # starts the agents
            for _ in range(runs):
                started = time.perf_counter()
                result = await council.ask(brief, names, "my take")
                out.append(_measure(result, time.perf_counter() - started))
                for seat in result.seats:
                    assert isinstance(seat.answer, TurnOutcome)
                    turns[seat.name].append(seat.answer.elapsed)
    return out, {name: summary(values) for name, values in turns.items()}


# -- a large diff reviewed in parts ---------------------------------------------------------------------


def sharded_review(lab: Lab) -> Figure:
    """A 24-file diff (≈ 4 one-session budgets) reviewed by the real TS codex-acp against the mock
    model's honest reviewer (``mock_openai.review_step``) at a fixed time per model request: one
    session, which reads each file left out of its diff one request at a time, against the parts
    reviewed at once by sessions of their own (``shards.py``). The findings must be the same."""
    if lab.quick:
        return skipped("skipped in --quick (starts the real Codex, several at once)")
    _e2e()
    try:
        from e2e_adapters import Adapter, find_adapters
    except ImportError as exc:
        return skipped(f"cannot import the e2e helpers: {exc}")
    adapter = find_adapters()["ts"]
    if not isinstance(adapter, Adapter):
        return skipped(f"TypeScript adapter not provisioned: {adapter}")
    _quiet()
    runs = lab.n(3)
    fig = Figure(data={"files": REVIEW_FILES, "adapter": f"ts {adapter.version}", "by_latency": {}})
    for latency in REVIEW_LATENCIES:
        results = anyio.run(_review_runs, lab, adapter, latency, runs)
        keys = ("lone_warm", "lone_cold", "parts")
        stats: dict[str, Any] = {key: summary([r[key] for r in results]) for key in keys}
        for key in (
            "parts_fresh",
            "fresh_startup",
            "parts_turn_max",
            "lone_requests",
            "parts_requests",
            "part_count",
            "startup",
            "one_startup",
        ):
            stats[key] = summary([r[key] for r in results])
        speed_up = statistics.median(r["lone_warm"] / r["parts"] for r in results)
        speed_up_cold = statistics.median(r["lone_cold"] / r["parts"] for r in results)
        speed_up_fresh = statistics.median(r["lone_warm"] / r["parts_fresh"] for r in results)
        stats["speed_up_vs_warm"], stats["speed_up_vs_cold"] = speed_up, speed_up_cold
        stats["fresh_speed_up_vs_warm"] = speed_up_fresh
        fig.data["by_latency"][str(latency)] = stats
        parts = int(stats["part_count"]["median"])
        fig.row(
            f"{latency:g} s a request: one session warm · cold · {parts} parts at once",
            " · ".join(med(stats[key], "s", digits=2) for key in keys),
        )
        fig.row(
            "  speed-up of the parts vs one warm session · vs one cold",
            f"{speed_up:.2f}× · {speed_up_cold:.2f}×",
        )
        fig.row(
            "  the parts with an agent each (before ADR 0032): wall · vs one warm session",
            f"{med(stats['parts_fresh'], 's', digits=2)} · {speed_up_fresh:.2f}×",
        )
        fig.row(
            "  model requests: one session · all parts",
            f"{stats['lone_requests']['median']:.0f} · {stats['parts_requests']['median']:.0f}",
        )
        fig.row(
            "  parts' wall − slowest part's turn (start, stop, the rest)",
            med(stats["startup"], "s", digits=2),
        )
    starts = anyio.run(_starts, lab, adapter, parts, runs)
    fig.data["starts"] = starts
    fig.row(
        "one agent started alone: spawn → session open · stop",
        f"{med(starts['one_open'], 's', digits=2)} · {med(starts['one_close'], 's', digits=2)}",
    )
    fig.row(
        f"{parts} agents started at once: the last open · the last stopped",
        f"{med(starts['all_open'], 's', digits=2)} · {med(starts['all_close'], 's', digits=2)}",
    )
    fig.note("target (issue 19): the parts ≥ 3× faster than one session, with the same findings")
    fig.note(
        "same findings every run: one line per file, the file's FLAW marker, 24 of 24 (checked; a run "
        "whose findings differ fails the figure)"
    )
    fig.note(
        "warm: the agent started and the session open before the clock starts (the server's warm-up); "
        "cold: the clock includes starting codex-acp; the parts open their sessions on the warm "
        "agent (ADR 0032), 'with an agent each' start their own as before"
    )
    return fig


async def _review_runs(lab: Lab, adapter: Any, latency: float, runs: int) -> list[dict[str, float]]:
    from mock_openai import MockResponses, plant_review

    base = lab.fresh_dir(f"review-{latency:g}")
    workspace = _git_workspace(base / "workspace")
    planted = plant_review(workspace, REVIEW_FILES, REVIEW_FILE_CHARS)
    want = set(planted.items())
    out = []
    with MockResponses(reviewer=True, latency=latency) as mock:
        config = _review_config(base, adapter, mock.base_url, workspace)
        for _ in range(runs):
            row: dict[str, float] = {}
            for warm in (True, False):
                before = len(mock.turn_requests)
                seconds, text, startup = await _lone_review(config, workspace, warm=warm)
                _same(want, text, "one session")
                row["lone_warm" if warm else "lone_cold"] = seconds
                if startup is not None:
                    row["one_startup"] = startup
                row["lone_requests"] = len(mock.turn_requests) - before
            before = len(mock.turn_requests)
            seconds, text, turn_max, count = await _parts_review(config, workspace, shared=True)
            _same(want, text, "the parts")
            row.update(parts=seconds, parts_turn_max=turn_max, startup=seconds - turn_max, part_count=count)
            row["parts_requests"] = len(mock.turn_requests) - before
            seconds, text, turn_max, count = await _parts_review(config, workspace, shared=False)
            _same(want, text, "the parts, each with an agent of its own")
            row.update(parts_fresh=seconds, fresh_startup=seconds - turn_max)
            out.append(row)
    return out


async def _starts(lab: Lab, adapter: Any, count: int, runs: int) -> dict[str, Any]:
    """What starting the parts' agents costs: one agent alone, then ``count`` at once (spawn,
    ``initialize``, ``session/new``), and stopping them."""
    from mock_openai import MockResponses

    from codex_fusion.member.conversation import Member

    base = lab.fresh_dir("starts")
    workspace = _git_workspace(base / "workspace")
    times: dict[str, list[float]] = {"one_open": [], "one_close": [], "all_open": [], "all_close": []}

    async def one(config: Any, started: float, opened: list[float], closed: list[float]) -> None:
        async with Member(config) as codex:
            await codex.warm()
            if codex.last_error is not None:
                raise RuntimeError(f"the agent did not start: {codex.last_error}")
            opened.append(time.perf_counter() - started)
            stopping = time.perf_counter()
        closed.append(time.perf_counter() - stopping)

    with MockResponses() as mock:
        config = _review_config(base, adapter, mock.base_url, workspace)
        for _ in range(runs):
            for n, key in ((1, "one"), (count, "all")):
                opened: list[float] = []
                closed: list[float] = []
                started = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for _ in range(n):
                        tg.start_soon(one, config, started, opened, closed)
                times[f"{key}_open"].append(max(opened))
                times[f"{key}_close"].append(max(closed))
    return {key: summary(values) for key, values in times.items()}


def _same(want: set[tuple[str, str]], text: str, who: str) -> None:
    found = set(FINDING.findall(text))
    if found != want:
        raise RuntimeError(
            f"{who} found {len(found)} of {len(want)} planted flaws (missing "
            f"{sorted(want - found)[:3]}, extra {sorted(found - want)[:3]}): {text[-800:]}"
        )


def _review_config(base: Path, adapter: Any, url: str, workspace: Path) -> Any:
    from e2e_adapters import make_adapter_env, write_codex_config

    from codex_fusion.launch.planning import configure

    codex_home = base / "codex_home"
    write_codex_config(codex_home, url)
    env = make_adapter_env(adapter, codex_home, base / "home")
    env.update(
        CODEX_FUSION_ACP_COMMAND=shlex.join(adapter.argv),
        CODEX_FUSION_WORKSPACE=str(workspace),
        CODEX_FUSION_STARTUP_TIMEOUT_MS="120000",
        CODEX_FUSION_WARM="0",
        CLAUDE_PLUGIN_DATA=str(base / "plugin-data"),
    )
    return configure(env)


async def _lone_review(config: Any, workspace: Path, *, warm: bool) -> tuple[float, str, float | None]:
    """One session reviews the diff as review_diff did before parts: the budget's worth in the prompt,
    the rest left for it to read. Returns (wall, answer, the agent's start-up when ``warm``)."""
    from codex_fusion.member.conversation import Member
    from codex_fusion.member.turn import TurnOutcome
    from codex_fusion.review import prompts as review_prompts
    from codex_fusion.review.diffs import DiffRequest, collect_diff

    startup = None
    async with Member(config) as codex:
        started = time.perf_counter()
        if warm:
            await codex.warm()
            if codex.last_error is not None:
                raise RuntimeError(f"the warm-up failed: {codex.last_error}")
            startup = time.perf_counter() - started
        started = time.perf_counter()
        material = await collect_diff(workspace, DiffRequest(), max_chars=config.max_answer_chars)
        outcome = await codex.consult(review_prompts.review_diff(material, None, None), timeout=600)
        seconds = time.perf_counter() - started
    if not isinstance(outcome, TurnOutcome):
        raise RuntimeError(f"the lone review paused: {outcome!r}"[:600])
    return seconds, outcome.text, startup


async def _parts_review(config: Any, workspace: Path, *, shared: bool) -> tuple[float, str, float, int]:
    """The parts, as review_diff runs them now (tools._review_in_parts): collect up to MAX_SHARDS
    budgets, plan, review at once, merge. ``shared``: Codex is warm (the server's warm-up, before the
    clock) and the parts open their sessions on its agent (ADR 0032); otherwise each part starts an
    agent of its own, as before. Returns (wall, merged text, slowest part's turn, parts)."""
    from codex_fusion.member.conversation import Member
    from codex_fusion.review import parts as shards
    from codex_fusion.review.diffs import DiffRequest, collect_diff

    limit = config.max_answer_chars
    async with Member(config) as codex:
        if shared:
            await codex.warm()
            if codex.last_error is not None:
                raise RuntimeError(f"the warm-up failed: {codex.last_error}")
        started = time.perf_counter()
        material = await collect_diff(workspace, DiffRequest(), max_chars=limit * shards.MAX_SHARDS)
        parts = shards.plan(material, limit)
        if parts is None:
            raise RuntimeError("the diff fits one session: nothing to split")
        reviews = await shards.review(
            config,
            codex.member,
            parts,
            None,
            spawn=codex.spawn,
            request_ids=itertools.count(1),
            timeout=600,
            host=shards.host_of(codex) if shared else None,
        )
        merged = shards.merge(reviews, "Codex", started)
        seconds = time.perf_counter() - started
    failed = [r.error for r in reviews if r.outcome is None]
    if failed:
        raise RuntimeError(f"a part failed: {failed[0]}")
    turn_max = max(r.outcome.elapsed for r in reviews if r.outcome is not None)
    return seconds, merged.text, turn_max, len(parts)


def _git_workspace(path: Path) -> Path:
    from bench.startup import _git_workspace as make

    return make(path)
