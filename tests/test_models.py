"""Model and effort: the choice, applied over ACP config options and verified (the fake agent in memory)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from codex_fusion.errors import ModelError
from codex_fusion.launch.models import ModelChoice, Offer, Selected, answered, check, reported_model

from .conftest import FakeAgentSetup
from .results import text_of

pytestmark = pytest.mark.anyio

#: session/new's configOptions as the TypeScript codex-acp 2.6.0 sends them (trimmed).
TS_OPTIONS: list[dict[str, Any]] = [
    {"id": "mode", "category": "mode", "type": "select", "currentValue": "read-only", "options": []},
    {
        "id": "model",
        "category": "model",
        "type": "select",
        "currentValue": "gpt-5.5",
        "options": [{"value": "gpt-6-luna", "name": "6 Luna"}, {"value": "gpt-5.5", "name": "5.5"}],
    },
    {
        "id": "reasoning_effort",
        "category": "thought_level",
        "type": "select",
        "currentValue": "medium",
        "options": [{"value": v, "name": v.title()} for v in ("low", "medium", "high", "xhigh")],
    },
    {"id": "fast-mode", "category": "model_config", "type": "select", "currentValue": "off", "options": []},
]


def config_sets(fake: FakeAgentSetup) -> list[tuple[str, str]]:
    return [
        (m["params"]["configId"], m["params"]["value"]) for m in fake.received("session/set_config_option")
    ]


def test_the_offer_is_read_from_the_config_options_by_category() -> None:
    offer = Offer.parse(TS_OPTIONS)
    assert offer.model is not None
    assert offer.model.values == ("gpt-6-luna", "gpt-5.5")
    assert offer.effort is not None
    assert offer.effort.id == "reasoning_effort"
    assert offer.current == Selected("gpt-5.5", "medium")
    assert check(offer, ModelChoice("6 luna", None)) == "gpt-6-luna"  # display names, any case
    with pytest.raises(
        ModelError, match=r"does not offer the model 'gpt-9'.*It offers: gpt-6-luna, gpt-5\.5"
    ):
        check(offer, ModelChoice("gpt-9", None, "the `model` argument"))


def test_the_model_an_agent_runs_counts_as_offered_though_its_list_omits_it() -> None:
    """A Gemini CLI started with --model reports that model as current but lists only its catalogue:
    keeping it is not an error; asking for another unlisted one is, under the member's name."""
    gemini = [
        {
            "id": "model",
            "category": "model",
            "type": "select",
            "currentValue": "gemini-mock-9",
            "options": [{"value": "auto", "name": "Auto"}, {"value": "gemini-3.5-flash", "name": "Flash"}],
        }
    ]
    offer = Offer.parse(gemini)
    assert (
        check(offer, ModelChoice("gemini-mock-9", None, "the agent's default"), "Gemini") == "gemini-mock-9"
    )
    with pytest.raises(ModelError, match=r"^Gemini does not offer the model 'gemini-9'"):
        check(offer, ModelChoice("gemini-9", None), "Gemini")


def test_the_legacy_models_list_is_used_only_without_a_model_option() -> None:
    legacy = {"currentModelId": "a", "availableModels": [{"modelId": "a"}, {"modelId": "b"}]}
    assert Offer.parse([], legacy).current == Selected("a", None)
    assert Offer.parse(TS_OPTIONS, legacy).legacy is None


def test_the_footer_names_what_the_agent_reported() -> None:
    meta = {"quota": {"model_usage": [{"model": "gpt-5.5", "token_count": {}}]}}
    assert reported_model(meta) == "gpt-5.5"
    assert reported_model({"quota": {}}) is None
    ran = answered(Selected("gpt-5.5", "high"), "gpt-6-luna")
    assert ran is not None
    assert (ran.model, ran.setting, ran.effort) == ("gpt-6-luna", "gpt-5.5", "high")
    assert answered(Selected(), None) is None


async def test_without_a_choice_nothing_is_set_and_the_footer_names_the_agents_model(
    fake: FakeAgentSetup,
) -> None:
    async with Client(fake.server("models")) as client:
        text = text_of(await client.call_tool("consult", {"question": "@fake say hi"}))
    assert config_sets(fake) == []
    assert text.splitlines()[-1].startswith("— codex · m-small medium · ")


