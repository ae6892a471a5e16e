"""The host as a setting (issue 28): which program hosts the server and what follows from it.

In Claude Code every text stays as it is; in Codex CLI and Gemini CLI the tool texts name the agents
as that host sees them, a call without ``members`` goes to the host's default member, and a call
longer than the host's limit answers with a handle that ``task`` collects.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest
from bench import context_cost
from mcp import Client
from mcp.server.models import InitializationOptions
from mcp.shared.message import SessionMessage
from mcp_types import (
    ElicitRequestParams,
    ElicitResult,
    Implementation,
    ServerCapabilities,
    jsonrpc_message_adapter,
)

from codex_fusion.host import guidance, identity
from codex_fusion.host.handles import CallTable, HandleError
from codex_fusion.mcp import hosted
from codex_fusion.mcp.server import INSTRUCTIONS, TOOLS

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio

CODEX_CLIENT = Implementation(name="codex-mcp-client", title="Codex", version="0.166.0")
GEMINI_CLIENT = Implementation(name="gemini-cli-mcp-client", version="0.61.0")
REPO = Path(__file__).resolve().parents[1]


def text_of(result: object) -> str:
    return "\n".join(getattr(block, "text", "") for block in getattr(result, "content", []))


# -- which host ----------------------------------------------------------------------------------


def test_the_host_comes_from_the_setting_then_the_clients_name_then_is_claude_code() -> None:
    assert identity.resolve({}, None) is identity.CLAUDE_CODE
    assert identity.resolve({}, "claude-code") is identity.CLAUDE_CODE
    assert identity.resolve({}, "some-other-client") is identity.CLAUDE_CODE
    assert identity.resolve({}, "codex-mcp-client") is identity.CODEX
    assert identity.resolve({}, "gemini-cli-mcp-client") is identity.GEMINI
    # The user's setting wins over what the client says.
    assert identity.resolve({"CODEX_FUSION_HOST": "claude-code"}, "codex-mcp-client") is identity.CLAUDE_CODE
    assert identity.resolve({"CODEX_FUSION_HOST": " Codex "}, None) is identity.CODEX
    with pytest.raises(identity.HostError, match="claude-code, codex or gemini"):
        identity.resolve({"CODEX_FUSION_HOST": "vim"}, None)


def test_what_follows_from_each_host() -> None:
    assert (identity.CLAUDE_CODE.default_member, identity.CLAUDE_CODE.handle_after_s) == ("codex", None)
    assert identity.CLAUDE_CODE.follows
    assert (identity.CODEX.default_member, identity.CODEX.own_kind) == ("claude", "codex")
    assert identity.CODEX.handle_after_s is not None
    assert identity.CODEX.handle_after_s < 300
    assert (identity.GEMINI.default_member, identity.GEMINI.own_kind) == ("codex", "gemini")
    assert not identity.CODEX.follows
    assert not identity.GEMINI.follows
    later = identity.resolve({"CODEX_FUSION_HOST": "codex", "CODEX_FUSION_HANDLE_AFTER_S": "30"})
    assert later.handle_after_s == 30
    never = identity.resolve({"CODEX_FUSION_HOST": "codex", "CODEX_FUSION_HANDLE_AFTER_S": "0"})
    assert never.handle_after_s is None
    with pytest.raises(identity.HostError, match="not a number"):
        identity.resolve({"CODEX_FUSION_HANDLE_AFTER_S": "soon"})


def test_texts_are_unchanged_in_claude_code_and_name_the_agents_elsewhere() -> None:
    for spec in TOOLS:
        assert identity.render(identity.CLAUDE_CODE, spec.description) is spec.description
    assert identity.render(identity.CLAUDE_CODE, INSTRUCTIONS) is INSTRUCTIONS
    consult = next(spec.description for spec in TOOLS if spec.name == "consult")
    in_codex = identity.render(identity.CODEX, consult)
    assert in_codex.startswith("Second opinion from Claude (Anthropic) on a question")
    assert "Codex" not in in_codex
    assert identity.render(identity.CODEX, "Codex advises, you decide; Claude Code.") == (
        "Claude advises, you decide; Codex CLI."
    )
    assert (
        identity.render(identity.GEMINI, "Codex advises, Claude decides.") == "Codex advises, Gemini decides."
    )
    assert identity.render(identity.CODEX, "Codexes and Claudette") == "Codexes and Claudette"  # whole words


# -- over MCP --------------------------------------------------------------------------------------


async def test_the_tool_list_is_claude_codes_own_unless_the_client_is_another_host(
    fake: FakeAgentSetup,
) -> None:
    async with Client(fake.server()) as client:
        plain = {t.name: t.description for t in (await client.list_tools()).tools}
    async with Client(fake.server(), client_info=CODEX_CLIENT) as client:
        codex = {t.name: t for t in (await client.list_tools()).tools}
    async with Client(fake.server(), client_info=GEMINI_CLIENT) as client:
        gemini = {t.name: t.description for t in (await client.list_tools()).tools}
    assert plain == {spec.name: spec.description for spec in TOOLS}  # byte for byte
    assert codex["consult"].description == identity.render(identity.CODEX, plain["consult"])
    assert codex["consult"].description != plain["consult"]
    assert "Reply to Claude's last answer" in (codex["reply"].description or "")
    assert gemini["consult"] == plain["consult"]  # Codex is Gemini's default member too
    assert "Gemini decides" not in json.dumps(plain)


async def test_the_instructions_follow_the_host_the_user_set(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        assert client.instructions == INSTRUCTIONS
    async with Client(fake.server(CODEX_FUSION_HOST="codex")) as client:
        said = client.instructions or ""
    assert said.startswith("Claude (Anthropic) is a peer reviewer")
    assert said == identity.render(identity.CODEX, INSTRUCTIONS)


def test_over_stdio_the_instructions_follow_the_clients_name_in_initialize() -> None:
    options = InitializationOptions(
        server_name="codex-fusion",
        server_version="0",
        capabilities=ServerCapabilities(),
        instructions=INSTRUCTIONS,
    )
    watch = hosted.watch_initialize(options, INSTRUCTIONS)

    def initialize(name: object) -> SessionMessage:
        line = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"clientInfo": {"name": name}}}
        return SessionMessage(jsonrpc_message_adapter.validate_json(json.dumps(line), by_name=False))

    watch(initialize("claude-code"))
    assert options.instructions is INSTRUCTIONS
    watch(initialize("codex-mcp-client"))
    assert (options.instructions or "").startswith("Claude (Anthropic) is a peer reviewer")
    watch(initialize(["not", "a", "name"]))
    assert options.instructions is INSTRUCTIONS


async def test_inside_codex_a_call_without_members_goes_to_claude(fake: FakeAgentSetup) -> None:
    members = fake.members_json({"claude": {"flags": "", "env": {}}})
    server = fake.server("name=codex", CODEX_FUSION_MEMBERS=members)
    async with Client(server, client_info=CODEX_CLIENT) as client:
        answer = await client.call_tool(
            "consult", {"question": "@fake[claude] say CLAUDE-HERE-5\n@fake say CODEX"}
        )
        status = text_of(await client.call_tool("status", {}))
    assert answer.is_error is False, text_of(answer)
    assert "CLAUDE-HERE-5" in text_of(answer)
    assert fake.received("session/prompt", agent="codex") == []
    assert "host: Codex CLI · default member: claude" in status
    assert "a new Codex session resets every member" in status


async def test_in_claude_code_status_has_no_host_line(fake: FakeAgentSetup) -> None:
    async with Client(fake.server()) as client:
        status = text_of(await client.call_tool("status", {}))
    assert "host:" not in status


async def test_a_consult_past_the_hosts_limit_is_a_handle_that_task_collects_once(
    fake: FakeAgentSetup,
) -> None:
    server = fake.server(CODEX_FUSION_HOST="codex", CODEX_FUSION_HANDLE_AFTER_S="0.2")
    with anyio.fail_after(60):  # without the handle, the consult would wait for the gate forever
        async with Client(server) as client:
            first = text_of(
                await client.call_tool("consult", {"question": "@fake wait g1\n@fake say LATE-ANSWER-3"})
            )
            still = text_of(await client.call_tool("task", {"id": "c1", "action": "show", "wait_s": 0.1}))
            fake.gate("g1").set()
            collected = await client.call_tool("task", {"id": "c1", "action": "show", "wait_s": 60})
            again = await client.call_tool("task", {"id": "c1", "action": "show"})
    assert "is still running" in first, first
    assert "handle c1" in first
    assert "LATE-ANSWER-3" not in first
    assert "is still running" in still
    assert collected.is_error is False
    assert "LATE-ANSWER-3" in text_of(collected)
    assert again.is_error is True
    assert "No running call 'c1'" in text_of(again)


async def test_in_claude_code_a_long_consult_is_never_a_handle(fake: FakeAgentSetup) -> None:
    server = fake.server(CODEX_FUSION_HANDLE_AFTER_S="0")
    async with Client(server) as client:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 0.3)
                result: list[str] = []

                async def consult() -> None:
                    answer = await client.call_tool(
                        "consult", {"question": "@fake wait g2\n@fake say WHOLE-7"}
                    )
                    result.append(text_of(answer))

                tg.start_soon(consult)
                await anyio.sleep(0.5)
                fake.gate("g2").set()
    assert "WHOLE-7" in result[0]
    assert "handle" not in result[0]


# -- the call table --------------------------------------------------------------------------------


async def test_a_failed_call_is_collected_as_its_error_and_a_bug_as_a_bug() -> None:
    async with CallTable() as calls:

        async def refused() -> str:
            raise ValueError("REFUSED-1")

        failed = await calls.run(
            "consult", refused, 5, lambda exc: str(exc) if isinstance(exc, ValueError) else None
        )
        assert (failed.failed, calls.collect(failed)) == (True, "REFUSED-1")

        async def bug() -> str:
            raise KeyError("x")

        broken = await calls.run("consult", bug, 5, lambda exc: None)
        assert broken.failed
        assert "logged" in (calls.collect(broken) or "")
        with pytest.raises(HandleError):
            calls.get(broken.id)
    assert CallTable.owns("c12")
    assert not CallTable.owns("t1")
    assert not CallTable.owns("c")


async def test_what_still_runs_ends_with_the_table() -> None:
    ended = anyio.Event()

    async def forever() -> str:
        try:
            await anyio.sleep_forever()
        finally:
            ended.set()
        return ""

    async with CallTable() as calls:
        entry = await calls.run("consult", forever, 0, lambda exc: None)
        assert calls.collect(entry) is None
    assert ended.is_set()


async def test_inside_codex_codex_is_the_hosts_own_family_in_a_council(fake: FakeAgentSetup) -> None:
    members = fake.members_json({"claude": {"flags": "", "env": {}}})
    question = {
        "question": "@fake[codex] say CODEX\\nVERDICT: CONSENSUS — yes\n@fake[claude] say CLAUDE\\nVERDICT: OPEN — why",
        "members": ["all"],
        "my_take": "yes",
    }
    lines = []
    for client_info in (None, CODEX_CLIENT):
        server = fake.server("name=codex", CODEX_FUSION_MEMBERS=members)
        async with Client(server, client_info=client_info) as client:
            text = text_of(await client.call_tool("consult", question))
        lines.append(next(line for line in text.splitlines() if line.startswith("Council round ")))
    in_claude_code, in_codex = lines
    assert "no outside voice" not in in_claude_code, in_claude_code  # there, Codex is the outside voice
    assert "no outside voice: only codex" in in_codex, in_codex


# -- what each host's model is taught --------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "path"),
    [(identity.CODEX, "hosts/codex/guidance.md"), (identity.GEMINI, "hosts/gemini/CODEX-FUSION.md")],
)
def test_the_guidance_files_are_the_one_text_rendered_per_host(host: identity.Host, path: str) -> None:
    assert (REPO / path).read_text() == guidance.render(host), f"regenerate: codex-fusion guidance {host.key}"
    assert guidance.render(identity.CLAUDE_CODE) is guidance.GUIDANCE


def test_the_gemini_extension_runs_the_server_as_gemini_s_with_its_context_file() -> None:
    manifest = json.loads((REPO / "hosts/gemini/gemini-extension.json").read_text())
    server = manifest["mcpServers"]["codex-fusion"]
    assert server["env"]["CODEX_FUSION_HOST"] == "gemini"
    assert server["timeout"] / 1000 > identity.GEMINI.handle_after_s  # handles come before Gemini gives up
    assert (REPO / "hosts/gemini" / manifest["contextFileName"]).is_file()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'version = "{manifest["version"]}"' in pyproject


@pytest.mark.parametrize("host", [identity.CODEX, identity.GEMINI])
def test_what_a_host_always_carries_stays_within_the_budget(host: identity.Host) -> None:
    """Always on in Codex: the guidance in AGENTS.md and the instructions (in tool_search's text; the
    tools are deferred). In Gemini: the context file and every tool's declaration (not deferred),
    held to the budget of Claude Code with tool search off."""
    text = guidance.render(host) + identity.render(host, INSTRUCTIONS)
    if host is identity.CODEX:
        assert len(text) / context_cost.CHARS_PER_TOKEN < context_cost.BUDGET_TOKENS
    else:
        tools = anyio.run(context_cost.server_items)
        schemas = sum(len(item.loaded) for item in tools if item.part == "tools")
        total = (len(text) + schemas) / context_cost.CHARS_PER_TOKEN
        assert total < context_cost.SCHEMA_CEILING_TOKENS


def readme_codex_block() -> tuple[str, str]:
    """The README's Codex registration: the shell line that appends it, and the block it shows."""
    section = (REPO / "README.md").read_text().split("### Codex CLI as the host", 1)[1]
    command = next(line for line in section.splitlines() if line.startswith("printf "))
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    return command, block


