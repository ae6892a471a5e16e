"""One Codex turn as it streams in: text, thoughts, tool activity, plan and usage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from .acp.schema import ContentChunk, PlanUpdate, RawUpdate, SessionUpdate, ToolCallInfo, UsageUpdate

if TYPE_CHECKING:
    from .permissions import PendingPermission

TurnObserver = Callable[["Turn", SessionUpdate], None]


@dataclass
class Usage:
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    context_used: int | None = None
    context_size: int | None = None

    def merge_prompt_usage(self, raw: dict[str, Any] | None) -> None:
        if not raw:
            return
        for attr, key in (
            ("total_tokens", "totalTokens"),
            ("input_tokens", "inputTokens"),
            ("output_tokens", "outputTokens"),
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
class Turn:
    """The live state of one turn (a ``session/prompt``, plus any continuation after a deny).

    Fed by session updates and permission requests; waited on by the tool call that owns it
    (``consult``, then ``permit`` after each pause). :attr:`wake` fires on every pause and at the end.
    """

    session_id: str
    observer: TurnObserver | None = None
    pending: list[PendingPermission] = field(default_factory=list)
    outcome: TurnOutcome | None = None
    error: Exception | None = None
    finished: anyio.Event = field(default_factory=anyio.Event)
    wake: anyio.Event = field(default_factory=anyio.Event)
    cancel_requested: str | None = None  # why: "cancelled" or "timeout"
    continuation: str | None = None  # a prompt to send if a deny ends Codex's turn
    notes: list[str] = field(default_factory=list)  # what happened to permissions, for the result
    waiters: int = 0  # tool calls currently waiting on this turn
    notice: str | None = None  # the agent's latest error status, e.g. "Reconnecting… waiting for network"
    tool: str = "consult"
    timeout: float = 300.0  # idle bound in seconds
    started: float = field(default_factory=time.monotonic)
    text_parts: list[str] = field(default_factory=list)
    thought_parts: list[str] = field(default_factory=list)
    tools: dict[str, ToolActivity] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    updates: int = 0
    unknown_updates: int = 0
    last_update: float = field(default_factory=time.monotonic)
    #: When Codex last made real progress; the idle timeout counts from here (see ADR 0004).
    last_progress: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def signal(self) -> None:
        """Wake whoever waits on this turn (a pause appeared or the turn ended)."""
        self.wake.set()
        self.wake = anyio.Event()

    def finish(self, outcome: TurnOutcome | None = None, error: Exception | None = None) -> None:
        self.outcome, self.error = outcome, error
        self.finished.set()
        self.signal()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def apply(self, update: SessionUpdate) -> None:
        self.updates += 1
        self.last_update = time.monotonic()
        if not isinstance(update, RawUpdate):
            # Message, thought, tool, plan and usage updates are progress. session_info_update
            # ("Reconnecting… waiting for network"), command lists and unknown kinds are not,
            # so an agent retrying forever still times out.
            self.last_progress = self.last_update
        if isinstance(update, ContentChunk):
            if update.session_update == "agent_message_chunk":
                self.text_parts.append(update.text)
            elif update.session_update == "agent_thought_chunk":
                self.thought_parts.append(update.text)
        elif isinstance(update, ToolCallInfo):
            activity = self.tools.get(update.tool_call_id)
            if activity is None:
                activity = self.tools[update.tool_call_id] = ToolActivity(update.tool_call_id)
            activity.merge(update)
        elif isinstance(update, PlanUpdate):
            self.plan = [f"[{entry.status}] {entry.content}" for entry in update.entries]
        elif isinstance(update, UsageUpdate):
            self.usage.context_used = update.used
            self.usage.context_size = update.size
        elif isinstance(update, RawUpdate):
            self.unknown_updates += 1
            notice = _error_notice(update.raw)
            if notice:
                self.notice = notice
        if self.observer is not None:
            self.observer(self, update)

    def activity_trail(self) -> list[str]:
        return [f"{tool.kind} {tool.title}".strip() + f" ({tool.status})" for tool in self.tools.values()]


@dataclass(frozen=True)
class TurnOutcome:
    """What a finished turn produced, for the caller to present."""

    text: str
    stop_reason: str
    elapsed: float
    usage: Usage
    activity: list[str]
    session_id: str
    notes: tuple[str, ...] = ()

    def footer(self) -> str:
        parts = [f"{self.elapsed:.1f}s"]
        tokens = self.usage.tokens
        if tokens is not None:
            parts.append(f"{format_tokens(tokens)} tokens")
        if self.stop_reason != "end_turn":
            parts.append(f"stop: {self.stop_reason}")
        return "— codex · " + " · ".join(parts)


def _error_notice(raw: dict[str, Any]) -> str | None:
    """The TypeScript adapter's status error (``_meta.codex.error.message``), if any."""
    meta = raw.get("_meta")
    codex = meta.get("codex") if isinstance(meta, dict) else None
    error = codex.get("error") if isinstance(codex, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else None


def format_tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 100_000:
        return f"{count / 1000:.1f}k"
    return f"{count // 1000}k"
