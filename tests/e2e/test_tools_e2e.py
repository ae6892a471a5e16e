"""The consultation toolset against the real codex-acp adapters and the scripted mock model."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_adapters import Adapter
from fusion_fixtures import anyio_backend, fusion
from mcp import Client
from mock_openai import MockResponses, say
from tests.results import text_of

from codex_fusion.launch.config import Config
from codex_fusion.mcp.server import build_server
from codex_fusion.text import prompts

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend", "fusion"]  # fixtures, used by name


def developer_text(mock: MockResponses, turn: int) -> str:
    """The developer messages of a model request (Codex's own instructions, and the TS adapter's
    session system prompt)."""
    items = mock.turn_requests[turn].input_items()
    return "\n".join(
        str(part.get("text", ""))
        for item in items
        if item.get("role") == "developer"
        for part in item.get("content") or []
        if isinstance(part, dict)
    )


async def test_a_debate_on_the_real_adapter_sets_its_frame_once_where_it_can(
    fusion: Callable[..., Config], mock_model: MockResponses, adapter: Adapter
) -> None:
    mock_model.script(
        [say("Use a lock.\nVERDICT: OPEN — locks vs queues"), say("VERDICT: CONSENSUS — queue")]
    )
    async with Client(build_server(fusion())) as client:
        first = text_of(await client.call_tool("consult", {"question": "QUESTION-MARK: queue or lock?"}))
        second = text_of(await client.call_tool("reply", {"message": "REPLY-MARK: a queue bounds memory."}))
    # the model and effort as the adapter reports them (MOCK_MODEL in the mock's config.toml)
    assert first.splitlines()[-1].startswith(
        "— codex · gpt-5.5 medium · round 1/3 · verdict: open — locks vs queues · "
    )
    assert second.splitlines()[-1].startswith(
        "— codex · gpt-5.5 medium · round 2/3 · verdict: consensus — queue · "
    )
    user = "\n".join(mock_model.turn_requests[1].user_texts())
    assert "QUESTION-MARK" in user
    assert "REPLY-MARK" in user
    if adapter.name == "ts":  # sessionCapabilities.systemPrompt: a developer message, set once
        assert prompts.DEBATE in developer_text(mock_model, 0)
        assert prompts.ROLE not in user
    else:  # no system prompt capability: the frame goes with the session's first prompt only
        assert user.count(prompts.ROLE) == 1
        assert user.count(prompts.DEBATE) == 1
        assert prompts.DEBATE not in developer_text(mock_model, 0)


async def test_review_diff_hands_codex_the_diff_without_a_pause(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path
) -> None:
    (workspace / "src" / "app.py").write_text("def main():\n    print('hello, world')\n")
    (workspace / "NOTES.md").write_text("untracked notes\n")
    mock_model.script([say("No real issues.\nVERDICT: CONSENSUS — ship it")])
    async with Client(build_server(fusion())) as client:
        result = await client.call_tool("review_diff", {"focus": "the greeting"})
    text = text_of(result)
    assert result.is_error is False, text
    assert text.startswith("No real issues."), text  # an answer, not a pause for `git diff`
    sent = mock_model.turn_requests[0].input_text()
    assert "+    print('hello, world')" in sent
    assert "+untracked notes" in sent
    assert "round 1/3 · verdict: consensus — ship it" in text.splitlines()[-1]


async def test_reset_gives_the_real_codex_a_fresh_session(
    fusion: Callable[..., Config], mock_model: MockResponses
) -> None:
    mock_model.script([say("First."), say("Second.")])
    async with Client(build_server(fusion())) as client:
        await client.call_tool("consult", {"question": "BEFORE-RESET"})
        report = text_of(await client.call_tool("reset", {}))
        after = await client.call_tool("consult", {"question": "AFTER-RESET"})
    assert report.startswith("Dropped Codex's session ")
    assert text_of(after).startswith("Second.")
    history = mock_model.turn_requests[-1].input_text()
    assert "AFTER-RESET" in history
    assert "BEFORE-RESET" not in history


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }


async def test_review_diff_against_a_base_branch(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path, git_env: dict[str, str]
) -> None:
    def git(*args: str) -> None:
        env = {**git_env, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "e", "GIT_COMMITTER_NAME": "e"}
        env |= {"GIT_AUTHOR_EMAIL": "e@example.invalid", "GIT_COMMITTER_EMAIL": "e@example.invalid"}
        subprocess.run(["git", *args], cwd=workspace, env=env, check=True, capture_output=True)

    git("branch", "-M", "main")
    git("checkout", "-q", "-b", "feature")
    (workspace / "src" / "app.py").write_text("def main():\n    print('feature')\n")
    git("commit", "-q", "-am", "feature work")
    mock_model.script([say("VERDICT: OPEN — the print")])
    async with Client(build_server(fusion())) as client:
        result = await client.call_tool("review_diff", {"base": "main"})
    assert result.is_error is False, text_of(result)
    sent = mock_model.turn_requests[0].input_text()
    assert "+    print('feature')" in sent
    assert "the merge base" in sent
    assert "of main and HEAD" in sent


async def test_the_model_asked_for_is_the_model_the_mock_receives_and_an_unknown_one_is_refused(
    fusion: Callable[..., Config], mock_model: MockResponses, adapter: Adapter
) -> None:
    other = {"ts": "gpt-6-luna", "rust": "gpt-5.4"}[adapter.name]  # offered, and not the default
    mock_model.script([say("MODEL-ANSWER\nVERDICT: CONSENSUS — ok")])
    async with Client(build_server(fusion(CODEX_FUSION_EFFORT="high"))) as client:
        refused = await client.call_tool("consult", {"question": "Which?", "model": "gpt-9-nonexistent"})
        answered = text_of(await client.call_tool("consult", {"question": "Which?", "model": other}))
    assert refused.is_error
    assert "does not offer the model 'gpt-9-nonexistent'" in text_of(refused)
    assert "gpt-5.5" in text_of(refused)  # the list of what it offers (the Rust adapter accepts any id)
    [request] = mock_model.turn_requests  # the refused call spent no turn
    assert request.body["model"] == other
    assert request.body["reasoning"]["effort"] == "high"
    assert answered.splitlines()[-1].startswith(f"— codex · {other} high · round 1/3 · ")
