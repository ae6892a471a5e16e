"""Which codex-acp really runs, and whether it got the boundary (confine.py): the handshake's word over
the command's path, a second start with the plan for what the agent said, the read-back, refusals, and
what ``status`` says. The agent runs in memory; the processes it "started" are stubbed where /proc would
be read. tests/e2e/test_boundary_e2e.py does the same with both real adapters behind a wrapper script."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from codex_fusion.acp.schema import Implementation, InitializeResult
from codex_fusion.errors import AgentError
from codex_fusion.launch import adapters, boundary
from codex_fusion.launch.confine import Confinement, Proc, said
from codex_fusion.member import render_status
from codex_fusion.member.conversation import Member
from codex_fusion.member.turn import TurnOutcome

from .conftest import FakeAgentSetup
from .memory_host import MemoryHost, memory_spawn

pytestmark = pytest.mark.anyio

RUST_BINARY = "/opt/codex-acp/bin/codex-acp"
TS_SCRIPT = "/opt/ts/node_modules/@agentclientprotocol/codex-acp/dist/index.js"


def detect(command: Sequence[str]) -> adapters.Launch:
    """What ``adapters.detect`` would find for the stubbed programs below."""
    if command and command[0] == RUST_BINARY:
        return adapters.Launch("rust", Path(RUST_BINARY), Path(RUST_BINARY))
    if len(command) > 1 and command[1] == TS_SCRIPT:
        return adapters.Launch("ts", Path("/opt/ts/codex"), Path("/opt/ts"))
    return adapters.Launch("unknown")


def consultant(fake: FakeAgentSetup, flags: str, processes: object = None, **extra: str) -> Member:
    """A Member whose agent runs in memory; ``processes(host)`` is what /proc would show below it."""
    config = fake.config(flags, **extra)
    assert config.launcher is not None

    def inspect(pid: int) -> list[Proc] | None:
        host = next(h for h in fake.hosts if h.pid == pid)
        return processes(host) if callable(processes) else None  # type: ignore[no-any-return]

    launcher = dataclasses.replace(config.launcher, detect=detect, inspect=inspect)
    codex = dataclasses.replace(config.members["codex"], launcher=launcher)
    return Member(config, member=codex, spawn=memory_spawn(fake.hosts))


def the_rust_binary(host: object, *, drop_arguments: bool = False) -> list[Proc]:
    argv = list(getattr(host, "argv", []))
    overrides = [] if drop_arguments else argv[2:]  # fake argv: python fake_agent.py [overrides…]
    return [Proc("/bin/sh", ("sh", "wrapper"), {}), Proc(RUST_BINARY, (RUST_BINARY, *overrides), {})]


def test_the_handshake_names_the_adapter() -> None:
    def info(name: str, version: str | None = "1") -> InitializeResult:
        return InitializeResult(agent_info=Implementation(name=name, version=version))

    assert said(info("codex-acp", "0.16.0")) == ("rust", "codex-acp 0.16.0")
    assert said(info("@agentclientprotocol/codex-acp", "2.6.0")) == (
        "ts",
        "@agentclientprotocol/codex-acp 2.6.0",
    )
    assert said(info("codex-acp-fork")) == ("unknown", "codex-acp-fork 1")
    assert said(InitializeResult()) == ("unknown", "an agent that gave no name")


async def test_an_agent_that_does_not_say_it_is_codex_acp_runs_with_the_plain_note(
    fake: FakeAgentSetup,
) -> None:
    async with consultant(fake, "") as c:
        outcome = await c.consult("@fake say hi")
        state = c.status()
    assert isinstance(outcome, TurnOutcome)
    assert isinstance(state.confinement, Confinement)
    assert not state.confinement.enforced
    text = render_status.status(state)
    assert "boundary: Codex can read outside the workspace with this agent" in text
    assert "boundary check: fake-acp 9.9.9: the agent does not say it is codex-acp" in text


async def test_a_wrapped_rust_adapter_is_started_again_with_its_overrides(fake: FakeAgentSetup) -> None:
    async with consultant(fake, "name=codex-acp,agent_version=0.16.0", the_rust_binary) as c:
        outcome = await c.consult("@fake say hi")
        state = c.status()
    assert isinstance(outcome, TurnOutcome)
    assert outcome.text == "hi"
    first, second = fake.hosts
    overrides = second.argv[len(first.argv) :]
    assert overrides[:2] == ["-c", overrides[1]]
    parsed = dict(pair.split("=", 1) for pair in overrides[1::2])
    profile = json.loads(parsed["default_permissions"])
    assert profile.startswith("codex-fusion-")
    assert "projects" in parsed
    assert second.options.env["INITIAL_AGENT_MODE"] == f"permission-profile:{profile}"
    assert "OPENAI_API_KEY" not in first.options.env  # the unrecognised first start gets no key either
    assert state.confinement is not None
    assert state.confinement.enforced
    assert state.confinement.relaunched
    text = render_status.status(state)
    assert "boundary: enforced — Codex's sandbox reads the workspace" in text
    assert f"(profile {profile})" in text
    assert (
        "boundary check: codex-acp 0.16.0, started again once it said what it is: read back from the running "
        "codex-acp's command line" in text
    )
    assert len(fake.received("initialize")) == 2
    assert f"agent mode: permission-profile:{profile}" in text  # the running agent's, not the first plan's


async def test_an_untested_release_is_said_in_the_check(fake: FakeAgentSetup) -> None:
    async with consultant(fake, "name=codex-acp,agent_version=0.99.0", the_rust_binary) as c:
        await c.consult("@fake say hi")
        state = c.status()
    assert state.confinement is not None
    assert "codex-fusion's tests cover codex-acp 0.16.x, this one is 0.99.0" in state.confinement.evidence


async def test_a_wrapper_that_drops_the_overrides_is_refused(fake: FakeAgentSetup) -> None:
    def dropped(host: object) -> list[Proc]:
        return the_rust_binary(host, drop_arguments=True)

    async with consultant(fake, "name=codex-acp", dropped) as c:
        with pytest.raises(AgentError, match="codex-fusion refused to start the agent") as refused:
            await c.consult("@fake say hi")
    assert "did not get codex-fusion's settings in its command line" in str(refused.value)
    assert "a wrapper must pass its arguments and environment through" in str(refused.value)
    assert fake.received("session/new") == []


async def test_a_credential_in_what_the_agent_says_it_is_is_redacted_in_the_refusal(
    fake: FakeAgentSetup,
) -> None:
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
    async with consultant(fake, f"name=codex-acp,agent_version={token}") as c:
        with pytest.raises(AgentError, match="says it is codex-acp") as refused:
            await c.consult("@fake say hi")
    assert token not in str(refused.value)
    assert "[redacted]" in str(refused.value)


async def test_an_agent_that_says_codex_acp_but_cannot_be_found_is_refused(fake: FakeAgentSetup) -> None:
    async with consultant(fake, "name=codex-acp") as c:  # no processes to read: nothing is found
        with pytest.raises(AgentError, match="its program cannot be found among the processes it started"):
            await c.consult("@fake say hi")
    assert len(fake.received("initialize")) == 1
    assert fake.received("session/new") == []


async def test_the_typescript_adapter_must_offer_the_profile_only_the_relay_knows(
    fake: FakeAgentSetup,
) -> None:
    def typescript(host: MemoryHost) -> list[Proc]:
        env = dict(host.options.env)
        return [Proc("/usr/bin/node", ("node", TS_SCRIPT), env)]

    flags = "name=@agentclientprotocol/codex-acp,agent_version=2.6.0,modes"  # modes without the profile
    async with consultant(fake, flags, typescript) as c:
        with pytest.raises(
            AgentError, match="does not offer its permission profile 'permission-profile:codex-fusion-"
        ):
            await c.consult("@fake say hi")
    assert len(fake.received("initialize")) == 2  # started again with the shim and the relay's instructions
    assert boundary.RELAY_SPEC in fake.hosts[1].options.env
    assert fake.received("session/set_mode") == []
    assert fake.received("session/prompt") == []
