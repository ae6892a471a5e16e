"""Lifecycle figures: cancel in the three agent behaviours, and shutdown (stdin EOF, Claude Code's
signal sequence through ``uv run``). Every process an agent started is checked afterwards."""

from __future__ import annotations

import os
import re
import signal
import time
from typing import Any

import anyio
from bench.common import (
    Lab,
    Peer,
    agent_pid,
    alive,
    descendants,
    exited,
    med,
    ms,
    status_state,
    summary,
    uv_path,
    wait_until,
)
from bench.report import Figure, skipped

QUESTION = "@fake say ok"

#: name, FAKE_ACP flags, the turn's directive, what the agent does on cancel
CANCEL_SCENARIOS = (
    ("cooperative", "", "@fake sleep 30", "answers session/cancel at once"),
    (
        "wedged",
        "grandchild",
        "@fake hang 30",
        "ignores session/cancel (grace 1.5 s, then its group is killed)",
    ),
    ("ignores_sigterm", "grandchild,ignore_term", "@fake hang 30", "wedged and ignores SIGTERM"),
)


def _agent_tree(peer: Peer) -> list[int]:
    """The agent's reaper (its process group leader) and everything below it."""
    reaper = agent_pid(peer.status())
    if reaper is None:
        raise RuntimeError(f"no agent alive; {peer.stderr_tail()}")
    return [reaper, *descendants(reaper)]


def _wait_running(peer: Peer, timeout: float = 10) -> None:
    if not wait_until(lambda: status_state(peer.status()) == "running", timeout, 0.005):
        raise RuntimeError(f"the turn never ran; {peer.stderr_tail()}")


def _take_answer(peer: Peer, req_id: int) -> bool:
    found = [m for m in peer.stray if m.get("id") == req_id and "method" not in m]
    for msg in found:
        peer.stray.remove(msg)
    return bool(found)


# -- cancel ----------------------------------------------------------------------------------------


def cancel(lab: Lab) -> Figure:
    reps = lab.n(5)
    fig = Figure()
    peers = {
        name: lab.direct(lab.fresh_dir(f"cancel-{name}"), flags) for name, flags, _, _ in CANCEL_SCENARIOS
    }
    for name, flags, directive, what in CANCEL_SCENARIOS:
        peer = peers[name]
        peer.initialize()
        peer.list_tools()
        peer.consult(QUESTION)
        to_idle, tree_gone, next_consult, left, answered, tree_sizes = [], [], [], [], 0, []
        for _ in range(reps):
            tree = _agent_tree(peer)
            tree_sizes.append(len(tree))
            req = peer.send_request("tools/call", {"name": "consult", "arguments": {"question": directive}})
            _wait_running(peer)
            time.sleep(0.2)
            started = time.perf_counter()
            peer.send({"method": "notifications/cancelled", "params": {"requestId": req, "reason": "bench"}})
            while status_state(peer.status()) in ("running", "stopping"):
                if time.perf_counter() - started > 20:
                    raise RuntimeError(f"{name}: the turn did not stop within 20 s; {peer.stderr_tail()}")
            to_idle.append(time.perf_counter() - started)
            if name != "cooperative":
                if wait_until(lambda t=tree: not any(alive(p) for p in t), 5, 0.002):
                    tree_gone.append(time.perf_counter() - started)
                left.append(sum(1 for p in tree if alive(p)))
            answered += _take_answer(peer, req)
            began = time.perf_counter()
            peer.consult(QUESTION)
            next_consult.append(time.perf_counter() - began)
        lab.release(peer)
        stats: dict[str, Any] = {
            "what": what,
            "flags": flags,
            "cancel_to_idle": summary(to_idle),
            "cancel_to_agent_tree_gone": summary(tree_gone),
            "next_consult": summary(next_consult),
            "agent_tree_size": max(tree_sizes),
            "processes_left": left,
            "cancelled_request_answered": answered,
        }
        fig.data[name] = stats
        if name == "cooperative":
            value = f"{med(stats['cancel_to_idle'], p95=True)}; agent kept (as it should be)"
        else:
            gone = stats["cancel_to_agent_tree_gone"]
            value = (
                f"{med(stats['cancel_to_idle'], p95=True)}; tree of {max(tree_sizes)} gone after "
                f"{ms(gone.get('median'))}, left: {sum(left)} in {reps} runs"
            )
        fig.row(f"cancel → idle, {name} ({what})", value)
        fig.row(f"  next consult after a {name} cancel", med(stats["next_consult"]))
    inproc = anyio.run(_in_process_cancel, lab, lab.n(10))
    fig.data["cooperative_in_process"] = inproc
    fig.row("cancel → consult returns, cooperative, in-process Member", med(inproc, p95=True, digits=2))
    fig.note(
        "stdio: notifications/cancelled, then `status` polled back to back until the state is no "
        "longer running/stopping (resolution ≈ one status round trip)"
    )
    return fig


