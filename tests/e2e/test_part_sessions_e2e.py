"""A review in parts as extra sessions of the one running codex-acp (ADR 0032), with both adapters.

Codex is started and its session opened (the server's warm-up); the parts then open a session each on
that same process and run their turns at once: the mock model answers none of them until every part's
request is in flight (``MockResponses(together=N)``). Every planted flaw is found, no other agent is
started, each part's session is closed, and Codex's own session answers afterwards. A review
cancelled while the parts wait on the model stops every part's turn (Codex drops each model request)
and keeps the one agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from fusion_fixtures import anyio_backend, fusion
from mock_openai import FLAW, MockResponses, plant_review

from codex_fusion.acp.agent import StartOptions, spawn_process
from codex_fusion.acp.process import AgentHost
from codex_fusion.launch.config import Config
from codex_fusion.member.conversation import Member
from codex_fusion.member.turn import TurnOutcome
from codex_fusion.review import parts as shards
from codex_fusion.review.diffs import DiffRequest, collect_diff

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend", "fusion"]  # fixtures, used by name

BUDGET = 8_000
FILES = 8


@pytest.fixture
def mock_model() -> Iterator[MockResponses]:
    """The honest reviewer (``together`` is set once the parts are known)."""
    with MockResponses(reviewer=True) as mock:
        yield mock


async def test_the_parts_run_at_once_as_sessions_of_the_one_running_codex(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path
) -> None:
    planted = plant_review(workspace, FILES, 2_000)
    config = fusion(CODEX_FUSION_MAX_ANSWER_CHARS=str(BUDGET))
    started: list[StartOptions] = []

    async def spawn(options: StartOptions) -> AgentHost:
        started.append(options)
        return await spawn_process(options)

    async with Member(config, spawn=spawn) as codex:
        await codex.warm()
        assert codex.last_error is None, codex.last_error
        assert codex.session is not None
        agent, own = codex.session.agent, codex.codex_session
        assert agent is not None
        material = await collect_diff(workspace, DiffRequest(), max_chars=BUDGET * shards.MAX_SHARDS)
        parts = shards.plan(material, BUDGET)
        assert parts is not None
        assert len(parts) > 1
        mock_model.together = len(parts)  # no part is answered until every part's request is in
        host = shards.host_of(codex)
        assert host is codex.session
        reviews = await shards.review(
            config,
            codex.member,
            parts,
            None,
            spawn=codex.spawn,
            request_ids=codex.request_ids,
            host=host,
            timeout=120,
        )
        assert [r.error for r in reviews] == [None] * len(parts)
        assert mock_model.gathered is True  # every part's turn was in flight at once, on one process
        merged = shards.merge(reviews, "Codex", 0.0)
        assert set(FLAW.findall(merged.text)) == set(planted.values())
        sessions = {r.outcome.session_id for r in reviews if r.outcome is not None}
        assert len(sessions) == len(parts)
        assert own not in sessions
        assert len(started) == 1  # Codex's own agent: the parts started none
        assert codex.session.agent is agent
        assert agent.alive
        after = await codex.consult("Anything else?", timeout=120)
        assert isinstance(after, TurnOutcome)
        assert after.session_id == own


async def test_a_cancelled_review_stops_every_part_and_keeps_the_running_codex(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path
) -> None:
    plant_review(workspace, FILES, 2_000)
    config = fusion(CODEX_FUSION_MAX_ANSWER_CHARS=str(BUDGET))
    started: list[StartOptions] = []

    async def spawn(options: StartOptions) -> AgentHost:
        started.append(options)
        return await spawn_process(options)

    async with Member(config, spawn=spawn) as codex:
        await codex.warm()
        assert codex.last_error is None, codex.last_error
        assert codex.session is not None
        agent, own = codex.session.agent, codex.codex_session
        assert agent is not None
        material = await collect_diff(workspace, DiffRequest(), max_chars=BUDGET * shards.MAX_SHARDS)
        parts = shards.plan(material, BUDGET)
        assert parts is not None
        mock_model.latency = 600.0  # no part is answered: the review is cancelled while they wait

        async def review() -> None:
            await shards.review(
                config,
                codex.member,
                parts,
                None,
                spawn=codex.spawn,
                request_ids=codex.request_ids,
                host=shards.host_of(codex),
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(review)
            with anyio.fail_after(120):
                while len(mock_model.turn_requests) < len(parts):
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        # Codex gave up every part's model request: each part's turn really stopped
        with anyio.fail_after(60):
            while not all(r.aborted for r in mock_model.turn_requests):
                await anyio.sleep(0.05)
        mock_model.latency = 0.0
        assert len(started) == 1
        assert codex.session.agent is agent
        assert agent.alive
        after = await codex.consult("Anything else?", timeout=120)
        assert isinstance(after, TurnOutcome)
        assert after.session_id == own
