"""The review gate's hook side: a snapshot when a prompt is submitted, the decision when Claude stops.

``UserPromptSubmit`` snapshots the workspace (``gitsnap.snapshot``) into this conversation's private
gate record; ``Stop`` snapshots it again and, when the two differ, lets
:func:`codex_fusion.hookside.gate.decide` ask for a review of exactly that change. The review goes
to the MCP server of this Claude Code window when one runs (over its private socket,
``review/socket.py``: the same Codex session Claude
consults), else to a one-shot ``codex-fusion gate-review`` process. Whatever goes wrong with either,
the stop goes through and says so.

Layout (private, as everything under the state directory; see ``nonce.py``)::

    <state>/windows/<ws_key>/gate-<conversation>.json   baseline tree, blocks used, what is open
    <state>/windows/<ws_key>/gate-<conversation>.index  the private index the snapshots are built in
    <state>/windows/<ws_key>/server-<pid>.json          a running server: its socket, ancestors, and
                                                        its workspace watch (``review/workwatch.py``)
    <state>/windows/<ws_key>/reuse-<claude_pid>.txt     what lets ``hooks/gate.sh`` reuse the last
                                                        stop's tree without Python (:meth:`Gate.reuse_note`)

A prompt reuses the last stop's tree when that server watched the workspace since before the stop's
snapshot began and saw no change (:meth:`Gate.reusable`); a prompt's own snapshot has about 1 s, and
a workspace slower than that is skipped for ten minutes, said once.

``<conversation>`` is the first 16 hex digits of the sha256 of Claude's session id. Standard
library only and importable on Python 3.9: the hook runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from codex_fusion.hookside import gate, nonce
from codex_fusion.hookside.private import dumps, read_json, write_files

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, keeps `typing` off the hook's start-up path
    from collections.abc import Mapping

VERSION = 1
SNAPSHOT_TIMEOUT = 10.0  # seconds: a stop waits this long at most for its snapshot
#: Seconds a prompt waits at most for its snapshot (``CODEX_FUSION_GATE_PROMPT_SNAPSHOT_S`` changes
#: it); a slower workspace is skipped, said once, for :data:`SLOW_RETRY_S` (issue 25.7).
PROMPT_SNAPSHOT_TIMEOUT = 1.0
SLOW_RETRY_S = 600.0
SLOW = (
    "snapshotting this workspace took over {limit:g} s (many untracked files? .gitignore them), so the "
    "review gate skips it for {retry:g} minutes: turns are not reviewed meanwhile"
)
MAX_RESPONSE_BYTES = 1024 * 1024
PLUGIN_ROOT = Path(__file__).resolve().parents[3]


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Gate:
    """One conversation's gate in one workspace."""

    def __init__(self, env: Mapping[str, str], payload: Mapping[str, object]) -> None:
        self.env = env
        self.settings = gate.Settings.from_env(env)
        session = payload.get("session_id")
        self.session_id = (
            session if isinstance(session, str) and session else env.get("CLAUDE_CODE_SESSION_ID", "")
        )
        cwd = payload.get("cwd")
        self.workspace = os.path.realpath(
            env.get("CLAUDE_PROJECT_DIR") or (cwd if isinstance(cwd, str) else ".")
        )
        self.state = nonce.state_dir(env)
        self.directory = nonce.window_dir(self.state, self.workspace)
        key = _key(self.session_id)
        self.record_path = self.directory / f"gate-{key}.json"
        self.index = self.directory / f"gate-{key}.index"
        self.claude_pid = nonce.parse_pid(env.get("CLAUDE_PID", ""))

    # -- the record --------------------------------------------------------------------------------

    def read(self) -> dict[str, object]:
        try:
            raw = read_json(self.record_path, "gate record")
        except ValueError:
            raw = None
        if (
            isinstance(raw, dict)
            and raw.get("version") == VERSION
            and raw.get("session_id") == self.session_id
        ):
            return raw
        return {"version": VERSION, "session_id": self.session_id, "blocks": 0}

    def write(self, record: dict[str, object]) -> None:
        record["at"] = time.time()
        data = dumps(record)
        files = [(self.record_path.name, data)]
        note = self.reuse_note(record, data)
        if note is not None:  # after the record: a note never pins bytes that are not on disk yet
            files.append((f"reuse-{self.claude_pid}.txt", note))
        write_files(self.state, self.directory, files)

    def reuse_note(self, record: Mapping[str, object], data: bytes) -> bytes | None:
        """What lets ``hooks/gate.sh`` reuse the stop's tree without Python (ADR 0030): one line,
        ``1 <session> <stop_began> <record file> <sha256 of its bytes>``, written only when a prompt
        that may reuse would leave this exact record as it is. A later write changes the record's
        bytes (``at`` at least), so an older note no longer matches it and the entry asks Python."""
        tree, began, slow = record.get("stop_tree"), record.get("stop_began"), record.get("slow_at")
        if (
            self.claude_pid is None
            or not _plain(self.session_id)
            or record.get("session_id") != self.session_id
            or record.get("version") != VERSION
            or not isinstance(tree, str)
            or type(began) is not float
            or record.get("baseline") != tree
            or record.get("baseline_error") is not None
            or isinstance(slow, (int, float))
        ):
            return None
        digest = hashlib.sha256(data).hexdigest()
        return f"1 {self.session_id} {began!r} {self.record_path.name} {digest}\n".encode("ascii")

    def snapshot(self, timeout: float = SNAPSHOT_TIMEOUT) -> tuple[str | None, str | None]:
        """(tree, None) or (None, why not)."""
        from codex_fusion.hookside import gitsnap  # lazily: a prompt that reuses a tree runs no git

        try:
            write_files(self.state, self.directory, [])  # the private directory exists before git writes
            return gitsnap.snapshot(self.workspace, str(self.index), timeout), None
        except gitsnap.SnapshotTimeout as exc:
            with contextlib.suppress(OSError):  # a killed git leaves its lock on our private index
                os.unlink(f"{self.index}.lock")
            return None, str(exc)
        except (gitsnap.SnapshotError, OSError) as exc:
            return None, str(exc)

    def reusable(self, record: Mapping[str, object]) -> str | None:
        """The last stop's tree, when this window's server watched the workspace since before that
        snapshot began and saw no change since (``review/workwatch.py``); else None."""
        tree, began = record.get("stop_tree"), record.get("stop_began")
        if not isinstance(tree, str) or not isinstance(began, (int, float)):
            return None
        server = self.server_record()
        if server is None:
            return None
        since, changed = server.get("watch_since"), server.get("changed")
        if not isinstance(since, (int, float)) or not isinstance(changed, (int, float)):
            return None
        return tree if since < began and changed < began else None

    def prompt_timeout(self) -> float:
        try:
            value = float(self.env.get("CODEX_FUSION_GATE_PROMPT_SNAPSHOT_S", ""))
        except ValueError:
            return PROMPT_SNAPSHOT_TIMEOUT
        return value if 0 < value <= SNAPSHOT_TIMEOUT else PROMPT_SNAPSHOT_TIMEOUT

    # -- the events --------------------------------------------------------------------------------

    def prompt_submitted(self) -> dict[str, object] | None:
        """Snapshot the turn's start within ~1 s; a workspace too slow for that is skipped, said once."""
        record = self.read()
        limit = self.prompt_timeout()
        slow = SLOW.format(limit=limit, retry=SLOW_RETRY_S / 60)
        since = record.get("slow_at")
        now = time.time()
        if isinstance(since, (int, float)) and 0 <= now - since < SLOW_RETRY_S:
            said = record.get("slow_why")  # skipped, no git at all; the stop finds what was said
            record["baseline"], record["baseline_error"] = None, said if isinstance(said, str) else slow
            self.write(record)
            return None
        reused = self.reusable(record)
        if reused is not None:  # the server's watch saw nothing change since the last stop's snapshot
            if record.get("baseline") != reused or record.get("baseline_error") is not None:
                record["baseline"], record["baseline_error"] = reused, None
                self.write(record)  # usually the stop left exactly this: nothing to write, no fsync
            return None
        started = time.monotonic()
        tree, why = self.snapshot(limit)
        record["baseline"], record["baseline_error"] = tree, why
        output: dict[str, object] | None = None
        if tree is None and time.monotonic() - started >= limit:
            record["slow_at"], record["slow_why"], record["baseline_error"] = now, slow, slow
            listed = record.get("told")
            told = [t for t in listed if isinstance(t, str)] if isinstance(listed, list) else []
            if slow not in told:  # one line, once per conversation; the stop then says nothing more
                record["told"] = [*told, slow][-8:]
                output = {"systemMessage": f"{gate.TAG}: {slow}."}
        else:
            record.pop("slow_at", None)
            record.pop("slow_why", None)
        self.write(record)
        return output

    def stopping(self, active: bool) -> dict[str, object] | None:
        if active:  # the gate's own continuation: never reviewed, never blocked again
            return None
        record = self.read()
        found = record.get("baseline")
        baseline = found if isinstance(found, str) else None
        began = time.time()
        tree, why = self.snapshot() if baseline else (None, None)
        record["stop_tree"], record["stop_began"] = tree, began  # what the next prompt may reuse
        changed: bool | None
        if baseline is None:
            changed = None
            why = str(record.get("baseline_error") or "no snapshot was taken when the turn began")
        elif tree is None:
            changed = None
        else:
            changed = tree != baseline
        listed = record.get("told")
        told = [t for t in listed if isinstance(t, str)] if isinstance(listed, list) else []
        if changed is None and why in told:
            return None  # said once in this conversation already
        blocks = record.get("blocks")
        used = blocks if isinstance(blocks, int) and not isinstance(blocks, bool) and blocks >= 0 else 0
        left = record.get("open")
        still_open = left if isinstance(left, str) else None

        def review() -> gate.Review:
            assert baseline is not None
            assert tree is not None
            return self.review(baseline, tree)

        decision = gate.decide(
            self.settings,
            active=False,
            changed=changed,
            unknown_why=why or "",
            blocks=used,
            still_open=still_open,
            review=review,
            how_to_disable=gate.how_to_disable(self.settings, self.env.get("CLAUDE_PLUGIN_DATA")),
        )
        if changed is None and why:
            record["told"] = [*told, why][-8:]
        if tree is not None:
            record["baseline"] = tree  # the next stop compares with this gate, not the turn's start
        if decision.action == "block":
            record["blocks"] = used + 1
        if decision.reviewed:
            record["open"] = decision.open
        self.write(record)
        return decision.output()

    # -- the review --------------------------------------------------------------------------------

    def review(self, before: str, after: str) -> gate.Review:
        request = {
            "version": 1,
            "type": "review",
            "before": before,
            "after": after,
            "timeout": self.settings.timeout,
            "session_id": self.session_id,
        }
        started = time.monotonic()
        server = self.find_server()
        if server is not None:
            answered = _ask_socket(server, request, self.settings.timeout)
            if answered is not None:
                return answered
        left = self.settings.timeout - (time.monotonic() - started)
        return _one_shot(request, self.env, max(left, 1.0))

    def find_server(self) -> str | None:
        """The socket of the server running for this Claude Code window, if there is one."""
        found = self.server_record()
        return found["socket"] if found is not None else None  # type: ignore[return-value]

    def server_record(self) -> dict[str, object] | None:
        """The descriptor of the server running for this Claude Code window, if there is one."""
        if self.claude_pid is None:
            return None
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return None
        for name in names:
            if not (name.startswith("server-") and name.endswith(".json")):
                continue
            try:
                raw = read_json(self.directory / name, "server descriptor")
            except ValueError:
                continue
            if not isinstance(raw, dict) or raw.get("version") != VERSION:
                continue
            ancestors, pid, socket_path = raw.get("ancestors"), raw.get("pid"), raw.get("socket")
            if not (
                isinstance(ancestors, list) and self.claude_pid in ancestors and isinstance(socket_path, str)
            ):
                continue
            if isinstance(pid, int) and _alive(pid):
                return raw
        return None


