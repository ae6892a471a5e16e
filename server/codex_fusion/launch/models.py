"""Which model and reasoning effort Codex answers with: the choice, the agent's offer, and the check.

A :class:`ModelChoice` is what someone asked for (a member's default from the options, a per-call
override). :class:`Offer` is what the agent says it offers and has selected, read from its own
report: the ACP session config options (category ``model`` and ``thought_level``; both codex-acp
adapters name them ``model`` and ``reasoning_effort``), or the legacy ``models`` list. :func:`select`
sets what differs (``session/set_config_option``, model first: a new model resets the effort) and
checks each value against the offer first — the Rust adapter accepts any model id silently — so a
model the agent does not offer is a :class:`~codex_fusion.errors.ModelError` listing what it does,
before any turn is spent. :func:`answered` names the model that actually answered: the agent's
per-prompt report where it gives one (TypeScript: ``_meta.quota.model_usage``), else the setting
the agent reported after the last change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from codex_fusion.errors import ModelError, RpcError

log = logging.getLogger(__name__)

_MODEL_IDS = ("model",)
_EFFORT_IDS = ("reasoning_effort", "thought_level", "effort")


@dataclass(frozen=True)
class ModelChoice:
    """A model and effort someone asked for; ``None`` leaves that one to whoever comes next."""

    model: str | None = None
    effort: str | None = None
    #: Where the choice came from, for error messages: "the `model` argument", "option model", …
    origin: str = "this call"
    #: Where the effort came from, when not from ``origin`` (one source per value).
    effort_from: str | None = None

    @classmethod
    def of(
        cls, model: str | None, effort: str | None, origin: str, effort_from: str | None = None
    ) -> ModelChoice:
        """A choice from user input: blank means unset; an absurdly long name is refused."""
        for value in (model, effort):
            if value is not None and len(value) > 200:
                raise ModelError(f"A model or effort name of {len(value)} characters ({origin}): pass an id.")
        return cls((model or "").strip() or None, (effort or "").strip() or None, origin, effort_from)

    @property
    def effort_origin(self) -> str:
        """Where the effort came from."""
        return self.effort_from or self.origin

    def over(self, fallback: ModelChoice) -> ModelChoice:
        """This choice where it says something, ``fallback`` elsewhere (a call over a member default)."""
        if self.model is None and self.effort is None:
            return fallback
        return ModelChoice(
            self.model or fallback.model,
            self.effort or fallback.effort,
            self.origin if self.model or not fallback.model else fallback.origin,
            self.effort_origin if self.effort or not fallback.effort else fallback.effort_origin,
        )

    @property
    def empty(self) -> bool:
        return self.model is None and self.effort is None


@dataclass(frozen=True)
class Select:
    """One select-type config option as the agent reports it."""

    id: str
    current: str | None
    values: tuple[str, ...]
    names: Mapping[str, str]  # value -> display name

    def match(self, wanted: str) -> str | None:
        """The offered value ``wanted`` names (its value or display name, any case)."""
        if wanted in self.values:
            return wanted
        lowered = wanted.lower()
        for value in self.values:
            if value.lower() == lowered or self.names.get(value, "").lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class Offer:
    """What the agent offers for one session, and what it has selected now."""

    model: Select | None = None
    effort: Select | None = None
    #: The legacy ``models`` field: ``session/set_model`` ids, when there is no model config option.
    legacy: Select | None = None

    @classmethod
    def parse(cls, config_options: Sequence[Any] | None, models: Any = None) -> Offer:
        model = effort = None
        for option in config_options or ():
            if not isinstance(option, dict) or option.get("type", "select") != "select":
                continue
            ident, category = option.get("id"), option.get("category")
            parsed = _select(option)
            if parsed is None:
                continue
            if model is None and (category == "model" or ident in _MODEL_IDS):
                model = parsed
            elif effort is None and (category == "thought_level" or ident in _EFFORT_IDS):
                effort = parsed
        legacy = _legacy(models) if model is None else None
        return cls(model, effort, legacy)

    @property
    def current(self) -> Selected:
        model = self.model or self.legacy
        return Selected(
            model.current if model is not None else None,
            self.effort.current if self.effort is not None else None,
        )


@dataclass(frozen=True)
class Selected:
    """The model and effort the agent reports as selected (``None``: it does not say)."""

    model: str | None = None
    effort: str | None = None
    #: Whether ``model`` names the model that should answer, so a report of another one is a fallback
    #: worth saying. Not for a member given its model at launch whose configuration names none: its
    #: agent's setting is then a placeholder (claude-agent-acp's ``default``), not a model id.
    compared: bool = True

    @classmethod
    def launched(cls, reported: Selected, configured: str | None) -> Selected:
        """What a member given its model at launch answers with: the configured model, compared with
        what the agent reports answering; with none configured, the agent's own setting, not compared."""
        if configured is None:
            return cls(reported.model, reported.effort, compared=False)
        return cls(configured, reported.effort)


