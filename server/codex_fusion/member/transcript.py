"""What Codex streamed during a turn: text, thoughts, tool activity, plan and usage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from codex_fusion.acp.schema import ContentChunk, PlanUpdate, SessionUpdate, ToolCallInfo, UsageUpdate
from codex_fusion.member.signal import Changes


@dataclass
class Usage:
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    context_used: int | None = None
    context_size: int | None = None
    cached_tokens: int | None = None  # input tokens read from the provider's cache
    cost: float | None = None  # what the agent reported this turn cost (usage_update ``cost``)
    currency: str | None = None

    def merge_prompt_usage(self, raw: dict[str, Any] | None) -> None:
        if not raw:
            return
        for attr, key in (
            ("total_tokens", "totalTokens"),
            ("input_tokens", "inputTokens"),
            ("output_tokens", "outputTokens"),
            ("cached_tokens", "cachedReadTokens"),
        ):
            value = raw.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, attr, value)

    @property
    def tokens(self) -> int | None:
        """Best single number for "tokens this turn": the prompt total, else context in use."""
        return self.total_tokens if self.total_tokens is not None else self.context_used


@dataclass
class ToolActivity:
    tool_call_id: str
    title: str = ""
    kind: str = "other"
    status: str = "pending"
    fields: dict[str, Any] = field(default_factory=dict)

    def merge(self, update: ToolCallInfo) -> None:
        if update.title is not None:
            self.title = update.title
        if update.kind is not None:
            self.kind = update.kind
        if update.status is not None:
            self.status = update.status
        self.fields.update(update.wire())


@dataclass
class Transcript:
    """Everything Codex streamed during a turn."""

    text_parts: list[str] = field(default_factory=list)
    thought_parts: list[str] = field(default_factory=list)
    tools: dict[str, ToolActivity] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    updates: int = 0
    unknown_updates: int = 0
    notice: str | None = None  # the agent's latest error status, e.g. "Reconnecting… waiting for network"
    #: Where the text stood when the agent said its model service failed (the TypeScript adapter's
    #: ``threadStatus: systemError``; the error then comes as answer text), None while it has not.
    system_error_at: int | None = None
    #: How many updates of each kind arrived (``agent_message_chunk``, ``tool_call``, unknown kinds…).
    kinds: Counter[str] = field(default_factory=Counter)
    #: What the latest update worth a progress line was: "text", "thought", "plan", or "tool:<id>".
    latest: str | None = None
    #: Told of every update (the member's event stream; readers re-read what they show).
    changes: Changes | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def system_error(self) -> str | None:
        """The failure the agent reported as text after its model service failed, or None."""
        if self.system_error_at is None:
            return None
        return "".join(self.text_parts[self.system_error_at :]).strip() or "no message"

    def apply(self, update: SessionUpdate) -> bool:
        """Record an update; True if it is progress (see ADR 0004)."""
        self.updates += 1
        self.kinds[update.session_update] += 1
        if self.changes is not None:
            self.changes.notify()
        if isinstance(update, ContentChunk):
            if update.session_update == "agent_message_chunk":
                self.text_parts.append(update.text)
                self.latest = "text"
            elif update.session_update == "agent_thought_chunk":
                self.thought_parts.append(update.text)
                self.latest = "thought"
        elif isinstance(update, ToolCallInfo):
            activity = self.tools.get(update.tool_call_id)
            if activity is None:
                activity = self.tools[update.tool_call_id] = ToolActivity(update.tool_call_id)
            activity.merge(update)
            self.latest = "tool:" + update.tool_call_id
        elif isinstance(update, PlanUpdate):
            self.plan = [f"[{entry.status}] {entry.content}" for entry in update.entries]
            self.latest = "plan" if self.plan else self.latest
        elif isinstance(update, UsageUpdate):
            self.usage.context_used = update.used
            self.usage.context_size = update.size
            amount = (update.cost or {}).get("amount")
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                self.usage.cost = float(amount)
                currency = (update.cost or {}).get("currency")
                self.usage.currency = currency if isinstance(currency, str) else None
        else:
            self.unknown_updates += 1
            notice = _error_notice(update.raw)
            if notice:
                self.notice = notice
            status = _thread_status(update.raw)
            if status == "systemError":
                self.system_error_at = len(self.text_parts)
            elif status is not None:
                self.system_error_at = None  # recovered (a retry is active again)
            # session_info_update ("Reconnecting… waiting for network"), command lists and unknown
            # kinds are not progress, so an agent retrying forever still times out.
            return False
        return True


def _error_notice(raw: dict[str, Any]) -> str | None:
    """The TypeScript adapter's status error (``_meta.codex.error.message``), if any."""
    meta = raw.get("_meta")
    codex = meta.get("codex") if isinstance(meta, dict) else None
    error = codex.get("error") if isinstance(codex, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else None


def _thread_status(raw: dict[str, Any]) -> str | None:
    """The TypeScript adapter's thread status (``_meta.codex.threadStatus.type``), if any."""
    meta = raw.get("_meta")
    codex = meta.get("codex") if isinstance(meta, dict) else None
    status = codex.get("threadStatus") if isinstance(codex, dict) else None
    kind = status.get("type") if isinstance(status, dict) else None
    return kind if isinstance(kind, str) else None