def _plain(session_id: str) -> bool:
    """A session id the sh entry compares as it is: ASCII letters, digits, ``.``, ``_``, ``-``."""
    return 0 < len(session_id) <= 128 and all(c in _PLAIN for c in session_id)


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ask_socket(path: str, request: dict[str, object], timeout: float) -> gate.Review | None:
    """The server's answer, or None when no server answers (then the caller goes one-shot)."""
    import socket

    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except (AttributeError, OSError):
        return None
    with client:
        client.settimeout(2.0)
        try:
            client.connect(path)
        except OSError:
            return None  # gone, or never there: a stale descriptor
        client.settimeout(timeout + 5.0)  # the server bounds the review itself; this is a backstop
        try:
            client.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n") and len(data) <= MAX_RESPONSE_BYTES:
                chunk = client.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:  # noqa: UP041 - not TimeoutError before Python 3.10
            return gate.Review(failure=f"the server did not answer within {timeout:g} s")
        except OSError as exc:
            return gate.Review(failure=f"the server's socket failed: {exc.strerror or exc}")
    try:
        return gate.Review.from_json(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        return gate.Review(failure="the server's answer was not JSON")


def one_shot_command(env: Mapping[str, str]) -> list[str]:
    """How the hook starts a review without a server: the plugin's own ``uv run`` (as ``.mcp.json``),
    or ``CODEX_FUSION_GATE_COMMAND`` (shell syntax; tests and benchmarks)."""
    import shlex

    override = env.get("CODEX_FUSION_GATE_COMMAND", "").strip()
    if override:
        return shlex.split(override)
    root = env.get("CLAUDE_PLUGIN_ROOT") or str(PLUGIN_ROOT)
    return ["uv", "run", "--frozen", "--quiet", "--no-dev", "--project", root, "codex-fusion", "gate-review"]


def _one_shot(request: dict[str, object], env: Mapping[str, str], timeout: float) -> gate.Review:
    import subprocess

    from codex_fusion.hookside import gitsnap

    child_env = dict(env)
    data = env.get("CLAUDE_PLUGIN_DATA", "")
    if data and os.path.isabs(data):
        child_env.setdefault("UV_PROJECT_ENVIRONMENT", os.path.join(data, "venv"))
    child_env["CODEX_FUSION_WARM"] = "0"
    command = one_shot_command(env)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env,
            start_new_session=True,
        )
    except OSError as exc:
        return gate.Review(failure=f"cannot start {command[0]} ({exc.strerror or exc}): is uv installed?")
    try:
        out, err = process.communicate(json.dumps(request).encode() + b"\n", timeout=timeout + 10.0)
    except subprocess.TimeoutExpired:
        return gate.Review(failure=f"Codex did not finish the review within {timeout:g} s")
    finally:
        gitsnap.kill_group(process)
        process.wait()
    try:
        return gate.Review.from_json(json.loads(out.decode("utf-8").strip().splitlines()[-1]))
    except (IndexError, UnicodeDecodeError, ValueError):
        tail = " ".join(err.decode("utf-8", "replace").split())[-200:]
        return gate.Review(
            failure=f"the review process failed (exit {process.returncode}): {tail or 'no output'}"
        )


def run(event: str, payload: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object] | None:
    """The hook's entry for ``UserPromptSubmit`` and ``Stop``; returns the JSON to print, if any."""
    hook = Gate(env, payload)
    if not hook.settings.enabled:
        return None
    if event == "UserPromptSubmit":
        return hook.prompt_submitted()
    return hook.stopping(payload.get("stop_hook_active") is True)
