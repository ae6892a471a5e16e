"""The ACP client, supervisor and consultant against the scripted fake agent.

The agent runs in memory (``fake.consultant()``) unless the test is about the process itself:
stderr through a real pipe, a missing command, process groups.
"""

from __future__ import annotations

import os
import time

import anyio
import pytest

from codex_fusion.errors import AgentError, AuthRequired, ConsultError
from codex_fusion.launch.planning import configure
from codex_fusion.member import client, render, runner
from codex_fusion.member.conversation import Member
from codex_fusion.member.notes import NoteKind
from codex_fusion.member.turn import Event, IllegalTransition, Pause, Turn, TurnOutcome, TurnState

from .conftest import FakeAgentSetup, alive, group_alive, wait_until

pytestmark = pytest.mark.anyio


async def consult(consultant: Member, prompt: str, **kwargs: object) -> TurnOutcome:
    outcome = await consultant.consult(prompt, **kwargs)  # type: ignore[arg-type]
    assert isinstance(outcome, TurnOutcome)
    return outcome


async def test_handshake_then_answer_with_usage(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        outcome = await consult(consultant, "@fake say hello there\n@fake chunks 3\n@fake usage 4321")
        assert outcome.text == "hello there"
        assert outcome.stop_reason == "end_turn"
        assert outcome.usage.total_tokens == 4321
        assert outcome.usage.context_used == 1234
        assert outcome.elapsed > 0
        assert consultant.status().agent_name == "fake-acp 9.9.9"
    init = fake.received("initialize")[0]["params"]
    assert init["protocolVersion"] == 1
    assert init["clientInfo"]["name"] == "codex-fusion"
    assert init["clientCapabilities"]["fs"] == {"readTextFile": True, "writeTextFile": False}
    assert init["clientCapabilities"]["terminal"] is False
    new = fake.received("session/new")[0]["params"]
    assert new == {"cwd": str(fake.workspace.resolve()), "mcpServers": []}


async def test_session_persists_across_consults(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        first = await consult(consultant, "@fake say one")
        second = await consult(consultant, "@fake say two")
    assert (first.text, second.text) == ("one", "two")
    assert first.session_id == second.session_id
    assert len(fake.received("session/new")) == 1
    assert len(fake.received("initialize")) == 1


async def test_configured_mode_is_set_when_offered(fake: FakeAgentSetup) -> None:
    async with fake.consultant("modes") as consultant:
        await consultant.consult("hi")
        assert consultant.status().mode_note == "read-only"
    calls = fake.received("session/set_mode")
    assert [c["params"]["modeId"] for c in calls] == ["read-only"]


async def test_mode_is_set_through_the_config_option_when_there_are_no_modes(fake: FakeAgentSetup) -> None:
    async with fake.consultant("config_mode") as consultant:
        await consultant.consult("hi")
        assert consultant.status().mode_note == "read-only"
    calls = fake.received("session/set_config_option")
    assert [c["params"] for c in calls] == [
        {"sessionId": calls[0]["params"]["sessionId"], "configId": "mode", "value": "read-only"}
    ]


async def test_mode_not_offered_is_reported(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        await consultant.consult("hi")
        mode_note = consultant.status().mode_note
        assert mode_note is not None
        assert "not offered" in mode_note
    assert fake.received("session/set_mode") == []


async def test_version_mismatch_is_a_clear_error(fake: FakeAgentSetup) -> None:
    async with fake.consultant("version=2") as consultant:
        with pytest.raises(AgentError, match="speaks ACP protocol version 2; codex-fusion speaks version 1"):
            await consultant.consult("hi")
        assert consultant.status().agent_name is None
        assert consultant.last_error is not None


async def test_initialize_error_1001_quotes_the_agent(fake: FakeAgentSetup) -> None:
    async with fake.consultant("init_error=1001") as consultant:
        with pytest.raises(AgentError, match=r"refused to start: Codex process has exited .*code 1001"):
            await consultant.consult("hi")


async def test_a_credential_the_agent_says_in_its_refusal_is_redacted_where_the_error_is_worded(
    fake: FakeAgentSetup,
) -> None:
    async with fake.consultant("init_error=1001,init_error_token") as consultant:
        with pytest.raises(AgentError, match=r"refused to start: Codex process has exited") as info:
            await consultant.consult("hi")
    assert "ghp_" not in info.value.summary
    assert "[redacted]" in info.value.summary


async def test_initialize_timeout_names_the_command(fake: FakeAgentSetup) -> None:
    async with fake.consultant("no_init", CODEX_FUSION_STARTUP_TIMEOUT_MS="500") as consultant:
        started = time.monotonic()
        with pytest.raises(AgentError, match=r"did not answer `initialize` within 0\.5 s") as info:
            await consultant.consult("hi")
        assert time.monotonic() - started < 10
        assert "fake_agent.py" in str(info.value)


@pytest.mark.parametrize("where", ["memory", "process"])
async def test_agent_dying_at_start_quotes_stderr(fake: FakeAgentSetup, where: str) -> None:
    flags = "die_at_start"
    consultant = fake.consultant(flags) if where == "memory" else Member(fake.config(flags))
    async with consultant:
        with pytest.raises(AgentError) as info:
            await consultant.consult("hi")
    message = str(info.value)
    assert "exited with code 1" in message
    assert "CODEX_HOME points to a missing directory" in message
    assert "Fix: create that directory, or unset CODEX_HOME" in message


async def test_missing_command_says_how_to_install(fake: FakeAgentSetup) -> None:
    config = configure(fake.env(CODEX_FUSION_ACP_COMMAND="/nonexistent/codex-acp --flag"))
    async with Member(config) as consultant:
        with pytest.raises(AgentError, match="command not found: /nonexistent/codex-acp") as info:
            await consultant.consult("hi")
    assert "npm install -g @agentclientprotocol/codex-acp" in str(info.value)


async def test_next_call_retries_from_scratch_after_a_start_failure(fake: FakeAgentSetup) -> None:
    async with fake.consultant("die_at_start") as consultant:
        with pytest.raises(AgentError):
            await consultant.consult("hi")
        # "fix" the agent: the next call spawns a fresh agent with the new flags
        consultant.member.env["FAKE_ACP"] = ""
        outcome = await consult(consultant, "@fake say recovered")
    assert outcome.text == "recovered"


@pytest.mark.parametrize("style", ["ts", "rust"])
async def test_auth_required_without_key_says_how_to_log_in(fake: FakeAgentSetup, style: str) -> None:
    async with fake.consultant(f"auth={style}") as consultant:
        with pytest.raises(
            AuthRequired,
            match=r"Codex is not logged in: run `npx -y @openai/codex login` in a terminal, or set OPENAI_API_KEY",
        ):
            await consultant.consult("hi")
    assert fake.received("authenticate") == []


@pytest.mark.parametrize(
    ("style", "key", "method"),
    [
        ("ts", "OPENAI_API_KEY", "api-key"),
        ("rust", "OPENAI_API_KEY", "openai-api-key"),
        ("rust", "CODEX_API_KEY", "codex-api-key"),
    ],
)
async def test_auth_with_key_authenticates_once_and_retries(
    fake: FakeAgentSetup, style: str, key: str, method: str
) -> None:
    async with fake.consultant(f"auth={style}", **{key: "sk-test-0123456789abcdef"}) as consultant:
        outcome = await consult(consultant, "@fake say authed")
    assert outcome.text == "authed"
    assert [m["params"]["methodId"] for m in fake.received("authenticate")] == [method]
    assert len(fake.received("session/new")) == 2


async def test_unknown_updates_and_malformed_lines_do_not_break_the_turn(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        turn = await consultant.start("@fake unknown_update\n@fake say still fine")
        outcome = await consultant.wait(turn)
        assert isinstance(outcome, TurnOutcome)
        seen = list(turn.transcript.kinds.elements())  # every update's kind, as it arrived
        assert consultant.session is not None
        assert consultant.session.agent is not None
        assert consultant.session.agent.connection.malformed_lines == 1
    assert outcome.text == "still fine"
    assert "brand_new_kind" in seen
    assert seen.count("tool_call") == 1  # the update without toolCallId arrives raw, not dropped


async def test_agent_request_ids_may_be_uuid_strings(fake: FakeAgentSetup) -> None:
    """The agent's requests carry UUID string ids (the Rust adapter's style): a known one is
    served and an unknown one answered -32601, each under the id it was asked with."""
    readme = fake.workspace / "README.md"
    readme.write_text("hello\n")
    prompt = (
        f'@fake ask ts {{"toolCallId": "c1", "kind": "read", "locations": [{{"path": "{readme}"}}]}}\n'
        "@fake request terminal/create {}\n@fake say done"
    )
    async with fake.consultant("uuid_ids") as consultant:
        outcome = await consult(consultant, prompt, timeout=30)
    assert outcome.text == "[asked: allow_once] [terminal/create: error -32601] done"
    answers = [m for m in fake.received() if "method" not in m]
    assert [type(m["id"]) for m in answers] == [str, str]
    assert all(len(m["id"]) == 36 for m in answers)  # UUIDs, echoed as they came
    assert answers[1]["error"]["code"] == -32601


async def test_tool_activity_and_thoughts_are_collected(fake: FakeAgentSetup) -> None:
    """Thoughts are kept apart from the answer (the progress line and the terminal show them);
    tool activity is listed."""
    async with fake.consultant() as consultant:
        turn = await consultant.start(
            "@fake think hmm, the cache\n@fake tool read src/app.py\n@fake say done"
        )
        outcome = await consultant.wait(turn)
        assert isinstance(outcome, TurnOutcome)
        transcripts = [turn.transcript]
    assert outcome.text == "done"  # the thought is not part of the answer
    assert transcripts
    assert transcripts[-1].thought_parts == ["hmm, the cache"]
    assert [render.activity(tool) for tool in outcome.activity] == ["read src/app.py (completed)"]


async def test_rpc_error_mid_turn_keeps_the_session(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        with pytest.raises(ConsultError, match="usage_limit_exceeded"):
            await consultant.consult("@fake error")
        outcome = await consult(consultant, "@fake say after")
        assert outcome.text == "after"
    assert len(fake.received("initialize")) == 1


async def test_agent_exit_mid_turn_fails_at_once_and_respawns(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        started = time.monotonic()
        with pytest.raises(AgentError) as info:
            await consultant.consult("@fake exit 3")
        assert time.monotonic() - started < 10  # not a timeout: the exit is noticed at once
        assert "exited with code 3" in str(info.value)
        assert "the fake agent exits mid-turn" in str(info.value)
        outcome = await consult(consultant, "@fake say back")
    assert outcome.text == "back"
    assert len(fake.received("initialize")) == 2


async def test_concurrent_consults_run_one_at_a_time_in_order(fake: FakeAgentSetup) -> None:
    results: list[str] = []
    async with fake.consultant() as consultant:
        async with anyio.create_task_group() as tg:
            for i in range(6):

                async def one(i: int = i) -> None:
                    outcome = await consult(consultant, f"@fake say answer {i}\n@fake wait go")
                    results.append(outcome.text)

                tg.start_soon(one)
                await anyio.wait_all_tasks_blocked()  # queued (or running) before the next arrives
            assert consultant.queue_length == 5
            fake.gate("go").set()
        assert consultant.queue_length == 0
    assert results == [f"answer {i}" for i in range(6)]
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert [p.split("\n")[0] for p in prompts] == [f"@fake say answer {i}" for i in range(6)]


async def test_stderr_flood_does_not_deadlock(fake: FakeAgentSetup) -> None:
    async with Member(fake.config(f"stderr_flood={2 * 1024 * 1024}")) as consultant:
        with anyio.fail_after(30):
            outcome = await consult(consultant, f"@fake stderr_flood {1024 * 1024}\n@fake say survived")
        assert outcome.text == "survived"
        assert consultant.session is not None
        agent = consultant.session.agent
        assert agent is not None
        assert agent.process.stderr.total_bytes > 3 * 1024 * 1024
        assert len(agent.process.stderr.text(100_000)) <= 64 * 1024


@pytest.mark.parametrize(
    "flags", ["grandchild", "grandchild,ignore_eof", "grandchild,ignore_eof,ignore_term"]
)
async def test_no_process_survives_the_consultant(fake: FakeAgentSetup, flags: str) -> None:
    async with Member(fake.config(flags)) as consultant:
        await consultant.consult("hi")
        pgid = consultant.status().agent_pid
        assert pgid is not None
        assert os.getpgid(pgid) == pgid  # the agent leads its own group
        assert group_alive(pgid)
    assert wait_until(lambda: not group_alive(pgid), timeout=5)


async def test_cancelled_consult_sends_session_cancel_and_next_works(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        with anyio.CancelScope() as scope:

            async def cancel_when_blocked() -> None:
                await anyio.wait_all_tasks_blocked()  # the prompt is with Codex
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_when_blocked)
                await consultant.consult("@fake sleep 30")
        outcome = await consult(consultant, "@fake say next")
    assert outcome.text == "next"
    assert len(fake.received("session/cancel")) == 1
    assert len(fake.received("initialize")) == 1  # the cooperative agent was not killed


async def test_bad_workspace_is_reported(fake: FakeAgentSetup) -> None:
    config = configure(fake.env(CODEX_FUSION_WORKSPACE=str(fake.workspace / "missing")))
    assert config.workspace.path is None
    async with Member(config) as consultant:
        with pytest.raises(ConsultError, match="is not an existing directory"):
            await consultant.consult("hi")


async def test_a_grandchild_that_left_the_process_group_is_collected(fake: FakeAgentSetup) -> None:
    async with Member(fake.config("setsid_child")) as consultant:
        await consultant.consult("hi")
        agent, escaped = fake.pids()
        assert os.getpgid(escaped) != os.getpgid(agent)  # killpg alone would miss it
        assert alive(escaped)
    assert wait_until(lambda: not alive(escaped) and not alive(agent), timeout=5)


# -- admission: bounded, and never into a session being replaced --------------------------------------


async def test_a_full_queue_refuses_at_once_with_what_to_do(fake: FakeAgentSetup) -> None:
    done: list[str] = []
    async with fake.consultant() as consultant, anyio.create_task_group() as tg:

        async def one(prompt: str) -> None:
            done.append((await consult(consultant, prompt)).text)

        tg.start_soon(one, "@fake wait go\n@fake say running")
        await anyio.wait_all_tasks_blocked()
        for i in range(runner.MAX_QUEUED):
            tg.start_soon(one, f"@fake say queued {i}")
            await anyio.wait_all_tasks_blocked()
        assert consultant.queue_length == runner.MAX_QUEUED
        with anyio.fail_after(5), pytest.raises(ConsultError, match="consults are already waiting"):
            await consultant.consult("@fake say one too many")
        fake.gate("go").set()
    assert done == ["running", *(f"queued {i}" for i in range(runner.MAX_QUEUED))]
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert not any("one too many" in p for p in prompts)


async def test_a_queued_consult_waits_at_most_its_idle_bound(fake: FakeAgentSetup) -> None:
    async with fake.consultant() as consultant:
        async with anyio.create_task_group() as tg:
            tg.start_soon(consult, consultant, "@fake wait go\n@fake say running")
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(10), pytest.raises(ConsultError, match=r"waited 0\.3 s \(its idle limit\)"):
                await consultant.consult("@fake say never sent", timeout=0.3)
            assert consultant.queue_length == 0
            fake.gate("go").set()
        after = await consult(consultant, "@fake say next")
    assert after.text == "next"
    prompts = [m["params"]["prompt"][0]["text"] for m in fake.received("session/prompt")]
    assert not any("never sent" in p for p in prompts)


@pytest.mark.parametrize("how", ["reset", "fork"])
async def test_a_consult_queued_during_a_reset_or_fork_goes_to_the_new_session(
    fake: FakeAgentSetup, how: str
) -> None:
    """The reset stops the running turn, whose end used to admit the queued consult into the old
    session, which the reset then closed under it: the cleared conversation's context leaked."""
    answers: list[TurnOutcome] = []
    async with fake.consultant("close,fork") as consultant:
        await consult(consultant, "OLD-CONTEXT\n@fake say before")
        old = consultant.codex_session
        async with anyio.create_task_group() as tg:
            tg.start_soon(consultant.consult, "@fake sleep 30")  # running; a cancel ends it at once
            await anyio.wait_all_tasks_blocked()

            async def queued() -> None:
                answers.append(await consult(consultant, "@fake recall"))

            tg.start_soon(queued)
            await anyio.wait_all_tasks_blocked()
            assert consultant.queue_length == 1
            replaced = await (consultant.reset() if how == "reset" else consultant.fork())
        (answer,) = answers
        new = consultant.codex_session
    assert new not in (None, old)
    assert answer.session_id == new  # not the old session
    if how == "reset":
        assert replaced is not None
        assert answer.text.startswith("recall: 0 earlier prompt(s)")  # nothing of the old context
        closed = fake.received("session/close")
        assert [m["params"]["sessionId"] for m in closed] == [old]
    else:
        assert replaced == new
        assert "first: OLD-CONTEXT" in answer.text  # the fork carries the context, by design


# -- a bug in one turn fails that turn only ------------------------------------------------------------


async def test_a_bug_in_one_turn_fails_that_call_and_the_next_works(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mcp import Client

    real = Turn.prompt_ended
    broken = [True]

    def prompt_ended(self: Turn, result: object) -> str | None:
        if broken.pop() if broken else False:
            raise IllegalTransition(TurnState.DONE, Event.END)  # as a bug in the state machine would
        return real(self, result)  # type: ignore[arg-type]

    monkeypatch.setattr(Turn, "prompt_ended", prompt_ended)
    async with Client(fake.server()) as client:
        with anyio.fail_after(20):
            failed = await client.call_tool("consult", {"question": "@fake say lost"})
            status = await client.call_tool("status", {})
            after = await client.call_tool("consult", {"question": "@fake say next"})
    text = failed.content[0].text  # type: ignore[union-attr]
    assert failed.is_error
    assert "codex-fusion failed during this turn (IllegalTransition: a done turn cannot take" in text
    assert "ask again, or call `status`" in text
    assert "last error: codex-fusion failed during this turn" in status.content[0].text  # type: ignore[union-attr]
    assert after.is_error is False
    assert after.content[0].text.startswith("next")  # type: ignore[union-attr]
    (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert record.exc_info is not None  # logged with its traceback


async def test_a_turn_stopped_by_the_request_cap_while_paused_gets_session_cancel(
    fake: FakeAgentSetup,
) -> None:
    """Nobody waits on a paused turn; when Codex's 21st request stops it, Codex must still be told."""
    commands = "|".join(f"echo {i}" for i in range(client.MAX_ASKS_PER_TURN + 1))
    async with fake.consultant() as consultant:
        paused = await consultant.consult(f"@fake permit execute ts {commands}")
        assert isinstance(paused, Pause)
        with anyio.fail_after(10):  # a hang detector: nobody calls wait() on this turn
            while not fake.received("session/cancel"):
                await anyio.sleep(0.02)
            while consultant.current_turn is not None:
                await anyio.sleep(0.02)
        capped = await consultant.permit("allow")  # the ended turn is handed to the next permit
    assert isinstance(capped, TurnOutcome)
    assert capped.stop_reason == "cancelled"
    assert any(note.kind is NoteKind.CAPPED for note in capped.notes)


async def test_a_consult_that_gives_up_stepping_aside_never_lets_another_in_during_a_reset(
    fake: FakeAgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consult admitted just before a reset steps aside for it; when it gives up waiting (its idle
    limit), the slot it handed to the reset must stay the reset's: a consult asked meanwhile is
    admitted only once the session is replaced."""
    from codex_fusion.errors import ConsultError
    from codex_fusion.member.session import Session

    events: list[str] = []
    real_ensure, real_reset = Session.ensure, Session.reset
    armed = False
    reset_began, first_gave_up, later_asked = anyio.Event(), anyio.Event(), anyio.Event()

    async def ensure(self: Session) -> object:
        if armed and not reset_began.is_set():
            reset_began.set()
            with anyio.fail_after(10):  # the first consult is admitted; a reset asks for the slot
                while not consultant._runner.exclusive_waiting:
                    await anyio.sleep(0.01)
        return await real_ensure(self)

    async def reset(self: Session) -> str | None:
        events.append("reset begins")
        await first_gave_up.wait()
        await later_asked.wait()
        await anyio.sleep(0.3)  # time enough for the later consult to be let in, if it could be
        closed = await real_reset(self)
        events.append("reset ends")
        return closed

    monkeypatch.setattr(Session, "ensure", ensure)
    monkeypatch.setattr(Session, "reset", reset)
    async with fake.consultant("close") as consultant:
        await consult(consultant, "@fake say warm")
        armed = True  # ensure waits for the reset from now on
        async with anyio.create_task_group() as tg:

            async def first() -> None:
                with pytest.raises(ConsultError, match="waited"):
                    await consultant.consult("@fake say first", timeout=0.2)  # steps aside, gives up
                events.append("first gave up")
                first_gave_up.set()

            async def later() -> None:
                await first_gave_up.wait()
                later_asked.set()
                await consult(consultant, "@fake say later")
                events.append("later answered")

            tg.start_soon(first)
            tg.start_soon(later)
            await reset_began.wait()  # the first consult is in its ensure, holding the slot
            tg.start_soon(consultant.reset)
    assert events.index("later answered") > events.index("reset ends"), events
