"""The pause answered by the person, through the host's own prompt (MCP form elicitation).

By default the host's model answers a pause with ``permit``. When the user chose the person
(``CODEX_FUSION_PAUSE_ASKS=person``) and the client declared form elicitation (Codex CLI does), a
call that ends paused shows the pause to the person as a form — allow, deny with a note, or cancel
— and goes on with their answer, as ``permit`` would; a form the person dismisses is a deny. The
text shown is the pause as the model would have read it (the request byte for byte, ADR 0011).
Without the choice or the capability nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

PAUSE_VARIABLE = "CODEX_FUSION_PAUSE_ASKS"
#: How a paused result begins (member/render.py's pause).
PAUSED = "⏸ "
#: A pause asked of the person at most this many times in one call (each answer may pause again).
MAX_ASKS = 20

Permit = Callable[..., Awaitable[str]]


class Decision(BaseModel):
    decision: Literal["allow", "deny", "cancel"] = Field(description="allow once, deny (it goes on), cancel")
    note: str = Field(default="", description="For the agent, with deny: why, or what to do instead.")


def wanted(settings: Mapping[str, str]) -> bool:
    return settings.get(PAUSE_VARIABLE, "").strip().lower() == "person"


def can_ask(ctx: Any) -> bool:
    """The client declared form elicitation (an empty ``elicitation`` object means form too) and this
    connection can send it a request (a 2025 handshake, as Codex CLI's; the 2026 protocol asks
    through an input-required result instead, not used here)."""
    session = getattr(getattr(ctx, "request_context", None), "session", None)
    capabilities = getattr(session, "client_capabilities", None)
    return getattr(capabilities, "elicitation", None) is not None and bool(
        getattr(session, "can_send_request", False)
    )


async def answer(ctx: Any, text: str, permit: Permit) -> str:
    """``text`` as it is, unless it is a pause: then the person's answer, and what came of it."""
    for _ in range(MAX_ASKS):
        if not text.startswith(PAUSED) or getattr(ctx, "detached", False):
            return text
        result = await ctx.elicit(text, Decision)
        data = result.data if result.action == "accept" else None
        decision, note = (data.decision, data.note) if isinstance(data, Decision) else ("deny", "")
        if data is None:
            note = "The person dismissed the request."
        log.info("the person answered a pause: %s", decision)
        text = await permit(ctx=ctx, decision=decision, note=note or None)
    return text


def asking(
    fn: Callable[..., Awaitable[str]], settings: Mapping[str, str], permit: Permit
) -> Callable[..., Awaitable[str]]:
    """``fn`` whose paused result is asked of the person, when they chose it and the client can."""

    async def call(*args: Any, **kwargs: Any) -> str:
        text = await fn(*args, **kwargs)
        ctx = kwargs.get("ctx")
        # A call already answered with a handle (``detached``) has nobody to ask: the model collects
        # the pause and answers it with `permit`.
        if not wanted(settings) or ctx is None or getattr(ctx, "detached", False) or not can_ask(ctx):
            return text
        return await answer(ctx, text, permit)

    return call
