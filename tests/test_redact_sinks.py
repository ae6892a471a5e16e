"""Every sink, through the in-memory server (or the installed CLI): what Claude reads loses
credential formats and keeps code; logs lose everything that may be a secret; the pause shows the
request byte for byte and names the credentials in it (ADR 0014)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mcp import Client

from codex_fusion.hookside import nonce
from codex_fusion.host import continuity

from .conftest import FakeAgentSetup
from .test_cli import ENTRY
from .test_follow import WINDOW, eventually, run_hook, text_of

pytestmark = pytest.mark.anyio

# Synthetic credentials, assembled so this file trips no scanner.
GH_TOKEN = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
STRIPE = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dcZZ"
BASE_SECRET = "9f1c" * 16  # SECRET_KEY_BASE's value: log-only (a name, not a format)
CODE = "token = load_token(path)"


def ask_for(command: str) -> str:
    request = {"toolCallId": "c1", "kind": "execute", "rawInput": {"command": command}}
    return f"@fake ask ts {json.dumps(request)}"


async def test_an_answer_keeps_code_and_loses_credentials_and_the_log_loses_more(
    fake: FakeAgentSetup, tmp_path: Path
) -> None:
    log = tmp_path / "turns.jsonl"
    answer = f"{CODE}\\nThe fixture hard-codes {GH_TOKEN} and SECRET_KEY_BASE={BASE_SECRET}."
    async with Client(fake.server(CODEX_FUSION_LOG=str(log))) as client:
        result = text_of(await client.call_tool("consult", {"question": f"@fake say {answer}"}))
    assert result.startswith(f"{CODE}\nThe fixture hard-codes [redacted] and SECRET_KEY_BASE={BASE_SECRET}.")
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert GH_TOKEN not in entry["answer"]
    assert BASE_SECRET not in entry["answer"]  # the log tier's context rules


async def test_the_pause_shows_the_command_byte_for_byte(fake: FakeAgentSetup) -> None:
    command = "token=$(sh<.git/x);make test"  # issue 17: shown as `token=[redacted] test` before
    async with Client(fake.server()) as client:
        result = text_of(await client.call_tool("consult", {"question": ask_for(command)}))
        await client.call_tool("permit", {"decision": "cancel"})
    assert f"Codex wants to: run `{command}`" in result
    assert f"```\n{command}\n```" in result
    assert "⚠" not in result


async def test_a_credential_in_a_paused_command_is_named_next_to_it_not_hidden(
    fake: FakeAgentSetup, tmp_path: Path
) -> None:
    log = tmp_path / "turns.jsonl"
    command = f"curl -H 'Authorization: token {GH_TOKEN}' https://api.github.com/user"
    question = f"@fake prelude Trying {STRIPE} first.\n{ask_for(command)}"
    async with Client(fake.server(CODEX_FUSION_LOG=str(log))) as client:
        result = text_of(await client.call_tool("consult", {"question": question}))
        await client.call_tool("permit", {"decision": "deny"})
    lines = result.splitlines()
    fence = lines.index(command)
    assert lines[fence + 2] == (
        "⚠ This command contains what looks like a GitHub token (gh…_), shown unredacted as it would run."
    )
    assert "Codex so far: Trying [redacted] first." in result  # what Codex said is an answer part
    assert STRIPE not in result
    assert GH_TOKEN not in log.read_text()


async def test_a_long_answer_is_saved_as_claude_reads_it(fake: FakeAgentSetup, tmp_path: Path) -> None:
    data = tmp_path / "plugin-data"
    answer = f"{CODE}\\nSECRET_KEY_BASE={BASE_SECRET}\\n{GH_TOKEN}\\n" + " ".join(
        f"w{i}" for i in range(1500)
    )
    server = fake.server(CODEX_FUSION_MAX_ANSWER_CHARS="2000", CLAUDE_PLUGIN_DATA=str(data))
    async with Client(server) as client:
        result = text_of(await client.call_tool("consult", {"question": f"@fake say {answer}"}))
    saved = Path(result.split("The whole answer is in ", 1)[1].split(": read it", 1)[0])
    whole = saved.read_text()  # Claude reads it for the rest: redacted as what Claude reads, no more
    assert whole.startswith(f"{CODE}\nSECRET_KEY_BASE={BASE_SECRET}\n[redacted]\nw0 w1")
    assert result.startswith(f"{CODE}\nSECRET_KEY_BASE={BASE_SECRET}\n[redacted]\nw0 w1")


async def test_status_and_errors_show_the_stderr_tail_redacted_as_a_log(fake: FakeAgentSetup) -> None:
    line = f"config: SECRET_KEY_BASE={BASE_SECRET} token {GH_TOKEN}"
    async with Client(fake.server()) as client:
        failed = await client.call_tool("consult", {"question": f"@fake stderr {line}\n@fake exit 3"})
        status = text_of(await client.call_tool("status", {}))
    error = text_of(failed)
    assert failed.is_error
    assert "SECRET_KEY_BASE=[redacted]" in error
    for sink in (error, status):
        assert BASE_SECRET not in sink
        assert GH_TOKEN not in sink


async def test_progress_is_redacted_and_keeps_code(fake: FakeAgentSetup) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    question = f"@fake think {CODE} leaks {GH_TOKEN} here\n@fake sleep 0.6\n@fake say done"
    async with Client(fake.server()) as client:
        await client.call_tool("consult", {"question": question}, progress_callback=on_progress)
    thoughts = [message for message in messages if "💭" in message]
    assert thoughts, messages
    assert any(f"{CODE} leaks [redacted]" in message for message in thoughts)
    assert not any(GH_TOKEN[:10] in message for message in messages)


async def test_the_debate_state_claude_is_shown_after_a_compaction_is_redacted(fake: FakeAgentSetup) -> None:
    run_hook(fake, "SessionStart", "S1")
    state = fake.data / "state"
    server = fake.server("resume,close", CLAUDE_PID=str(WINDOW), CODEX_FUSION_RESET_ON="clear")
    async with Client(server) as client:
        await client.call_tool("consult", {"question": f"@fake say VERDICT: OPEN — rotate {GH_TOKEN}"})

        async def saved() -> bool:
            return "round 1/3" in (nonce.read_debate_state(state, fake.workspace, WINDOW, "S1") or "")

        await eventually(saved)
    shown = nonce.read_debate_state(state, fake.workspace, WINDOW, "S1") or ""
    assert "last verdict: open — rotate [redacted]" in shown
    link = continuity.load(state, fake.workspace, "S1")
    assert link is not None
    assert link.summary == "rotate [redacted]"


def test_ask_at_a_terminal_streams_the_answer_redacted(fake: FakeAgentSetup) -> None:
    answer = f"{CODE}\\n\\nuse {GH_TOKEN} then\\n\\n-----BEGIN EC PRIV" + "ATE KEY-----\\n" + "Qk" * 40
    answer += "\\n-----END EC PRIV" + "ATE KEY-----\\ndone"
    out = subprocess.run(
        [str(ENTRY), "ask", f"@fake say {answer}\n@fake chunks 23"],
        capture_output=True,
        text=True,
        env=fake.env(),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{CODE}\n\nuse [redacted] then\n\n-----BEGIN EC PRIV")
    assert out.stdout.endswith("-----END EC PRIV" + "ATE KEY-----\ndone\n")
    assert "QkQk" not in out.stdout
    assert GH_TOKEN[:12] not in out.stdout