class _Caller(Protocol):
    async def call(self, method: str, params: Any, *, timeout: float | None = None) -> Any: ...


def _select(option: Mapping[str, Any]) -> Select | None:
    values: list[str] = []
    names: dict[str, str] = {}

    def walk(items: Any) -> None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            value = item.get("value")
            if isinstance(value, str):
                values.append(value)
                if isinstance(item.get("name"), str):
                    names[value] = item["name"]
            walk(item.get("options"))

    walk(option.get("options"))
    ident = option.get("id")
    if not isinstance(ident, str) or not values:
        return None
    current = option.get("currentValue")
    return Select(ident, current if isinstance(current, str) else None, tuple(values), names)


def _legacy(models: Any) -> Select | None:
    if not isinstance(models, dict):
        return None
    available = models.get("availableModels")
    ids = [m.get("modelId") for m in available if isinstance(m, dict)] if isinstance(available, list) else []
    values = tuple(ident for ident in ids if isinstance(ident, str))
    if not values:
        return None
    current = models.get("currentModelId")
    return Select("", current if isinstance(current, str) else None, values, {})


def _offered(select: Select, limit: int = 30) -> str:
    shown = ", ".join(select.values[:limit])
    return shown + (f" and {len(select.values) - limit} more" if len(select.values) > limit else "")


def check(offer: Offer, wanted: ModelChoice, who: str = "Codex") -> str | None:
    """The offered model value ``wanted.model`` names (None: no model asked for), or a ModelError
    listing what the agent (``who``) offers. The model the agent has selected counts as offered even
    when its list leaves it out (an agent started with a model its list does not name, like a
    Gemini CLI given ``--model``)."""
    if wanted.model is None:
        return None
    target = offer.model or offer.legacy
    if target is not None and target.current is not None and wanted.model == target.current:
        return target.current
    if target is None:
        raise ModelError(
            f"{who} offers no model selection, so the model {wanted.model!r} ({wanted.origin}) cannot "
            "be applied. Leave the model unset. No turn was spent."
        )
    model = target.match(wanted.model)
    if model is None:
        raise ModelError(
            f"{who} does not offer the model {wanted.model!r} ({wanted.origin}). It offers: "
            f"{_offered(target)}. Pass one of them, or leave it unset for the default "
            f"({target.current or 'the agent decides'}). No turn was spent."
        )
    return model


def _effort(offer: Offer, wanted: ModelChoice, who: str) -> str:
    """The offered effort value ``wanted.effort`` names, for the model now selected (the selected
    one counts as offered, as for models)."""
    model = offer.current.model or "this model"
    if offer.effort is not None and wanted.effort is not None and wanted.effort == offer.effort.current:
        return wanted.effort
    if offer.effort is None:
        raise ModelError(
            f"{who} offers no reasoning effort for {model}, so the effort {wanted.effort!r} "
            f"({wanted.effort_origin}) cannot be applied. Leave it unset. No turn was spent."
        )
    effort = offer.effort.match(wanted.effort or "")
    if effort is None:
        raise ModelError(
            f"{who} does not offer the reasoning effort {wanted.effort!r} ({wanted.effort_origin}) for "
            f"{model}. It offers: {_offered(offer.effort)}. Pass one of them, or leave it unset. "
            "No turn was spent."
        )
    return effort


