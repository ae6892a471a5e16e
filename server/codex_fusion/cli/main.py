"""Command line: ``codex-fusion [serve]`` (stdio MCP server), ``ask QUESTION``, ``review``, ``doctor``,
``setup``, ``task …`` (delegated tasks, ``cli/tasks.py``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Literal, NoReturn

import anyio
import anyio.abc

from codex_fusion import __version__
from codex_fusion.member import render
from codex_fusion.member.turn import Pause
from codex_fusion.text.redact import RedactingFormatter, redact, redact_credentials

log = logging.getLogger("codex_fusion")

EXIT_FAILURE = 1
EXIT_USAGE = 2


def _setup_logging(default: str) -> None:
    level = os.environ.get("CODEX_FUSION_LOG_LEVEL", default).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("codex-fusion %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("codex_fusion")
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else default)
    root.propagate = False


# -- serve -------------------------------------------------------------------------------------


async def _serve() -> None:
    """Serve until stdin closes; a signal ends the process at once (see :func:`_on_signal`)."""
    from codex_fusion.mcp.server import build_server, run_stdio

    server = build_server()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_on_signal)
        await run_stdio(server)
        tg.cancel_scope.cancel()


async def _on_signal() -> None:
    """SIGINT, SIGTERM, SIGHUP: tell the agents' reapers to stop their trees, then leave at once.

    Claude Code follows SIGINT with SIGTERM ~100 ms later and SIGKILL ~400 ms after that (to `uv`,
    our parent). A graceful unwind cannot finish in time: the SDK reads stdin in a worker thread that
    returns only at the next line or EOF, which Claude Code does not send. It is not needed either:
    each reaper, once told, cleans up its agent's whole tree by itself (and would on our death)."""
    from codex_fusion.acp.process import stop_all_groups

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            log.info("received %s; stopping the agents and exiting", signal.Signals(signum).name)
            stop_all_groups()
            _exit_now(128 + signum)


def _exit_now(code: int) -> None:
    sys.stderr.flush()
    os._exit(code)


def serve() -> int:
    _setup_logging("INFO")
    from codex_fusion.acp.process import kill_all_groups

    try:
        anyio.run(_serve)
    except KeyboardInterrupt:
        pass
    finally:
        kill_all_groups()
    return 0


