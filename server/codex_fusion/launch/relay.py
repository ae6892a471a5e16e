"""The TypeScript codex-acp's Codex app-server, started behind codex-fusion (ADR 0008).

The TypeScript adapter starts ``$CODEX_PATH app-server`` and speaks JSON lines to it. codex-fusion points
``CODEX_PATH`` at a shim that runs this module (``python -I -m codex_fusion.launch.relay app-server …``) with
the instructions in ``CODEX_FUSION_RELAY`` (``boundary.relay_spec``). The relay starts the adapter's own
Codex with codex-fusion's overrides and passes every line through unchanged, except:

- **Each thread's configuration.** The adapter marks the session's directory trusted in every
  ``thread/start``/``thread/resume``/``thread/fork`` (``config.projects``), which would load the
  workspace's ``.codex/config.toml``. The relay replaces that with codex-fusion's own: the workspace and
  every directory above it untrusted, no walking above the workspace.
- **A check before each thread starts.** The relay asks the app-server itself (``config/read`` for the
  thread's directory, with its layers) and lets the thread start only if no project layer is in force
  and the permission profile comes from codex-fusion's overrides alone. Otherwise the adapter gets an
  error with the reason, and no thread (no MCP server, no instructions file) starts.
- **A check after.** The files the thread reads instructions from (``instructionSources``) must be in
  the workspace, in ``CODEX_HOME``, or the instructions file the user's own configuration names, and
  the sandbox it reports must write nothing and have no network. Otherwise the adapter gets an error
  in place of the thread.

Standard library only, besides :mod:`codex_fusion.launch.boundary` (pure). Runs with ``-I``: the working
directory is the workspace, and nothing from it may be imported.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from codex_fusion.launch.allowlist import search_path
from codex_fusion.launch.boundary import RELAY_SPEC, isolation

THREAD_METHODS = frozenset({"thread/start", "thread/resume", "thread/fork"})
#: Bound on the app-server's answer to the relay's own ``config/read`` (a hang detector, not a timer).
CHECK_TIMEOUT = 60.0
CHECK_PREFIX = "codex-fusion/check/"
REFUSED = -32603
_INSTRUCTION_KEYS = ("model_instructions_file", "experimental_instructions_file")


@dataclass(frozen=True)
class Spec:
    codex: str | None
    args: tuple[str, ...]
    workspace: Path
    codex_home: Path
    profile: str | None
    writes: bool = False  # a delegated task: the profile writes the workspace (its worktree) only

    @classmethod
    def parse(cls, text: str) -> Spec:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("workspace"), str):
            raise ValueError("not a relay spec")
        args = data.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError("the relay spec has no argument list")
        codex, profile = data.get("codex"), data.get("profile")
        return cls(
            codex=codex if isinstance(codex, str) and codex else None,
            args=tuple(args),
            workspace=Path(data["workspace"]),
            codex_home=Path(str(data.get("codex_home") or "")),
            profile=profile if isinstance(profile, str) and profile else None,
            writes=data.get("writes") is True,
        )


# --- the checks (pure) ------------------------------------------------------------------------------


def _layer(origin: Any) -> str:
    name = origin.get("name") if isinstance(origin, dict) else None
    return str(name.get("type")) if isinstance(name, dict) else "?"


def check_config(result: Any, spec: Spec) -> str | None:
    """What is wrong with the configuration the app-server reports for a thread's directory, if anything
    (``result`` is its answer to ``config/read`` with ``includeLayers``)."""
    if not isinstance(result, dict) or not isinstance(result.get("layers"), list):
        return "the app-server did not say which configuration layers it loaded"
    for layer in result["layers"]:
        name = layer.get("name") if isinstance(layer, dict) else None
        if isinstance(name, dict) and name.get("type") == "project" and not layer.get("disabledReason"):
            folder = name.get("dotCodexFolder", "a .codex folder")
            return f"the project configuration in {folder} is in force"
    if spec.profile is None:
        return None
    config = result.get("config")
    default = config.get("default_permissions") if isinstance(config, dict) else None
    if default != spec.profile:
        return f"the permission profile in force is {default!r}, not codex-fusion's"
    origins = result.get("origins")
    origins = origins if isinstance(origins, dict) else {}
    prefix = f"permissions.{spec.profile}."
    mine = {key: _layer(origin) for key, origin in origins.items() if key.startswith(prefix)}
    if not mine:
        return "codex-fusion's permission profile is not in the app-server's configuration"
    foreign = sorted({layer for layer in mine.values() if layer != "sessionFlags"})
    if foreign:
        return f"codex-fusion's permission profile has entries from the {', '.join(foreign)} configuration"
    return None


def user_instructions(result: Any) -> set[Path]:
    """The instructions files the configuration names (its project layers are off by then)."""
    config = result.get("config") if isinstance(result, dict) else None
    found = set()
    for key in _INSTRUCTION_KEYS:
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, str) and value:
            found.add(_real(Path(value)))
    return found


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_sources(result: Any, spec: Spec, named: set[Path]) -> str | None:
    """What is wrong with the files a started thread reads instructions from, if anything."""
    sources = result.get("instructionSources", []) if isinstance(result, dict) else []
    roots = [_real(spec.workspace), _real(spec.codex_home)]
    for source in sources if isinstance(sources, list) else []:
        path = _real(Path(str(source)))
        if not any(_inside(path, root) for root in roots) and path not in named:
            return f"Codex reads instructions from {source}, outside the workspace"
    return None


def check_sandbox(result: Any, spec: Spec) -> str | None:
    """What is wrong with the sandbox a started thread reports, if anything: with codex-fusion's profile
    it writes nothing and has no network (the thread's own overrides, which ``config/read`` cannot
    show, are seen here)."""
    if spec.profile is None:
        return None
    sandbox = result.get("sandbox") if isinstance(result, dict) else None
    if not isinstance(sandbox, dict):
        return "the app-server did not say which sandbox the thread has"
    if spec.writes and _writes_only_workspace(sandbox, spec):
        return None
    if sandbox.get("type") != "readOnly" or sandbox.get("networkAccess"):
        return f"the thread's sandbox is {json.dumps(sandbox)}, not codex-fusion's read-only profile"
    return None


def _writes_only_workspace(sandbox: Mapping[str, Any], spec: Spec) -> bool:
    """A delegated task's sandbox: it writes its workspace (the worktree) and nothing else — no other
    root, neither ``/tmp`` nor ``$TMPDIR`` — and has no network."""
    roots = sandbox.get("writableRoots")
    return (
        sandbox.get("type") == "workspaceWrite"
        and sandbox.get("networkAccess") is False
        and sandbox.get("excludeTmpdirEnvVar") is True
        and sandbox.get("excludeSlashTmp") is True
        and isinstance(roots, list)
        and all(isinstance(root, str) and _inside(Path(root), spec.workspace) for root in roots)
    )


def confine_thread(params: Any, spec: Spec) -> str | None:
    """Give a thread request codex-fusion's project isolation in place of the adapter's trust; the
    reason to refuse it instead, if its directory is not the workspace."""
    if not isinstance(params, dict):
        return "a thread request without parameters"
    cwd = params.get("cwd")
    if cwd is not None and _real(Path(str(cwd))) != _real(spec.workspace):
        return f"Codex was asked to work in {cwd}, which is not the workspace"
    config = params.get("config")
    config = dict(config) if isinstance(config, dict) else {}
    for key in list(config):
        if key in ("projects", "project_root_markers") or key.startswith(
            ("projects.", "project_root_markers.")
        ):
            del config[key]
    config.update(dict(isolation(_real(spec.workspace))))
    params["config"] = config
    return None


# --- the relay --------------------------------------------------------------------------------------


def _key(ident: Any) -> str:
    return json.dumps(ident, sort_keys=True)


class Relay:
    """Lines from the adapter (``client``) to Codex and back, with the checks above."""

    def __init__(
        self, codex: subprocess.Popen[bytes], spec: Spec, client_in: IO[bytes], client_out: IO[bytes]
    ):
        assert codex.stdin is not None
        assert codex.stdout is not None
        self._to_codex = codex.stdin
        self._from_codex = codex.stdout
        self._spec = spec
        self._client_in = client_in
        self._client_out = client_out
        self._codex_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._checks: dict[str, queue.Queue[Any]] = {}
        self._threads: dict[str, set[Path]] = {}  # thread requests in flight -> instructions allowed
        self._state = threading.Lock()
        self._serial = 0

    # -- writing

    def _send_codex(self, data: bytes) -> None:
        with self._codex_lock:
            self._to_codex.write(data)
            self._to_codex.flush()

    def _send_client(self, data: bytes) -> None:
        with self._client_lock:
            self._client_out.write(data)
            self._client_out.flush()

    def _refuse(self, ident: Any, problem: str) -> None:
        message = (
            f"codex-fusion refused to start this Codex session: {problem}. codex-fusion keeps the "
            "workspace's own Codex configuration out of its session (docs/security.md); nothing was run."
        )
        print(f"codex-fusion relay: {message}", file=sys.stderr, flush=True)
        error = {"id": ident, "error": {"code": REFUSED, "message": message}}
        self._send_client((json.dumps(error) + "\n").encode())

    # -- adapter -> Codex

    def pump_client(self) -> None:
        try:
            for line in self._client_in:
                self._from_client(line)
        except (OSError, ValueError):
            pass
        finally:
            try:
                with self._codex_lock:
                    self._to_codex.close()
            except OSError:
                pass

    def _from_client(self, line: bytes) -> None:
        message = _parse(line) if b"thread/" in line else None
        if message is None or message.get("method") not in THREAD_METHODS or "id" not in message:
            self._send_codex(line)
            return
        ident = message["id"]
        problem = confine_thread(message.get("params"), self._spec)
        answer = None if problem else self._read_config()
        if problem is None:
            problem = (
                check_config(answer, self._spec) if answer is not None else "the app-server did not answer"
            )
        if problem is not None:
            self._refuse(ident, problem)
            return
        with self._state:
            self._threads[_key(ident)] = user_instructions(answer)
        self._send_codex((json.dumps(message) + "\n").encode())

    def _read_config(self) -> Any:
        with self._state:
            self._serial += 1
            ident = f"{CHECK_PREFIX}{self._serial}"
            answers: queue.Queue[Any] = queue.Queue(maxsize=1)
            self._checks[_key(ident)] = answers
        params = {"cwd": str(_real(self._spec.workspace)), "includeLayers": True}
        self._send_codex(
            (json.dumps({"id": ident, "method": "config/read", "params": params}) + "\n").encode()
        )
        try:
            answer = answers.get(timeout=CHECK_TIMEOUT)
        except queue.Empty:
            return None
        finally:
            with self._state:
                self._checks.pop(_key(ident), None)
        return answer.get("result") if isinstance(answer, dict) else None

    # -- Codex -> adapter

    def pump_codex(self) -> None:
        try:
            for line in self._from_codex:
                self._from_codex_line(line)
        except (OSError, ValueError):
            pass
        finally:
            with self._state:
                waiting = list(self._checks.values())
            for answers in waiting:
                answers.put(None)

    def _from_codex_line(self, line: bytes) -> None:
        with self._state:
            watching = bool(self._checks or self._threads)
        message = _parse(line) if watching and b'"id"' in line else None
        if message is None or "method" in message or "id" not in message:
            self._send_client(line)
            return
        key = _key(message["id"])
        with self._state:
            check = self._checks.get(key)
            named = self._threads.pop(key, None)
        if check is not None:
            check.put(message)  # the relay's own question: the adapter never sees it
            return
        if named is not None and "result" in message:
            result = message["result"]
            problem = check_sources(result, self._spec, named) or check_sandbox(result, self._spec)
            if problem is not None:
                self._refuse(message["id"], problem)
                return
        self._send_client(line)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


# --- the program ------------------------------------------------------------------------------------


def find_codex(env: Mapping[str, str], workspace: Path) -> str | None:
    """The adapter's own Codex when only npx knows where it is: npx puts the adapter's
    ``node_modules/.bin`` on ``PATH`` (entries a workspace could plant are skipped)."""
    for directory in search_path(env.get("PATH", ""), workspace).split(os.pathsep):
        codex = Path(directory) / "codex"
        if directory and os.access(Path(directory) / "codex-acp", os.X_OK) and os.access(codex, os.X_OK):
            return str(codex)
    return None


def _serves(args: Sequence[str]) -> bool:
    """``args`` start the app-server itself (not one of its tools such as ``generate-ts``)."""
    return bool(args) and args[0] == "app-server" and all(a.startswith("-") or "=" in a for a in args[1:])


def main(args: Sequence[str]) -> int:
    try:
        spec = Spec.parse(os.environ.pop(RELAY_SPEC, ""))
    except ValueError as exc:
        print(f"codex-fusion relay: {RELAY_SPEC} is missing or invalid ({exc})", file=sys.stderr)
        return 127
    codex = spec.codex or find_codex(os.environ, spec.workspace)
    if codex is None:
        print(
            "codex-fusion: cannot find the Codex of the codex-acp adapter; set CODEX_PATH to it",
            file=sys.stderr,
        )
        return 127
    if not _serves(args):
        os.execv(codex, [codex, *args])  # noqa: S606 - not a session: nothing to confine
    child = subprocess.Popen([codex, *args, *spec.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: child.send_signal(number))
    relay = Relay(child, spec, sys.stdin.buffer, sys.stdout.buffer)
    threading.Thread(target=relay.pump_client, daemon=True).start()
    relay.pump_codex()
    code = child.wait()
    sys.stdout.flush()
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