async def select(
    agent: _Caller, session_id: str, offer: Offer, wanted: ModelChoice, *, timeout: float, who: str = "Codex"
) -> Offer:
    """Make the session use ``wanted``, checked against ``offer`` first; returns the offer as the
    agent reports it afterwards. Only what differs from the current selection is sent; the model
    goes first, since a new model resets the effort (both adapters) and may offer other efforts."""
    model = check(offer, wanted, who)
    changing = model is not None and model != offer.current.model
    if wanted.effort is not None and not changing:
        _effort(offer, wanted, who)  # refuse before anything changes
    if changing:
        assert model is not None
        offer = await _set(agent, session_id, offer, offer.model or offer.legacy, model, timeout)
    if wanted.effort is not None:
        effort = _effort(offer, wanted, who)
        if offer.effort is not None and effort != offer.effort.current:
            offer = await _set(agent, session_id, offer, offer.effort, effort, timeout)
    return offer


async def _set(
    agent: _Caller, session_id: str, offer: Offer, target: Select | None, value: str, timeout: float
) -> Offer:
    assert target is not None
    try:
        if target is offer.legacy:
            await agent.call(
                "session/set_model", {"sessionId": session_id, "modelId": value}, timeout=timeout
            )
            legacy = Select("", value, target.values, target.names)
            return Offer(offer.model, offer.effort, legacy)
        option = {"sessionId": session_id, "configId": target.id, "value": value}
        raw = await agent.call("session/set_config_option", option, timeout=timeout)
    except RpcError as exc:
        raise ModelError(
            f"Codex refused to switch {target.id or 'model'} to {value!r}: {exc.describe()} "
            f"(code {exc.code}). No turn was spent."
        ) from None
    options = raw.get("configOptions") if isinstance(raw, dict) else None
    updated = Offer.parse(options) if isinstance(options, list) else None
    if updated is None or (updated.model is None and updated.effort is None):
        # An agent that does not answer with the options: trust the call, as far as it goes.
        log.info("set_config_option %s gave no configOptions back", target.id)
        changed = Select(target.id, value, target.values, target.names)
        return Offer(
            changed if target is offer.model else offer.model,
            changed if target is offer.effort else offer.effort,
            offer.legacy,
        )
    return Offer(updated.model, updated.effort, offer.legacy)


def reported_model(meta: Any) -> str | None:
    """The model the agent says answered a prompt: the last of ``_meta.quota.model_usage``
    (TypeScript codex-acp), else None."""
    quota = meta.get("quota") if isinstance(meta, dict) else None
    usage = quota.get("model_usage") if isinstance(quota, dict) else None
    if isinstance(usage, list):
        for entry in reversed(usage):
            if isinstance(entry, dict) and isinstance(entry.get("model"), str) and entry["model"]:
                return str(entry["model"])
    return None


@dataclass(frozen=True)
class Answered:
    """The model and effort a turn ran on, as the agent reported them, for the footer."""

    model: str | None
    effort: str | None
    #: The model the per-prompt report names, when it differs from the setting (a silent fallback).
    setting: str | None = None


def answered(selected: Selected, reported: str | None) -> Answered | None:
    """What the footer says: the per-prompt report wins over the setting."""
    if reported is None and selected.model is None and selected.effort is None:
        return None
    if (
        reported is not None
        and selected.compared
        and selected.model is not None
        and reported != selected.model
    ):
        return Answered(reported, selected.effort, setting=selected.model)
    return Answered(reported or selected.model, selected.effort)
