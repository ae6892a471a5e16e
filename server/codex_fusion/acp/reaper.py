"""Run one command so that nothing it starts outlives codex-fusion: ``python reaper.py -- ARGV...``.

The agent's process group covers most of what it starts, but not a grandchild that calls ``setsid``,
and nothing at all once the server is SIGKILLed. This small parent closes both gaps:

- ``PR_SET_CHILD_SUBREAPER``: orphans anywhere below it are re-parented to it, not to init, so it
  can find every descendant (``setsid`` ones included) by walking parent links;
- ``PR_SET_PDEATHSIG``: the kernel sends it SIGTERM when the server dies, however it dies;
- on SIGTERM/SIGINT/SIGHUP, on the server's death, and when the agent exits, it sends SIGTERM to
  every descendant, waits briefly, SIGKILLs the rest and reaps them; then it exits with the
  agent's status (re-raising the agent's fatal signal), so the server sees the agent's own exit.

Stdlib only and started with ``python -S -E -s``: it must not import the server's packages. On
systems without ``prctl`` (macOS) it polls for the server's death instead, and only reaches the
descendants it can still see.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
TERM_GRACE = 0.25  # seconds descendants get between SIGTERM and SIGKILL
POLL = 0.5  # seconds between checks for the server's death where prctl is missing


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _children_map() -> dict[int, list[int]]:
    """parent pid → child pids, for every process we can see."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    if entries:
        for name in entries:
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat.rsplit(b")", 1)[-1].split()
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(name))
        return children
    try:  # no /proc (macOS): one `ps`
        ps = ["ps", "-A", "-o", "pid=,ppid="]
        out = subprocess.run(ps, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return children
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            children.setdefault(int(parts[1]), []).append(int(parts[0]))
    return children


def descendants(root: int) -> list[int]:
    children = _children_map()
    found: list[int] = []
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.append(child)
                frontier.append(child)
    return found


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def clean_up() -> None:
    """SIGTERM every descendant, give them TERM_GRACE, SIGKILL what is left, reap."""
    me = os.getpid()
    for sig, grace in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, 1.0)):
        pids = descendants(me)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            _reap()
            if not descendants(me):
                return
            time.sleep(0.01)
    _reap()


def _exit_like(status: int) -> None:
    """Leave with the agent's own status: its exit code, or the signal that killed it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(1)  # a signal that does not kill by default: fall through
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main(argv: list[str]) -> None:
    if not argv:
        sys.stderr.write("usage: reaper.py -- COMMAND [ARGS...]\n")
        os._exit(2)
    server = os.getppid()
    watched_by_kernel = _prctl(PR_SET_PDEATHSIG, signal.SIGTERM) and _prctl(PR_SET_CHILD_SUBREAPER, 1)

    stopping = False

    def begin_stop(signum: int) -> None:
        # Only the first stop counts. Several signals come at once when the server is stopped: its
        # SIGTERM to our group and, as it exits, the kernel's parent-death signal; a second _Stop
        # raised inside the clean-up would end us before the agent's tree is killed.
        nonlocal stopping
        if not stopping:
            stopping = True
            raise _Stop(signum)

    def on_signal(signum: int, frame: object) -> None:
        begin_stop(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        if os.getppid() != server:  # the server died before we could ask to be told
            begin_stop(signal.SIGTERM)
        try:
            agent = subprocess.Popen(argv, restore_signals=True)  # inherits our stdin/stdout/stderr
        except OSError as exc:
            sys.stderr.write(f"codex-fusion: cannot start {argv[0]}: {exc.strerror or exc}\n")
            os._exit(127)
        while True:
            if watched_by_kernel:
                _, status = os.waitpid(agent.pid, 0)
                break
            pid, status = os.waitpid(agent.pid, os.WNOHANG)
            if pid:
                break
            if os.getppid() != server:
                begin_stop(signal.SIGTERM)
            time.sleep(POLL)
    except _Stop as stopped:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        clean_up()
        os._exit(128 + stopped.signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    clean_up()  # whatever the agent left behind (re-parented to us)
    _exit_like(status)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[1:] if args[:1] == ["--"] else args)