async def _in_process_cancel(lab: Lab, n: int) -> dict[str, Any]:
    """The old bench's measure: a cancel scope around ``Member.consult``, subprocess agent."""
    import logging

    from codex_fusion.launch.planning import configure
    from codex_fusion.member.conversation import Member

    logging.getLogger("codex_fusion").setLevel(logging.ERROR)
    base = lab.fresh_dir("cancel-in-process")
    samples = []
    async with Member(configure(lab.env(base))) as consultant:
        await consultant.consult(QUESTION)
        for _ in range(n):
            with anyio.move_on_after(0.3) as scope:
                await consultant.consult("@fake sleep 30")
            samples.append(anyio.current_time() - scope.deadline)
            await consultant.consult(QUESTION)
    return summary(samples)


# -- shutdown --------------------------------------------------------------------------------------


def _spawn(lab: Lab, count: int, flags: str, *, log_info: bool = False) -> list[Peer]:
    """``count`` servers spawned through the plugin's launch (not waited for: start-ups overlap)."""
    from bench.startup import ensure_plugin_venv

    root, venv = ensure_plugin_venv(lab)
    extra = {"CODEX_FUSION_LOG_LEVEL": "INFO"} if log_info else {}
    return [lab.launch(root, venv, lab.fresh_dir("shutdown"), flags, **extra) for _ in range(count)]


def _ready(peers: list[Peer], running: str | None = None) -> list[dict[str, Any]]:
    """Each server initialized, its agent up (one consult), optionally mid-turn on ``running``."""
    servers = []
    for peer in peers:
        peer.initialize()
        peer.list_tools()
        peer.consult(QUESTION)
        server = peer.server_pid()
        tree = _agent_tree(peer)
        if running is not None:
            peer.send_request("tools/call", {"name": "consult", "arguments": {"question": running}})
            _wait_running(peer)
        servers.append({"peer": peer, "server": server, "tree": [peer.pid, server, *tree]})
    if running is not None:
        time.sleep(0.2)
    return servers


def _eof(lab: Lab, servers: list[dict[str, Any]]) -> dict[str, Any]:
    exits, gone, left, codes = [], [], [], []
    survivors = 0
    for s in servers:
        peer: Peer = s["peer"]
        started = time.perf_counter()
        peer.close_stdin()
        if wait_until(lambda p=peer: p.proc.poll() is not None, 10, 0.001):
            exits.append(time.perf_counter() - started)
            codes.append(peer.proc.returncode)
        else:
            survivors += 1
        if wait_until(lambda t=s["tree"]: not any(alive(p) for p in t), 5, 0.002):
            gone.append(time.perf_counter() - started)
        left.append(sum(1 for p in s["tree"] if alive(p)))
        lab.release(peer)
    return {
        "servers": len(servers),
        "survivors_after_10s": survivors,
        "exit": summary(exits),
        "tree_gone": summary(gone),
        "exit_codes": codes,
        "processes_left": sum(left),
        "tree_size": max((len(s["tree"]) for s in servers), default=0),
    }


