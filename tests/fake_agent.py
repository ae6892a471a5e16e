#!/usr/bin/env python3
"""A scripted ACP agent for tests: a real subprocess speaking ACP over stdio (stdlib only).

Start-up behaviour comes from the ``FAKE_ACP`` environment variable, a comma-separated list of flags
(``flag`` or ``flag=value``):

  version=N        answer initialize with protocolVersion N
  init_error=CODE  answer initialize with this JSON-RPC error (1001 = TS codex-acp's dead Codex)
  no_init          never answer initialize
  die_at_start     write a fatal line to stderr and exit 1 before reading anything
  auth=ts|rust     session/new fails -32000 until `authenticate` with an API-key method succeeds
                   (which needs OPENAI_API_KEY or CODEX_API_KEY in the agent's environment)
  modes            session/new offers modes (current "agent"); set_mode is recorded
  config_mode      session/new offers no modes, only a "mode" config option (grouped options)
  uuid_ids         our requests use UUID string ids (Rust adapter style) instead of ints from 0
  stderr_flood=N   write N bytes to stderr at start-up
  grandchild       spawn a `sleep` grandchild in our process group (for orphan tests)
  ignore_eof       keep running after stdin EOF (the Rust adapter does)
  ignore_term      ignore SIGTERM too (only SIGKILL works)

Each turn obeys ``@fake`` directive lines found in the prompt text (first match wins per verb):

  @fake say TEXT           answer TEXT (default: "ok")
  @fake chunks N           split the answer into N chunks
  @fake think TEXT         send a thought chunk first
  @fake tool KIND TITLE    send a tool_call + completed tool_call_update first
  @fake sleep SECONDS      wait before answering (a cancel interrupts it)
  @fake unknown_update     send an update kind nobody knows, plus a malformed and a half line
  @fake error              answer the prompt with -32603 and codex_error_info (Rust style)
  @fake exit CODE          exit mid-turn with CODE after writing to stderr
  @fake usage N            report PromptResponse.usage.totalTokens = N
  @fake stderr_flood N     write N bytes to stderr mid-turn
  @fake permit KIND STYLE CMDS   ask permission to run CMDS (shell; several separated by ";" are
                           asked one after another, by "|" all at once) with the option set STYLE:
                           rust (approved/denied/abort), rust_observed (approved/…/abort),
                           ts (allow_once/decline/cancel), ts_observed (allow_once/…/cancel),
                           always_only (allow_always/reject_always). Allowed commands really run in
                           the cwd; a continuing reject goes on; abort/cancel end the turn.
  @fake hang SECONDS        wait before answering, ignoring session/cancel (a wedged agent)
  @fake reconnect SECONDS  send "Reconnecting…" session_info_update every 0.1 s meanwhile (honours cancel)
  @fake order after        send the tool_call before its permission request (default: request first)
  @fake withdraw           after asking, withdraw the request with $/cancel_request

A prompt with no ``say`` that contains "Claude's note:" is answered "acknowledged: <the note>".

Every message received is appended as a JSON line to ``FAKE_ACP_LOG`` when it is set.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

FLAGS: dict[str, str] = {}
for item in filter(None, os.environ.get("FAKE_ACP", "").split(",")):
    key, _, value = item.partition("=")
    FLAGS[key.strip()] = value.strip()

LOG_PATH = os.environ.get("FAKE_ACP_LOG")
_write_lock = threading.Lock()
_responses: dict[Any, dict[str, Any]] = {}
_response_ready = threading.Condition()
_inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
_cancelled = threading.Event()
_next_id = 0


def log_received(msg: dict[str, Any]) -> None:
    if LOG_PATH:
        with open(LOG_PATH, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(msg) + "\n")


def send(obj: dict[str, Any]) -> None:
    data = json.dumps({"jsonrpc": "2.0", **obj}) + "\n"
    with _write_lock:
        sys.stdout.write(data)
        sys.stdout.flush()


def send_raw(text: str) -> None:
    with _write_lock:
        sys.stdout.write(text)
        sys.stdout.flush()


def result(req_id: Any, value: Any) -> None:
    send({"id": req_id, "result": value})


def error(req_id: Any, code: int, message: str, data: Any = None) -> None:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    send({"id": req_id, "error": err})


def update(session_id: str, body: dict[str, Any]) -> None:
    send({"method": "session/update", "params": {"sessionId": session_id, "update": body}})


def request(method: str, params: Any) -> dict[str, Any]:
    """Send a request to the client and wait for its answer."""
    global _next_id
    if "uuid_ids" in FLAGS:
        req_id: Any = str(uuid.uuid4())
    else:
        req_id = _next_id
        _next_id += 1
    send({"id": req_id, "method": method, "params": params})
    with _response_ready:
        while req_id not in _responses:
            _response_ready.wait()
        return _responses.pop(req_id)


def reader() -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        log_received(msg)
        if "method" not in msg:
            with _response_ready:
                _responses[msg.get("id")] = msg
                _response_ready.notify_all()
        elif msg["method"] == "session/cancel":
            _cancelled.set()
        else:
            _inbox.put(msg)
    _inbox.put(None)


# -- handlers --------------------------------------------------------------------------------

SESSION = "sess-" + uuid.uuid4().hex[:8]
authenticated = False
mode = "agent"


def auth_methods() -> list[dict[str, Any]]:
    if FLAGS.get("auth") == "rust":
        return [
            {"id": "chatgpt", "name": "Login with ChatGPT"},
            {"type": "env_var", "id": "codex-api-key", "name": "Use CODEX_API_KEY"},
            {"type": "env_var", "id": "openai-api-key", "name": "Use OPENAI_API_KEY"},
        ]
    return [
        {"id": "api-key", "name": "API Key", "_meta": {"api-key": {"provider": "openai"}}},
        {"id": "chat-gpt", "name": "ChatGPT"},
    ]


def on_initialize(msg: dict[str, Any]) -> None:
    if "no_init" in FLAGS:
        return
    if "init_error" in FLAGS:
        code = int(FLAGS["init_error"])
        error(msg["id"], code, "Codex process has exited with code 1: boom", {"exitCode": 1})
        return
    version = int(FLAGS.get("version", "1"))
    result(
        msg["id"],
        {
            "protocolVersion": version,
            "agentCapabilities": {"loadSession": True, "futureCapability": {"x": 1}},
            "authMethods": auth_methods(),
            "agentInfo": {"name": "fake-acp", "title": "Fake", "version": "9.9.9"},
            "_meta": {"something": "unknown"},
        },
    )


def on_session_new(msg: dict[str, Any]) -> None:
    if "auth" in FLAGS and not authenticated:
        error(msg["id"], -32000, "Authentication required")
        return
    body: dict[str, Any] = {"sessionId": SESSION, "unknownField": True}
    if "modes" in FLAGS:
        body["modes"] = {
            "currentModeId": mode,
            "availableModes": [
                {"id": "read-only", "name": "Read only"},
                {"id": "workspace-write", "name": "Workspace"},
                {"id": "agent", "name": "Auto review"},
            ],
        }
    if "config_mode" in FLAGS:
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
    result(msg["id"], body)


def on_set_config_option(msg: dict[str, Any]) -> None:
    result(msg["id"], {"configOptions": []})


def on_authenticate(msg: dict[str, Any]) -> None:
    global authenticated
    method = (msg.get("params") or {}).get("methodId")
    env_for = {
        "api-key": "OPENAI_API_KEY",
        "openai-api-key": "OPENAI_API_KEY",
        "codex-api-key": "CODEX_API_KEY",
    }
    var = env_for.get(method or "")
    if var and os.environ.get(var):
        authenticated = True
        result(msg["id"], {})
    else:
        error(msg["id"], -32603, f"cannot authenticate with {method}")


def on_set_mode(msg: dict[str, Any]) -> None:
    global mode
    mode = (msg.get("params") or {}).get("modeId", mode)
    result(msg["id"], {})


def directives(prompt: list[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    text = "\n".join(block.get("text", "") for block in prompt if isinstance(block, dict))
    for match in re.finditer(r"^@fake (\w+) ?(.*)$", text, flags=re.M):
        found.setdefault(match.group(1), match.group(2).strip())
    return found


def interruptible_sleep(seconds: float) -> bool:
    """Sleep; True if a session/cancel arrived meanwhile."""
    return _cancelled.wait(seconds)


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
}
CONTINUING = {"denied", "decline"}


def ask_permission(sid: str, index: int, kind: str, style: str, command: str, d: dict[str, str]) -> str:
    """One permission round trip; returns "ran", "declined", "ended" or "cancelled"."""
    call_id = f"call_{index}"
    tool_call: dict[str, Any] = {"toolCallId": call_id, "title": command, "kind": kind, "status": "pending"}
    if kind == "execute":
        argv_or_string: Any = ["bash", "-lc", command] if style.startswith("rust") else command
        tool_call["rawInput"] = {
            "command": argv_or_string,
            "cwd": os.getcwd(),
            "reason": f"I need to run {command}",
        }
    else:  # read / edit / …: `command` is a path
        tool_call["locations"] = [{"path": command}]
        tool_call["rawInput"] = {"path": command, "reason": f"I need to {kind} {command}"}
    if d.get("order") == "after":
        update(sid, {"sessionUpdate": "tool_call", **tool_call, "status": "in_progress"})
        tool_call = {"toolCallId": call_id, "title": command}  # the request carries less
    options = [{"optionId": o, "name": o, "kind": k} for o, k in OPTION_SETS[style]]
    if "withdraw" in d:
        answer_box: dict[str, Any] = {}
        waiter = threading.Thread(
            target=lambda: answer_box.update(
                request(
                    "session/request_permission",
                    {"sessionId": sid, "toolCall": tool_call, "options": options},
                )
            )
        )
        waiter.start()
        time.sleep(0.3)
        send({"method": "$/cancel_request", "params": {"requestId": _next_id - 1}})
        waiter.join(10)
        return "withdrawn:" + json.dumps(answer_box.get("error") or answer_box.get("result"))
    reply = request(
        "session/request_permission", {"sessionId": sid, "toolCall": tool_call, "options": options}
    )
    outcome = (reply.get("result") or {}).get("outcome") or {}
    if outcome.get("outcome") != "selected":
        return "cancelled"
    chosen = outcome.get("optionId")
    if chosen in ("approved", "allow_once", "allow_always", "approved-for-session"):
        if kind == "execute":
            subprocess.run(command, shell=True, check=False)
        elif kind == "edit":
            with open(command, "w", encoding="utf-8") as fh:
                fh.write("edited\n")
        update(sid, {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "completed"})
        return "ran"
    if chosen in CONTINUING:
        update(sid, {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "failed"})
        return "declined"
    return "ended"


def run_permissions(msg: dict[str, Any], sid: str, d: dict[str, str]) -> bool:
    """Handle `@fake permit`; True when the turn has been answered (ended) already."""
    kind, style, commands = d["permit"].split(" ", 2)
    said: list[str] = []
    index = 0
    for group in commands.split(";"):
        results: dict[int, tuple[str, str]] = {}
        threads = []
        for command in group.split("|"):
            index += 1

            def one(
                i: int = index, c: str = command.strip(), out: dict[int, tuple[str, str]] = results
            ) -> None:
                out[i] = (ask_permission(sid, i, kind, style, c, d), c)

            threads.append(threading.Thread(target=one))
            threads[-1].start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        for i in sorted(results):
            outcome, command = results[i]
            if outcome in ("ended", "cancelled"):
                result(msg["id"], {"stopReason": "cancelled"})
                return True
            said.append(f"{outcome} {command}")
    update(
        sid,
        {
            "sessionUpdate": "agent_message_chunk",
            "content": {"type": "text", "text": "[" + "; ".join(said) + "] "},
        },
    )
    return False


def on_prompt(msg: dict[str, Any]) -> None:
    _cancelled.clear()
    params = msg.get("params") or {}
    sid = params.get("sessionId", SESSION)
    d = directives(params.get("prompt") or [])
    if "stderr_flood" in d:
        sys.stderr.write("x" * int(d["stderr_flood"]) + "\n")
        sys.stderr.flush()
    if "exit" in d:
        sys.stderr.write("fatal: the fake agent exits mid-turn\n")
        sys.stderr.flush()
        os._exit(int(d["exit"] or "3"))
    if "error" in d:
        error(msg["id"], -32603, "Internal error", {"codex_error_info": "usage_limit_exceeded"})
        return
    if "unknown_update" in d:
        update(sid, {"sessionUpdate": "brand_new_kind", "payload": {"a": 1}})
        send_raw("this is not json\n")
        update(sid, {"sessionUpdate": "tool_call", "title": "no id"})  # does not validate
    if "think" in d:
        update(sid, {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": d["think"]}})
    if "tool" in d:
        kind, _, title = d["tool"].partition(" ")
        update(
            sid,
            {
                "sessionUpdate": "tool_call",
                "toolCallId": "t1",
                "title": title,
                "kind": kind,
                "status": "in_progress",
            },
        )
        update(sid, {"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "completed"})
    if "hang" in d:
        time.sleep(float(d["hang"]))
    if "reconnect" in d:
        deadline = time.monotonic() + float(d["reconnect"])
        while time.monotonic() < deadline:
            update(
                sid,
                {
                    "sessionUpdate": "session_info_update",
                    "_meta": {
                        "codex": {
                            "error": {"message": "Reconnecting... waiting for network", "willRetry": True}
                        }
                    },
                },
            )
            if interruptible_sleep(0.1):
                result(msg["id"], {"stopReason": "cancelled"})
                return
    if "sleep" in d and interruptible_sleep(float(d["sleep"])):
        result(msg["id"], {"stopReason": "cancelled"})
        return
    if "permit" in d and run_permissions(msg, sid, d):
        return
    prompt_text = "\n".join(b.get("text", "") for b in params.get("prompt") or [] if isinstance(b, dict))
    default = "ok"
    if "Claude's note:" in prompt_text:
        default = "acknowledged: " + prompt_text.split("Claude's note:", 1)[1].strip()
    text = d.get("say", default)
    chunks = max(1, int(d.get("chunks", "1")))
    size = max(1, -(-len(text) // chunks))
    for start in range(0, len(text), size):
        if _cancelled.is_set():
            result(msg["id"], {"stopReason": "cancelled"})
            return
        update(
            sid,
            {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": text[start : start + size]},
            },
        )
    update(sid, {"sessionUpdate": "usage_update", "used": 1234, "size": 200000})
    body: dict[str, Any] = {"stopReason": "end_turn"}
    if "usage" in d:
        body["usage"] = {"totalTokens": int(d["usage"]), "inputTokens": 1, "outputTokens": 2}
    result(msg["id"], body)


HANDLERS = {
    "initialize": on_initialize,
    "session/new": on_session_new,
    "authenticate": on_authenticate,
    "session/set_mode": on_set_mode,
    "session/set_config_option": on_set_config_option,
    "session/prompt": on_prompt,
}


def main() -> None:
    if "die_at_start" in FLAGS:
        sys.stderr.write("Error: CODEX_HOME points to a missing directory\n")
        sys.exit(1)
    if "ignore_term" in FLAGS:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "stderr_flood" in FLAGS:
        sys.stderr.write("e" * int(FLAGS["stderr_flood"]) + "\n")
        sys.stderr.flush()
    if "grandchild" in FLAGS:
        subprocess.Popen(["sleep", "1000"])  # inherits our process group
    threading.Thread(target=reader, daemon=True).start()
    while True:
        msg = _inbox.get()
        if msg is None:
            break
        handler = HANDLERS.get(msg["method"])
        if handler is None:
            if "id" in msg:
                error(msg["id"], -32601, f"method not found: {msg['method']}")
            continue
        # Prompts run on their own thread so cancel and other requests keep flowing.
        if msg["method"] == "session/prompt":
            threading.Thread(target=handler, args=(msg,), daemon=True).start()
        else:
            handler(msg)
    if "ignore_eof" in FLAGS:
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
