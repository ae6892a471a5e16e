#!/usr/bin/env python3
"""A scripted ACP agent for tests, in-process (tests/memory_host.py) or as a subprocess (run this file).

It depends on anyio only, never on codex_fusion: it is a peer, not a part.

Start-up behaviour comes from the ``FAKE_ACP`` environment variable, a comma-separated list of flags
(``flag`` or ``flag=value``):

  version=N        answer initialize with protocolVersion N
  name=NAME        say agentInfo.name NAME (e.g. codex-acp: the handshake of the Rust adapter)
  agent_version=V  say agentInfo.version V
  init_error=CODE  answer initialize with this JSON-RPC error (1001 = TS codex-acp's dead Codex)
  init_error_token (with init_error) the error message carries a GitHub token
  no_init          never answer initialize
  die_at_start     write a fatal line to stderr and exit 1 before reading anything
  auth=ts|rust     session/new fails -32000 until `authenticate` with an API-key method succeeds
                   (which needs OPENAI_API_KEY or CODEX_API_KEY in the agent's environment)
  modes            session/new offers modes (current "agent"); set_mode is recorded
  config_mode      session/new offers no modes, only a "mode" config option (grouped options)
  models           session/new offers "model" (m-small, m-large; current m-small) and
                   "reasoning_effort" config options (low/medium/high; m-large adds max), as codex-acp
                   does: set_config_option answers the whole list, a new model resets the effort to
                   medium, and every prompt reports `_meta.quota.model_usage` (the TS adapter's report)
  answer_with=M    (with models) the per-prompt report names model M, whatever is selected
  legacy_models    session/new offers only the legacy `models` list; session/set_model selects
  uuid_ids         our requests use UUID string ids (Rust adapter style) instead of ints from 0
  stderr_flood=N   write N bytes to stderr at start-up
  die_on=METHOD    write a fatal line to stderr and exit 1 when METHOD arrives (e.g. session/resume)
  grandchild       (subprocess only) spawn a `sleep` grandchild in our process group
  setsid_child     (subprocess only) spawn a `sleep` grandchild in a session of its own (it leaves
                   our process group); its pid and ours are appended to FAKE_ACP_PIDS
  ignore_eof       (subprocess only) keep running after stdin EOF (the Rust adapter does)
  ignore_term      (subprocess only) ignore SIGTERM too (only SIGKILL works)
  load             advertise loadSession and serve session/load (replays the history first)
  resume, close, fork, system_prompt
                   advertise sessionCapabilities.<name> and serve session/resume, session/close,
                   session/fork; system_prompt keeps the session's systemPrompt
  ts_sessions      all of load, resume, close, fork, system_prompt (the TS adapter advertises them)
  echo_diffs       answer a prompt without `say` with one "path:1 minor: reviewed" line per file in
                   its diff (``diff --git a/<path>``) and a VERDICT line (a reviewer whose findings
                   follow what it was shown)
  name=NAME        this agent's name among several (a council member): ``@fake[NAME] …`` directives
                   are for it alone and win over plain ``@fake …`` ones

Sessions live in memory, or in the JSON file ``FAKE_ACP_STORE`` when it is set (so a "restarted"
agent still knows them, as Codex keeps its sessions on disk).

Each turn obeys ``@fake`` directive lines found in the prompt text (first match wins per verb; a
directive may follow the `+` of a diff line, so a change can script the review of itself):

  @fake say TEXT           answer TEXT (default: "ok"); a literal \\n in TEXT is a line break
  @fake chunks N           split the answer into N chunks
  @fake think TEXT         send a thought chunk first
  @fake prelude TEXT       send TEXT as an answer chunk before anything else (text said before a pause)
  @fake tool KIND TITLE    send a tool_call + completed tool_call_update first
  @fake report JSON        send this tool_call update (JSON on one line) first, as the stream would
  @fake sleep SECONDS      wait before answering (a cancel interrupts it)
  @fake unknown_update     send an update kind nobody knows, plus a malformed and a half line
  @fake error              answer the prompt with -32603 and codex_error_info (Rust style)
  @fake auth_error         answer the prompt with -32000 "Authentication required" (claude-agent-acp
                           without a credential)
  @fake thread_status KINDS  send a session_info_update with _meta.codex.threadStatus.type KIND for each
                           (space-separated) before answering; "systemError" then `say TEXT` is the TS
                           adapter after its model answered HTTP 500 (the error as text, end_turn)
  @fake exit CODE          exit mid-turn with CODE after writing to stderr
  @fake usage N            report PromptResponse.usage.totalTokens = N
  @fake stderr_flood N     write N bytes to stderr mid-turn
  @fake stderr TEXT        write TEXT (and a newline) to stderr
  @fake permit KIND STYLE CMDS   ask permission to run CMDS (shell; several separated by ";" are
                           asked one after another, by "|" all at once, in order) with the option set
                           STYLE: rust (approved/denied/abort), rust_observed (approved/…/abort),
                           ts (allow_once/decline/cancel), ts_observed (allow_once/…/cancel),
                           always_only (allow_always/reject_always). Allowed commands really run in
                           the cwd; a continuing reject goes on; abort/cancel end the turn.
  @fake hang SECONDS       wait before answering, ignoring session/cancel (a wedged agent)
  @fake reconnect SECONDS  send "Reconnecting…" session_info_update every 0.1 s meanwhile (honours cancel)
  @fake order after        send the tool_call before its permission request (default: request first)
  @fake withdraw           after asking, withdraw the request with $/cancel_request
  @fake ask STYLE JSON     ask permission for this exact tool call (JSON on one line); the answer says
                           "[asked: <optionId or cancelled>]"
  @fake flood N STYLE      ask to run `echo <i>` N times, one after another, going on after a deny
  @fake wait NAME          (in-process only) wait until the test opens the gate NAME
  @fake drip N SECONDS     send N thought chunks, one every SECONDS, before answering
  @fake request METHOD JSON  send the client a request METHOD with params JSON (sessionId added when
                           absent) and answer "[METHOD: ok]" or "[METHOD: error CODE]"
  @fake later SECONDS      wait (a cancel interrupts it) after the permission requests, before answering
  @fake recall             answer "recall: N earlier prompt(s); first: <its first line>" from the
                           session's history (proves that context survived a load or resume)

Edits, all of them in the order written (not first-match-wins), made directly in the session's
directory (``cwd`` of ``session/new``) before the answer, as Codex's sandbox makes them in a
delegated task's worktree — no permission asked:

  @fake write PATH TEXT    write TEXT (``\n`` a line break) to PATH, relative to the session's cwd
  @fake writebin PATH      write a few bytes with a NUL in them to PATH (a binary file)
  @fake symlink PATH TARGET  make PATH a symlink to TARGET
  @fake remove PATH        delete PATH

A prompt with no ``say`` that contains "Claude's note:" is answered "acknowledged: <the note>".

Every message received is appended as a JSON line to ``FAKE_ACP_LOG`` when it is set.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio

OPTION_SETS: dict[str, list[tuple[str, str]]] = {
    "rust": [
        ("approved", "allow_once"),
        ("approved-for-session", "allow_always"),
        ("denied", "reject_once"),
        ("abort", "reject_once"),
    ],
    "rust_observed": [
        ("approved", "allow_once"),
        ("approved-execpolicy-amendment", "allow_always"),
        ("abort", "reject_once"),
    ],
    "ts": [
        ("allow_once", "allow_once"),
        ("allow_for_session", "allow_always"),
        ("decline", "reject_once"),
        ("cancel", "reject_once"),
    ],
    "ts_observed": [
        ("allow_once", "allow_once"),
        ("accept_execpolicy_amendment", "allow_always"),
        ("cancel", "reject_once"),
    ],
    "always_only": [("allow_always", "allow_always"), ("reject_always", "reject_always")],
    # ids that lie about what they do: only the kind tells
    "approved_always": [("approved", "allow_always"), ("denied", "reject_once")],
    "denied_allows": [("denied", "allow_once"), ("abort", "reject_once")],
}
CONTINUING = {"denied", "decline"}
EDITS = ("write", "writebin", "symlink", "remove")
ALLOWING = {"approved", "allow_once", "allow_always", "approved-for-session"}


def parse_flags(value: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for item in filter(None, value.split(",")):
        key, _, val = item.partition("=")
        flags[key.strip()] = val.strip()
    return flags


class AgentExit(Exception):
    """The scripted agent exits with ``code`` (in-process: the host records it)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ScriptedAgent:
    """The agent: reads lines with ``receive_line`` (None at EOF) and writes them with ``send_line``."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        cwd: Path,
        receive_line: Callable[[], Awaitable[bytes | None]],
        send_line: Callable[[bytes], Awaitable[None]],
        write_stderr: Callable[[str], None],
        gates: Mapping[str, anyio.Event] | None = None,
    ) -> None:
        self.flags = parse_flags(env.get("FAKE_ACP", ""))
        self.env = env
        self.cwd = cwd
        self.log_path = env.get("FAKE_ACP_LOG")
        self._receive_line = receive_line
        self._send_line = send_line
        self.stderr = write_stderr
        self.gates = gates if gates is not None else {}
        self.session = "sess-" + uuid.uuid4().hex[:8]  # the latest session opened
        self.store_path = env.get("FAKE_ACP_STORE")
        if "ts_sessions" in self.flags:
            for name in ("load", "resume", "close", "fork", "system_prompt"):
                self.flags.setdefault(name, "")
        self.authenticated = False
        self.mode = "agent"
        self.model, self.effort = "m-small", "medium"  # the "models" flag's selection
        self._next_id = 0
        self._waiting: dict[Any, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._cancels: dict[str, anyio.Event] = {}  # per session: a session/cancel arrived for its turn
        self._memory_sessions: dict[str, Any] = {}
        self.session_cwd: dict[str, str] = {}

    # -- wire ----------------------------------------------------------------------------------------

    async def send(self, obj: dict[str, Any]) -> None:
        await self._send_line((json.dumps({"jsonrpc": "2.0", **obj}) + "\n").encode())

    async def result(self, req_id: Any, value: Any) -> None:
        await self.send({"id": req_id, "result": value})

    async def error(self, req_id: Any, code: int, message: str, data: Any = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        await self.send({"id": req_id, "error": err})

    async def update(self, sid: str, body: dict[str, Any]) -> None:
        await self.send({"method": "session/update", "params": {"sessionId": sid, "update": body}})

    def _new_id(self) -> Any:
        if "uuid_ids" in self.flags:
            return str(uuid.uuid4())
        self._next_id += 1
        return self._next_id - 1

    async def request(self, method: str, params: Any, *, req_id: Any = None) -> dict[str, Any]:
        """Send a request to the client and wait for its answer (the whole response message)."""
        req_id = self._new_id() if req_id is None else req_id
        done, box = self._waiting[req_id] = (anyio.Event(), [])
        await self.send({"id": req_id, "method": method, "params": params})
        await done.wait()
        return box[0]

    def _record(self, msg: dict[str, Any]) -> None:
        if self.log_path:
            logged = {**msg, "_agent": self.flags["name"]} if "name" in self.flags else msg
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(logged) + "\n")

    # -- main loop -----------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Answer until the client closes our input."""
        if "die_at_start" in self.flags:
            self.stderr("Error: CODEX_HOME points to a missing directory\n")
            raise AgentExit(1)
        if "stderr_flood" in self.flags:
            self.stderr("e" * int(self.flags["stderr_flood"]) + "\n")
        handlers = {
            "initialize": self.on_initialize,
            "session/new": self.on_session_new,
            "authenticate": self.on_authenticate,
            "session/set_mode": self.on_set_mode,
            "session/set_config_option": self.on_set_config_option,
            "session/set_model": self.on_set_model,
            "session/load": self.on_session_load,
            "session/resume": self.on_session_resume,
            "session/close": self.on_session_close,
            "session/fork": self.on_session_fork,
        }
        async with anyio.create_task_group() as tg:
            while (line := await self._receive_line()) is not None:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                self._record(msg)
                method = msg.get("method")
                if method is not None and method == self.flags.get("die_on"):
                    self.stderr(f"fatal: the fake agent dies on {method}\n")
                    raise AgentExit(1)
                if method is None:
                    waiting = self._waiting.pop(msg.get("id"), None)
                    if waiting is not None:
                        waiting[1].append(msg)
                        waiting[0].set()
                elif method == "session/cancel":
                    sid = str((msg.get("params") or {}).get("sessionId", self.session))
                    self._cancels.setdefault(sid, anyio.Event()).set()
                elif method == "session/prompt":
                    tg.start_soon(self.on_prompt, msg)  # cancel and other requests keep flowing
                elif method in handlers:
                    await handlers[method](msg)
                elif "id" in msg:
                    await self.error(msg["id"], -32601, f"method not found: {method}")
            tg.cancel_scope.cancel()  # our input is closed: like a process, stop everything

    # -- handlers ------------------------------------------------------------------------------------

    def auth_methods(self) -> list[dict[str, Any]]:
        if self.flags.get("auth") == "rust":
            return [
                {"id": "chatgpt", "name": "Login with ChatGPT"},
                {"type": "env_var", "id": "codex-api-key", "name": "Use CODEX_API_KEY"},
                {"type": "env_var", "id": "openai-api-key", "name": "Use OPENAI_API_KEY"},
            ]
        return [
            {"id": "api-key", "name": "API Key", "_meta": {"api-key": {"provider": "openai"}}},
            {"id": "chat-gpt", "name": "ChatGPT"},
        ]

    async def on_initialize(self, msg: dict[str, Any]) -> None:
        if "no_init" in self.flags:
            return
        if "init_error" in self.flags:
            code = int(self.flags["init_error"])
            said = "Codex process has exited with code 1: boom"
            if "init_error_token" in self.flags:  # a credential the agent echoes back in its refusal
                said += " (token ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2" + ")"
            await self.error(msg["id"], code, said, {"exitCode": 1})
            return
        await self.result(
            msg["id"],
            {
                "protocolVersion": int(self.flags.get("version", "1")),
                "agentCapabilities": {
                    "loadSession": "load" in self.flags,
                    "futureCapability": {"x": 1},
                    "sessionCapabilities": {
                        wire: {}
                        for flag, wire in (
                            ("resume", "resume"),
                            ("close", "close"),
                            ("fork", "fork"),
                            ("system_prompt", "systemPrompt"),
                        )
                        if flag in self.flags
                    },
                },
                "authMethods": self.auth_methods(),
                "agentInfo": {
                    "name": self.flags.get("name", "fake-acp"),
                    "title": "Fake",
                    "version": self.flags.get("agent_version", "9.9.9"),
                },
                "_meta": {"something": "unknown"},
            },
        )

    async def on_session_new(self, msg: dict[str, Any]) -> None:
        if "auth" in self.flags and not self.authenticated:
            await self.error(msg["id"], -32000, "Authentication required")
            return
        params = msg.get("params") or {}
        self.session = "sess-" + uuid.uuid4().hex[:8]
        self.session_cwd[self.session] = str(params.get("cwd") or self.cwd)
        sessions = self.sessions()
        sessions[self.session] = {"history": [], "systemPrompt": params.get("systemPrompt")}
        self.save_sessions(sessions)
        body: dict[str, Any] = {"sessionId": self.session, "unknownField": True}
        if "modes" in self.flags:
            body["modes"] = {
                "currentModeId": self.mode,
                "availableModes": [
                    {"id": "read-only", "name": "Read only"},
                    {"id": "workspace-write", "name": "Workspace"},
                    {"id": "agent", "name": "Auto review"},
                ],
            }
        if "models" in self.flags:
            body["configOptions"] = self.model_options()
        if "legacy_models" in self.flags:
            body["models"] = {
                "currentModelId": self.model,
                "availableModels": [{"modelId": m, "name": m} for m in ("m-small", "m-large")],
            }
        if "config_mode" in self.flags:
            body["configOptions"] = [
                {
                    "id": "mode",
                    "name": "Mode",
                    "category": "mode",
                    "type": "select",
                    "currentValue": "agent",
                    "options": [
                        {"group": "safe", "options": [{"value": "read-only", "name": "Read only"}]},
                        {"value": "agent", "name": "Auto review"},
                    ],
                }
            ]
        await self.result(msg["id"], body)

    # -- sessions --------------------------------------------------------------------------------------

    def sessions(self) -> dict[str, Any]:
        if self.store_path is None:
            return self._memory_sessions
        try:
            with open(self.store_path, encoding="utf-8") as fh:
                loaded: dict[str, Any] = json.load(fh)
                return loaded
        except (OSError, ValueError):
            return {}

    def save_sessions(self, sessions: dict[str, Any]) -> None:
        if self.store_path is None:
            self._memory_sessions = sessions
            return
        with open(self.store_path, "w", encoding="utf-8") as fh:
            json.dump(sessions, fh)

    async def _known(self, msg: dict[str, Any], capability: str) -> str | None:
        """The session a load/resume/close/fork names, or None after answering with an error."""
        if capability not in self.flags:
            await self.error(msg["id"], -32601, f"method not found: {msg.get('method')}")
            return None
        sid = (msg.get("params") or {}).get("sessionId")
        if sid not in self.sessions():
            await self.error(msg["id"], -32002, f"Resource not found: session {sid}")
            return None
        return str(sid)

    async def on_session_load(self, msg: dict[str, Any]) -> None:
        sid = await self._known(msg, "load")
        if sid is None:
            return
        for role, text in self.sessions()[sid]["history"]:
            kind = "user_message_chunk" if role == "user" else "agent_message_chunk"
            await self.update(sid, {"sessionUpdate": kind, "content": {"type": "text", "text": text}})
        self.session = sid
        await self.result(msg["id"], {})

    async def on_session_resume(self, msg: dict[str, Any]) -> None:
        sid = await self._known(msg, "resume")
        if sid is not None:
            self.session = sid
            await self.result(msg["id"], {})

    async def on_session_close(self, msg: dict[str, Any]) -> None:
        sid = await self._known(msg, "close")
        if sid is not None:
            await self.result(msg["id"], {})

    async def on_session_fork(self, msg: dict[str, Any]) -> None:
        sid = await self._known(msg, "fork")
        if sid is None:
            return
        sessions = self.sessions()
        self.session = "sess-" + uuid.uuid4().hex[:8]
        sessions[self.session] = json.loads(json.dumps(sessions[sid]))
        self.save_sessions(sessions)
        await self.result(msg["id"], {"sessionId": self.session})

    def remember(self, sid: str, prompt: str, answer: str) -> None:
        sessions = self.sessions()
        entry = sessions.setdefault(sid, {"history": [], "systemPrompt": None})
        entry["history"] += [["user", prompt], ["agent", answer]]
        self.save_sessions(sessions)

    def recall(self, sid: str) -> str:
        history = [text for role, text in self.sessions().get(sid, {}).get("history", []) if role == "user"]
        first = history[0].strip().splitlines()[0] if history and history[0].strip() else ""
        return f"recall: {len(history)} earlier prompt(s); first: {first}"

    def model_options(self) -> list[dict[str, Any]]:
        efforts = ["low", "medium", "high"] + (["max"] if self.model == "m-large" else [])
        return [
            {
                "id": "model",
                "name": "Model",
                "category": "model",
                "type": "select",
                "currentValue": self.model,
                "options": [{"value": m, "name": m.upper()} for m in ("m-small", "m-large")],
            },
            {
                "id": "reasoning_effort",
                "name": "Reasoning effort",
                "category": "thought_level",
                "type": "select",
                "currentValue": self.effort,
                "options": [{"value": e, "name": e.title()} for e in efforts],
            },
        ]

    async def on_set_config_option(self, msg: dict[str, Any]) -> None:
        params = msg.get("params") or {}
        if "models" not in self.flags:
            await self.result(msg["id"], {"configOptions": []})
            return
        config_id, value = params.get("configId"), params.get("value")
        offered = {o["id"]: [x["value"] for x in o["options"]] for o in self.model_options()}
        if value not in offered.get(config_id, []):
            await self.error(msg["id"], -32602, "Invalid params")
            return
        if config_id == "model":
            self.model, self.effort = value, "medium"
        else:
            self.effort = value
        await self.result(msg["id"], {"configOptions": self.model_options()})

    async def on_set_model(self, msg: dict[str, Any]) -> None:
        self.model = (msg.get("params") or {}).get("modelId", self.model)
        await self.result(msg["id"], {})

    async def on_authenticate(self, msg: dict[str, Any]) -> None:
        method = (msg.get("params") or {}).get("methodId")
        env_for = {
            "api-key": "OPENAI_API_KEY",
            "openai-api-key": "OPENAI_API_KEY",
            "codex-api-key": "CODEX_API_KEY",
        }
        var = env_for.get(method or "")
        if var and self.env.get(var):
            self.authenticated = True
            await self.result(msg["id"], {})
        else:
            await self.error(msg["id"], -32603, f"cannot authenticate with {method}")

    async def on_set_mode(self, msg: dict[str, Any]) -> None:
        self.mode = (msg.get("params") or {}).get("modeId", self.mode)
        await self.result(msg["id"], {})

    # -- turns ---------------------------------------------------------------------------------------

    async def interruptible_sleep(self, seconds: float, sid: str) -> bool:
        """Sleep; True if a session/cancel for session ``sid`` arrived meanwhile."""
        cancelled = self._cancels.setdefault(sid, anyio.Event())
        with anyio.move_on_after(seconds):
            await cancelled.wait()
        return cancelled.is_set()

    async def ask_permission(
        self, sid: str, index: int, kind: str, style: str, command: str, d: dict[str, str]
    ) -> str:
        """One permission round trip; returns "ran", "declined", "ended", "cancelled" or "withdrawn:…"."""
        call_id = f"call_{index}"
        tool_call: dict[str, Any] = {
            "toolCallId": call_id,
            "title": command,
            "kind": kind,
            "status": "pending",
        }
        if kind == "execute":
            argv_or_string: Any = ["bash", "-lc", command] if style.startswith("rust") else command
            tool_call["rawInput"] = {
                "command": argv_or_string,
                "cwd": str(self.cwd),
                "reason": f"I need to run {command}",
            }
        else:  # read / edit / …: `command` is a path
            tool_call["locations"] = [{"path": command}]
            tool_call["rawInput"] = {"path": command, "reason": f"I need to {kind} {command}"}
        if d.get("order") == "after":
            await self.update(sid, {"sessionUpdate": "tool_call", **tool_call, "status": "in_progress"})
            tool_call = {"toolCallId": call_id, "title": command}  # the request carries less
        options = [{"optionId": o, "name": o, "kind": k} for o, k in OPTION_SETS[style]]
        params = {"sessionId": sid, "toolCall": tool_call, "options": options}
        if "withdraw" in d:
            req_id = self._new_id()
            box: list[dict[str, Any]] = []
            async with anyio.create_task_group() as tg:

                async def ask() -> None:
                    box.append(await self.request("session/request_permission", params, req_id=req_id))

                tg.start_soon(ask)
                await anyio.sleep(0.3)
                await self.send({"method": "$/cancel_request", "params": {"requestId": req_id}})
            answer = box[0]
            return "withdrawn:" + json.dumps(answer.get("error") or answer.get("result"))
        reply = await self.request("session/request_permission", params)
        outcome = (reply.get("result") or {}).get("outcome") or {}
        if outcome.get("outcome") != "selected":
            return "cancelled"
        chosen = outcome.get("optionId")
        if chosen in ALLOWING:
            if kind == "execute":
                await anyio.run_process(command, cwd=self.cwd, check=False)
            elif kind == "edit":
                Path(command).write_text("edited\n", encoding="utf-8")
            await self.update(
                sid, {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "completed"}
            )
            return "ran"
        if chosen in CONTINUING:
            await self.update(
                sid, {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "failed"}
            )
            return "declined"
        return "ended"

    def edit(self, sid: str, edits: list[tuple[str, str]]) -> None:
        """``@fake write|writebin|symlink|remove``: change files in the session's directory."""
        root = Path(self.session_cwd.get(sid, str(self.cwd)))
        for verb, arg in edits:
            name, _, rest = arg.partition(" ")
            path = root / name
            if verb in ("write", "writebin"):
                path.parent.mkdir(parents=True, exist_ok=True)
                if verb == "write":
                    path.write_text(rest.replace("\\n", "\n"), encoding="utf-8")
                else:
                    path.write_bytes(b"\x00\x01binary\x02")
            elif verb == "symlink":
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or path.exists():
                    path.unlink()
                path.symlink_to(rest)
            elif verb == "remove":
                path.unlink()

    async def run_permissions(self, msg: dict[str, Any], sid: str, d: dict[str, str]) -> bool:
        """Handle `@fake permit`; True when the turn has been answered (ended) already."""
        kind, style, commands = d["permit"].split(" ", 2)
        said: list[str] = []
        index = 0
        for group in commands.split(";"):
            results: dict[int, tuple[str, str]] = {}
            async with anyio.create_task_group() as tg:
                for command in group.split("|"):
                    index += 1

                    async def one(
                        i: int = index, c: str = command.strip(), out: dict[int, tuple[str, str]] = results
                    ) -> None:
                        out[i] = (await self.ask_permission(sid, i, kind, style, c, d), c)

                    tg.start_soon(one)
                    await anyio.sleep(0)  # requests go out in the order written
            for i in sorted(results):
                outcome, command = results[i]
                if outcome in ("ended", "cancelled"):
                    await self.result(msg["id"], {"stopReason": "cancelled"})
                    return True
                said.append(f"{outcome} {command}")
        text = "[" + "; ".join(said) + "] "
        await self.update(
            sid, {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
        )
        return False

    async def on_prompt(self, msg: dict[str, Any]) -> None:
        params = msg.get("params") or {}
        sid = params.get("sessionId", self.session)
        self._cancels[sid] = anyio.Event()  # a cancel is for the turn it interrupts
        prompt = "\n".join(b.get("text", "") for b in params.get("prompt") or [] if isinstance(b, dict))
        d: dict[str, str] = {}
        mine: dict[str, str] = {}
        edits: list[tuple[str, str]] = []
        for match in re.finditer(r"^\+?@fake(?:\[([\w-]+)\])? (\w+) ?(.*)$", prompt, flags=re.M):
            who, verb, arg = match.group(1), match.group(2), match.group(3).strip()
            if who is not None and who != self.flags.get("name"):
                continue
            if verb in EDITS:
                edits.append((verb, arg))
            elif who is None:
                d.setdefault(verb, arg)
            else:
                mine.setdefault(verb, arg)
        d.update(mine)
        self.edit(sid, edits)
        if "stderr_flood" in d:
            self.stderr("x" * int(d["stderr_flood"]) + "\n")
        if "stderr" in d:
            self.stderr(d["stderr"] + "\n")
        if "exit" in d:
            self.stderr("fatal: the fake agent exits mid-turn\n")
            raise AgentExit(int(d["exit"] or "3"))
        if "error" in d:
            await self.error(
                msg["id"], -32603, "Internal error", {"codex_error_info": "usage_limit_exceeded"}
            )
            return
        if "auth_error" in d:  # claude-agent-acp without a credential fails the prompt, not session/new
            await self.error(msg["id"], -32000, "Authentication required")
            return
        for kind in d.get("thread_status", "").split():  # the TS adapter's _meta.codex.threadStatus
            status = {"threadStatus": {"type": kind}}
            await self.update(sid, {"sessionUpdate": "session_info_update", "_meta": {"codex": status}})
        if "unknown_update" in d:
            await self.update(sid, {"sessionUpdate": "brand_new_kind", "payload": {"a": 1}})
            await self._send_line(b"this is not json\n")
            await self.update(sid, {"sessionUpdate": "tool_call", "title": "no id"})  # does not validate
        if "prelude" in d:
            chunk = {"type": "text", "text": d["prelude"]}
            await self.update(sid, {"sessionUpdate": "agent_message_chunk", "content": chunk})
        if "think" in d:
            await self.update(
                sid, {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": d["think"]}}
            )
        if "report" in d:
            await self.update(sid, {"sessionUpdate": "tool_call", **json.loads(d["report"])})
        if "tool" in d:
            kind, _, title = d["tool"].partition(" ")
            await self.update(
                sid,
                {
                    "sessionUpdate": "tool_call",
                    "toolCallId": "t1",
                    "title": title,
                    "kind": kind,
                    "status": "in_progress",
                },
            )
            await self.update(
                sid, {"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "completed"}
            )
        if "wait" in d:
            await self.gates[d["wait"]].wait()
        if "drip" in d:
            count, interval = d["drip"].split()
            for i in range(int(count)):
                await anyio.sleep(float(interval))
                await self.update(
                    sid,
                    {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": f"{i} "}},
                )
        if "hang" in d:
            await anyio.sleep(float(d["hang"]))
        if "reconnect" in d:
            with anyio.move_on_after(float(d["reconnect"])):
                while True:
                    status = {
                        "codex": {
                            "error": {"message": "Reconnecting... waiting for network", "willRetry": True}
                        }
                    }
                    await self.update(sid, {"sessionUpdate": "session_info_update", "_meta": status})
                    if await self.interruptible_sleep(0.1, sid):
                        await self.result(msg["id"], {"stopReason": "cancelled"})
                        return
        if "sleep" in d and await self.interruptible_sleep(float(d["sleep"]), sid):
            await self.result(msg["id"], {"stopReason": "cancelled"})
            return
        if "permit" in d and await self.run_permissions(msg, sid, d):
            return
        if "ask" in d:
            style, _, tool_call = d["ask"].partition(" ")
            options = [{"optionId": o, "name": o, "kind": k} for o, k in OPTION_SETS[style]]
            params = {"sessionId": sid, "toolCall": json.loads(tool_call), "options": options}
            reply = await self.request("session/request_permission", params)
            outcome = (reply.get("result") or {}).get("outcome") or {}
            chosen = outcome.get("optionId") or outcome.get("outcome")
            chunk = {"type": "text", "text": f"[asked: {chosen}] "}
            await self.update(sid, {"sessionUpdate": "agent_message_chunk", "content": chunk})
            if chosen not in ALLOWING | CONTINUING:
                await self.result(msg["id"], {"stopReason": "cancelled"})
                return
        if "request" in d:
            method, _, raw = d["request"].partition(" ")
            params = {"sessionId": sid, **(json.loads(raw) if raw else {})}
            reply = await self.request(method, params)
            said = f"error {reply['error']['code']}" if "error" in reply else "ok"
            chunk = {"type": "text", "text": f"[{method}: {said}] "}
            await self.update(sid, {"sessionUpdate": "agent_message_chunk", "content": chunk})
        if "flood" in d:
            count, style = d["flood"].split()
            for i in range(int(count)):
                outcome = await self.ask_permission(sid, i, "execute", style, f"echo {i}", d)
                if outcome in ("ended", "cancelled"):
                    await self.result(msg["id"], {"stopReason": "cancelled"})
                    return
        if "later" in d and await self.interruptible_sleep(float(d["later"]), sid):
            await self.result(msg["id"], {"stopReason": "cancelled"})
            return
        default = "ok"
        if "Claude's note:" in prompt:
            default = "acknowledged: " + prompt.split("Claude's note:", 1)[1].strip()
        if "recall" in d:
            default = self.recall(sid)
        if "echo_diffs" in self.flags:  # a reviewer: one finding per file in the prompt's diff
            files = re.findall(r"^diff --git a/(\S+)", prompt, flags=re.M)
            default = "\n".join(f"{path}:1 minor: reviewed" for path in files)
            default += "\nVERDICT: CONSENSUS — no blockers" if files else "\nVERDICT: OPEN — no diff seen"
        text = d.get("say", default).replace("\\n", "\n")
        self.remember(sid, prompt, text)
        chunks = max(1, int(d.get("chunks", "1")))
        size = max(1, -(-len(text) // chunks))
        for start in range(0, len(text), size):
            if self._cancels[sid].is_set():
                await self.result(msg["id"], {"stopReason": "cancelled"})
                return
            chunk = {"type": "text", "text": text[start : start + size]}
            await self.update(sid, {"sessionUpdate": "agent_message_chunk", "content": chunk})
        await self.update(sid, {"sessionUpdate": "usage_update", "used": 1234, "size": 200000})
        body: dict[str, Any] = {"stopReason": "end_turn"}
        if "models" in self.flags:
            ran = self.flags.get("answer_with") or self.model
            body["_meta"] = {"quota": {"model_usage": [{"model": ran, "token_count": {"totalTokens": 9}}]}}
        if "usage" in d:
            body["usage"] = {"totalTokens": int(d["usage"]), "inputTokens": 1, "outputTokens": 2}
        await self.result(msg["id"], body)


# -- as a subprocess ------------------------------------------------------------------------------------


def main() -> None:
    flags = parse_flags(os.environ.get("FAKE_ACP", ""))
    if "ignore_term" in flags:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "grandchild" in flags:
        subprocess.Popen(["sleep", "1000"])  # inherits our process group
    if "setsid_child" in flags:
        escaped = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        with open(os.environ["FAKE_ACP_PIDS"], "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n{escaped.pid}\n")

    async def receive_line() -> bytes | None:
        line = await anyio.to_thread.run_sync(sys.stdin.buffer.readline, abandon_on_cancel=True)
        return line or None

    async def send_line(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def write_stderr(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    agent = ScriptedAgent(
        env=os.environ,
        cwd=Path.cwd(),
        receive_line=receive_line,
        send_line=send_line,
        write_stderr=write_stderr,
    )

    async def run() -> None:
        await agent.serve()
        if "ignore_eof" in flags:
            await anyio.sleep_forever()

    try:
        anyio.run(run)
    except AgentExit as exc:
        sys.stdout.flush()
        os._exit(exc.code)
    except BaseExceptionGroup as group:  # raised inside a task group
        exits = group.subgroup(AgentExit)
        if exits is None:
            raise
        os._exit(_first_exit(exits).code)
    os._exit(0)


def _first_exit(group: BaseExceptionGroup[AgentExit]) -> AgentExit:
    for exc in group.exceptions:
        if isinstance(exc, AgentExit):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            return _first_exit(exc)
    raise AssertionError("no AgentExit in the group")


if __name__ == "__main__":
    main()