def test_the_readme_registers_codex_with_the_timeouts_and_approval_it_needs(tmp_path: Path) -> None:
    command, block = readme_codex_block()
    target = tmp_path / "config.toml"
    appended = command.replace("~/.codex/config.toml", shlex.quote(str(target)))
    subprocess.run(["sh", "-c", appended], check=True)
    assert target.read_text() == block  # the line writes what the README shows
    server = tomllib.loads(block)["mcp_servers"]["codex-fusion"]
    assert (server["command"], server["args"]) == ("codex-fusion", ["serve"])
    assert server["env"] == {"CODEX_FUSION_HOST": "codex"}
    assert server["default_tools_approval_mode"] == "approve"
    assert server["startup_timeout_sec"] > 10  # Codex's default is shorter than a cold start
    assert identity.CODEX.handle_after_s is not None
    assert server["tool_timeout_sec"] > identity.CODEX.handle_after_s  # the handle comes first


# -- the pause asked of the person (form elicitation) ---------------------------------------------------


def person_says(answers: list[dict[str, str] | None], asked: list[str]) -> Any:
    """An elicitation callback: each form answered with the next of ``answers`` (None: dismissed)."""

    async def callback(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        content = answers.pop(0)
        if content is None:
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content=content)

    return callback


PAUSING = "@fake permit execute ts touch made.txt\n@fake say DONE-AFTER-PAUSE"