def _signal_sequence(lab: Lab, s: dict[str, Any]) -> dict[str, Any]:
    """Claude Code's sequence to ``uv``: SIGINT, SIGTERM 100 ms later, SIGKILL 400 ms after that."""
    peer: Peer = s["peer"]
    uv = peer.proc
    sent: list[str] = []
    server_exit = uv_exit = None
    started = time.perf_counter()
    os.kill(uv.pid, signal.SIGINT)
    sent.append("SIGINT")
    while True:
        now = time.perf_counter() - started
        if server_exit is None and exited(s["server"]):
            server_exit = now
        if uv.poll() is not None:
            uv_exit = now
            break
        if now >= 0.1 and "SIGTERM" not in sent:
            os.kill(uv.pid, signal.SIGTERM)
            sent.append("SIGTERM")
        if now >= 0.5 and "SIGKILL" not in sent:
            os.kill(uv.pid, signal.SIGKILL)
            sent.append("SIGKILL")
        if now > 10:
            break
        time.sleep(0.0005)
    if server_exit is None and wait_until(lambda: exited(s["server"]), 5, 0.001):
        server_exit = time.perf_counter() - started
    gone = None
    if wait_until(lambda: not any(alive(p) for p in s["tree"]), 5, 0.002):
        gone = time.perf_counter() - started
    left = sum(1 for p in s["tree"] if alive(p))
    peer._stderr.flush()
    log = peer.stderr_path.read_text(errors="replace")
    received = re.findall(r"received (SIG[A-Z]+)", log)
    code = uv.returncode
    lab.release(peer)
    return {
        "signals_sent": sent,
        "uv_exit_s": uv_exit,
        "uv_returncode": code,
        "server_exit_s": server_exit,
        "server_handled": received[0] if received else None,
        "tree_gone_s": gone,
        "processes_left": left,
    }


def shutdown(lab: Lab) -> Figure:
    if uv_path() is None:
        return skipped("uv is not on PATH")
    fig = Figure()
    n = lab.n(10)
    stubborn = "grandchild,ignore_eof,ignore_term"
    # Every server is spawned up front (their start-ups overlap); each is measured once it is ready.
    groups = {
        "eof_idle": _spawn(lab, n, "grandchild"),
        "eof_mid_turn_stubborn_agent": _spawn(lab, lab.n(3), stubborn),
        "signals_idle": _spawn(lab, lab.n(5), "grandchild", log_info=True),
        "signals_mid_turn_stubborn_agent": _spawn(lab, lab.n(5), stubborn, log_info=True),
    }
    fig.data["eof_idle"] = eof_idle = _eof(lab, _ready(groups["eof_idle"]))
    busy = _ready(groups["eof_mid_turn_stubborn_agent"], "@fake sleep 60")
    fig.data["eof_mid_turn_stubborn_agent"] = eof_busy = _eof(lab, busy)
    for label, st in (("agent idle", eof_idle), ("mid-turn, agent ignores EOF and SIGTERM", eof_busy)):
        spread = f"min {ms(st['exit'].get('min'))}, max {ms(st['exit'].get('max'))}"
        fig.row(
            f"stdin EOF → exit, {label}",
            f"{med(st['exit'])} ({spread}); "
            f"{st['servers'] - st['survivors_after_10s']} of {st['servers']} exited, "
            f"tree of {st['tree_size']} gone after {ms(st['tree_gone'].get('median'))}, "
            f"left: {st['processes_left']}",
        )
    for name, running in (("signals_idle", None), ("signals_mid_turn_stubborn_agent", "@fake sleep 60")):
        runs = [_signal_sequence(lab, s) for s in _ready(groups[name], running)]
        uv_exits = summary([r["uv_exit_s"] for r in runs if r["uv_exit_s"] is not None])
        gone = summary([r["tree_gone_s"] for r in runs if r["tree_gone_s"] is not None])
        handled = sorted({str(r["server_handled"]) for r in runs})
        last_signal = sorted({r["signals_sent"][-1] for r in runs})
        fig.data[name] = {"runs": runs, "uv_exit": uv_exits, "tree_gone": gone}
        fig.row(
            f"SIGINT→(100 ms)SIGTERM→(400 ms)SIGKILL to uv, {'mid-turn stubborn' if running else 'idle'}",
            f"uv exits {med(uv_exits)}, server handled {'/'.join(handled)}, last signal sent "
            f"{'/'.join(last_signal)}, uv rc {sorted({r['uv_returncode'] for r in runs})}, "
            f"tree gone {ms(gone.get('median'))}, left {sum(r['processes_left'] for r in runs)}",
        )
    fig.note(
        "servers launched as .mcp.json does (uv run --frozen … codex-fusion serve); tree = uv, server, "
        "reaper, fake agent, its `sleep` grandchild"
    )
    return fig