async def test_the_option_sets_the_model_and_the_environment_wins_over_it(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("models", CLAUDE_PLUGIN_OPTION_MODEL="m-large")) as client:
        text = text_of(await client.call_tool("consult", {"question": "@fake say hi"}))
    assert config_sets(fake) == [("model", "m-large")]
    assert "— codex · m-large medium · " in text
    fake.log.unlink()
    env = {
        "CLAUDE_PLUGIN_OPTION_MODEL": "m-large",
        "CODEX_FUSION_MODEL": "m-small",
        "CODEX_FUSION_EFFORT": "high",
    }
    async with Client(fake.server("models", **env)) as client:
        text = text_of(await client.call_tool("consult", {"question": "@fake say hi"}))
    assert config_sets(fake) == [("reasoning_effort", "high")]  # m-small is already selected
    assert "— codex · m-small high · " in text


async def test_a_per_call_override_applies_to_that_call_only(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("models", CODEX_FUSION_EFFORT="low")) as client:
        first = text_of(
            await client.call_tool(
                "consult", {"question": "@fake say a", "model": "m-large", "effort": "max"}
            )
        )
        reply = text_of(await client.call_tool("reply", {"message": "@fake say b"}))
        after = text_of(await client.call_tool("brainstorm", {"problem": "@fake say c"}))
    assert "— codex · m-large max · " in first
    assert "— codex · m-large max · " in reply  # a reply goes on with the debate's model
    assert "— codex · m-small low · " in after  # back to the configured default over the agent's
    assert config_sets(fake) == [
        ("model", "m-large"),
        ("reasoning_effort", "max"),
        ("model", "m-small"),
        ("reasoning_effort", "low"),
    ]


async def test_a_model_the_agent_does_not_offer_is_an_error_listing_its_offer_and_spends_no_turn(
    fake: FakeAgentSetup,
) -> None:
    async with Client(fake.server("models")) as client:
        bad_model = await client.call_tool("consult", {"question": "@fake say x", "model": "gpt-9"})
        bad_effort = await client.call_tool("consult", {"question": "@fake say x", "effort": "max"})
        good = text_of(await client.call_tool("consult", {"question": "@fake say fine"}))
    assert bad_model.is_error
    assert "does not offer the model 'gpt-9' (the `model`/`effort` argument)" in text_of(bad_model)
    assert "It offers: m-small, m-large" in text_of(bad_model)
    assert bad_effort.is_error
    assert "reasoning effort 'max'" in text_of(bad_effort)
    assert "It offers: low, medium, high" in text_of(bad_effort)
    assert "No turn was spent" in text_of(bad_effort)
    assert len(fake.received("session/prompt")) == 1  # only the good call
    assert config_sets(fake) == []
    assert good.startswith("fine")


async def test_a_configured_model_the_agent_lacks_says_where_it_was_set(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("models", CLAUDE_PLUGIN_OPTION_MODEL="gpt-9")) as client:
        result = await client.call_tool("consult", {"question": "@fake say x"})
    assert result.is_error
    assert "(set by the plugin option model)" in text_of(result)
    assert fake.received("session/prompt") == []


async def test_a_silent_fallback_to_another_model_shows_in_the_footer(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("models,answer_with=m-tiny")) as client:
        text = text_of(await client.call_tool("consult", {"question": "@fake say hi"}))
    assert "— codex · m-tiny (set: m-small) medium · " in text


async def test_the_legacy_models_list_selects_with_set_model(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("legacy_models", CODEX_FUSION_MODEL="m-large")) as client:
        text = text_of(await client.call_tool("consult", {"question": "@fake say hi"}))
    assert [m["params"]["modelId"] for m in fake.received("session/set_model")] == ["m-large"]
    assert "— codex · m-large · " in text


async def test_status_shows_the_reported_model_and_where_the_default_was_set(fake: FakeAgentSetup) -> None:
    async with Client(fake.server("models", CLAUDE_PLUGIN_OPTION_EFFORT="high")) as client:
        await client.call_tool("consult", {"question": "@fake say hi"})
        status = text_of(await client.call_tool("status", {}))
    assert "model: m-small · effort high (as Codex reports it) · configured: effort high " in status
    assert "(set by the plugin option effort)" in status
    assert "options: effort (option effort)" in status