async def test_the_person_answers_a_pause_through_the_hosts_prompt_when_they_chose_it(
    fake: FakeAgentSetup,
) -> None:
    asked: list[str] = []
    server = fake.server(CODEX_FUSION_PAUSE_ASKS="person")
    callback = person_says([{"decision": "allow", "note": ""}], asked)
    async with Client(
        server, client_info=CODEX_CLIENT, elicitation_callback=callback, mode="legacy"
    ) as client:
        result = text_of(await client.call_tool("consult", {"question": PAUSING}))
    assert len(asked) == 1
    assert asked[0].startswith("⏸ Codex is paused")
    assert "touch made.txt" in asked[0]  # the request as the model would have read it
    assert "DONE-AFTER-PAUSE" in result
    assert not result.startswith("⏸")
    assert (fake.workspace / "made.txt").exists()  # what the person allowed ran


async def test_a_dismissed_form_is_a_deny(fake: FakeAgentSetup) -> None:
    asked: list[str] = []
    server = fake.server(CODEX_FUSION_PAUSE_ASKS="person")
    async with Client(server, elicitation_callback=person_says([None], asked), mode="legacy") as client:
        result = text_of(await client.call_tool("consult", {"question": PAUSING}))
    assert len(asked) == 1
    assert not result.startswith("⏸")
    assert not (fake.workspace / "made.txt").exists()