# -- ask ---------------------------------------------------------------------------------------


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _leave(code: int) -> NoReturn:
    """Kill what is left of the agents and exit now, without unwinding the event loop (a signal
    arriving while it unwinds would land in the default handler and print a traceback)."""
    from codex_fusion.acp.process import kill_all_groups

    kill_all_groups()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _ask(question: str, context: str | None) -> int:
    """Consult once at the terminal. The first Ctrl-C (or SIGTERM/SIGHUP) stops Codex and exits 130;
    a second one during that clean-up exits at once. The signal receiver stays open until the process
    leaves, so no later signal reaches Python's default handler."""
    from codex_fusion.acp.process import stop_all_groups

    interrupted = False
    code = EXIT_FAILURE
    work = anyio.CancelScope()

    async def on_signal(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(*SIGNALS) as signals:
            task_status.started()
            async for _ in signals:
                if interrupted:
                    _leave(130)
                interrupted = True
                stop_all_groups()
                work.cancel()

    async with anyio.create_task_group() as tg:
        await tg.start(on_signal)
        with work:
            code = await _consult_at_terminal(question, context)
        if interrupted:
            print("\ncodex-fusion: interrupted", file=sys.stderr)
            _leave(130)
        tg.cancel_scope.cancel()
    return code


async def _consult_at_terminal(question: str, context: str | None) -> int:
    from codex_fusion.cli.terminal import TerminalView
    from codex_fusion.errors import ConfigError, FusionError
    from codex_fusion.launch.planning import configure
    from codex_fusion.member.conversation import Member
    from codex_fusion.text.prompts import consult

    try:
        config = configure()
    except ConfigError as exc:
        print(f"codex-fusion: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if config.workspace.path is None:
        print(f"codex-fusion: {config.workspace.error}", file=sys.stderr)
        return EXIT_USAGE
    view = TerminalView()
    async with Member(config) as consultant:
        try:
            turn = await consultant.start(consult(question, context))
            result = await view.follow(turn, consultant.changes, consultant.wait(turn))
            while isinstance(result, Pause):
                view.finish()  # what Codex said before asking, then the request
                decision, note = await _ask_person(result)
                result = await view.follow(turn, consultant.changes, consultant.permit(decision, note))
        except FusionError as exc:
            view.finish()
            print(f"codex-fusion: {redact_credentials(str(exc))}", file=sys.stderr)
            return EXIT_FAILURE
    outcome = result
    view.finish()
    if not view.printed and outcome.text:
        sys.stdout.write(redact_credentials(outcome.text))
    sys.stdout.write("\n")
    sys.stdout.flush()
    for item in outcome.notes:
        print(f"[{redact_credentials(render.note(item))}]", file=sys.stderr)
    print(render.footer(outcome), file=sys.stderr)
    return 0 if outcome.stop_reason in ("end_turn", "max_tokens") else EXIT_FAILURE


async def _ask_person(pause: Pause) -> tuple[Literal["allow", "deny"], str | None]:
    """There is no Claude in a terminal: ask the person, or deny when nobody can answer. The request
    is shown byte for byte: what the person approves is what runs (a credential in it is named)."""
    print("\n" + "\n".join(render.request_lines(pause)), file=sys.stderr)
    if not sys.stdin.isatty():
        print("  denied: stdin is not a terminal, so nobody can approve it", file=sys.stderr)
        return "deny", "Nobody is at the terminal to approve this; continue without it."
    sys.stderr.write("  allow? [y/N] ")
    sys.stderr.flush()
    answer = await _read_line()
    if answer.strip().lower() in ("y", "yes"):
        return "allow", None
    return "deny", "The person at the terminal declined."


async def _read_line() -> str:
    """One line from stdin, cancellable (a blocking readline in a thread would hold Ctrl-C until Enter)."""
    fd = sys.stdin.fileno()
    line = b""
    while not line.endswith(b"\n"):
        await anyio.wait_readable(fd)
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        line += chunk
    return line.decode(errors="replace")


def ask(question: str, context: str | None) -> int:
    _setup_logging("WARNING")
    from codex_fusion.acp.process import kill_all_groups

    if question == "-":
        question = sys.stdin.read()
    if not question.strip():
        print("codex-fusion: the question is empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        return anyio.run(_ask, question, context)
    except KeyboardInterrupt:  # a signal before our handlers were in place
        print("\ncodex-fusion: interrupted", file=sys.stderr)
        return 130
    finally:
        kill_all_groups()


# -- doctor and setup --------------------------------------------------------------------------


def doctor() -> int:
    """Check everything codex-fusion needs; exit 1 if something must be fixed."""
    _setup_logging("ERROR")
    from codex_fusion.cli import doctor as checks
    from codex_fusion.errors import ConfigError
    from codex_fusion.launch.planning import configure

    try:
        config = configure()
    except ConfigError as exc:
        print(f"✗ configuration: {exc}")
        return EXIT_FAILURE
    report = anyio.run(checks.diagnose, config, dict(os.environ))
    print(redact(checks.report(report)))
    return EXIT_FAILURE if any(check.status == "fail" for check in report) else 0


def setup() -> int:
    """Install the pinned codex-acp into the data directory (unless another is configured), then doctor."""
    _setup_logging("WARNING")
    from codex_fusion.errors import ConfigError
    from codex_fusion.launch import installer
    from codex_fusion.launch.config import NPX_FALLBACK
    from codex_fusion.launch.planning import configure

    try:
        config = configure()
    except ConfigError as exc:
        print(f"codex-fusion: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if config.agent_source != NPX_FALLBACK:
        print(f"Using {config.agent_command} (from {config.agent_source}); nothing to install.")
    elif config.state_dir is None:
        print(
            "codex-fusion: no data directory to install into: set CLAUDE_PLUGIN_DATA or HOME", file=sys.stderr
        )
        return EXIT_FAILURE
    else:
        print(f"Installing {installer.PACKAGE}@{installer.PINNED} (about 450 MB, once)…", flush=True)
        try:
            env = installer.install_env(os.environ, config.workspace.path)
            where = anyio.run(installer.install, config.state_dir, env)
        except OSError as exc:
            print(f"codex-fusion: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"Installed into {where}.")
    return doctor()


# -- delegated tasks ---------------------------------------------------------------------------


def task(args: argparse.Namespace) -> int:
    """``codex-fusion task …`` (``cli/tasks.py``); a member's request is put to the person here."""
    _setup_logging("WARNING")
    from codex_fusion.acp.process import kill_all_groups
    from codex_fusion.cli import tasks

    try:
        return tasks.run(args, _ask_person)
    finally:
        kill_all_groups()


# -- the review gate, one-shot -----------------------------------------------------------------


def gate_review() -> int:
    """One review for the Stop hook when no server runs for its window: the request as one JSON line
    on stdin, the :class:`~codex_fusion.hookside.gate.Review` as one JSON line on stdout, always exit 0 (a
    failure is a review with ``failure`` set: the gate lets the stop through)."""
    _setup_logging("ERROR")
    import json

    from codex_fusion.acp.process import kill_all_groups
    from codex_fusion.errors import FusionError
    from codex_fusion.hookside import gate
    from codex_fusion.launch.planning import configure
    from codex_fusion.member.conversation import Member
    from codex_fusion.review import gate as gate_review

    async def run(raw: str) -> gate.Review:
        try:
            before, after, timeout = gate_review.parse_request(json.loads(raw))
            config = configure()
        except (ValueError, FusionError) as exc:
            return gate.Review(failure=redact(str(exc)))
        async with Member(config) as consultant:
            return await gate_review.review(consultant, before, after, timeout)

    try:
        review = anyio.run(run, sys.stdin.readline())
    finally:
        kill_all_groups()
    print(json.dumps(review.to_json()), flush=True)
    return 0


# -- entry point -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-fusion",
        description="Consult OpenAI Codex through ACP: an MCP server for Claude Code, and a terminal client.",
    )
    parser.add_argument("--version", action="version", version=f"codex-fusion {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the stdio MCP server (the default)")
    ask_parser = sub.add_parser("ask", help="ask Codex one question; the answer streams to stdout")
    ask_parser.add_argument("question", nargs="+", help="the question ('-' reads it from stdin)")
    ask_parser.add_argument("--context", help="background Codex cannot read in the workspace")
    sub.add_parser("doctor", help="check uv, Node, the agent, the Codex login, the data dir and hooks")
    sub.add_parser("setup", help="install the pinned codex-acp into the data directory, then run doctor")
    sub.add_parser("gate-review", help="(for the Stop hook) review a turn's change: JSON in, JSON out")
    from codex_fusion.cli import tasks

    tasks.add_parser(sub)
    from codex_fusion.cli import review

    review.add_parser(sub)
    guide = sub.add_parser("guidance", help="print what a host's model is taught (for AGENTS.md)")
    guide.add_argument("host", choices=["codex", "gemini"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ask":
        return ask(" ".join(args.question), args.context)
    if args.command == "doctor":
        return doctor()
    if args.command == "setup":
        return setup()
    if args.command == "gate-review":
        return gate_review()
    if args.command == "task":
        return task(args)
    if args.command == "review":
        from codex_fusion.cli import review

        _setup_logging("WARNING")
        return review.run(args)
    if args.command == "guidance":
        from codex_fusion.host import guidance, identity

        print(guidance.render(identity.HOSTS[args.host]), end="")
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main())