async def test_without_the_choice_the_model_gets_the_pause(fake: FakeAgentSetup) -> None:
    asked: list[str] = []
    async with Client(fake.server(), elicitation_callback=person_says([], asked), mode="legacy") as client:
        result = text_of(await client.call_tool("consult", {"question": PAUSING}))
        await client.call_tool("permit", {"decision": "deny"})
    assert asked == []
    assert result.startswith("⏸ Codex is paused")


# -- following Codex's conversation --------------------------------------------------------------------


def codex_turn(session: str) -> dict[str, Any]:
    return {"callId": "call_1", "x-codex-turn-metadata": {"session_id": session, "turn_id": "t"}}


async def test_a_new_codex_session_resets_the_members_and_the_same_one_keeps_them(
    fake: FakeAgentSetup,
) -> None:
    ask = {"question": "@fake recall"}
    async with Client(fake.server(CODEX_FUSION_HOST="codex")) as client:
        first = text_of(await client.call_tool("consult", ask, meta=codex_turn("S-1")))
        same = text_of(await client.call_tool("consult", ask, meta=codex_turn("S-1")))
        other = text_of(await client.call_tool("consult", ask, meta=codex_turn("S-2")))
        unmarked = text_of(await client.call_tool("consult", ask))
    assert "recall: 0 earlier prompt(s)" in first, first
    assert "recall: 1 earlier prompt(s)" in same, same  # the same Codex conversation: context kept
    assert "recall: 0 earlier prompt(s)" in other, other  # a new one: the member starts fresh
    assert "recall: 1 earlier prompt(s)" in unmarked, unmarked  # no session id: nothing to follow
    assert len(fake.received("session/new")) == 2


async def test_in_claude_code_a_codex_session_id_changes_nothing(fake: FakeAgentSetup) -> None:
    ask = {"question": "@fake recall"}
    async with Client(fake.server()) as client:
        await client.call_tool("consult", ask, meta=codex_turn("S-1"))
        second = text_of(await client.call_tool("consult", ask, meta=codex_turn("S-2")))
    assert "recall: 1 earlier prompt(s)" in second, second
