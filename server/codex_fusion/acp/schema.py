"""Tolerant pydantic models for the parts of ACP v1 we read.

Every model keeps unknown fields (``extra="allow"``), enum-like fields are plain strings (known values
are listed as constants, unknown ones are kept as they came), and a ``session/update`` whose kind we do
not know — or that does not validate — is delivered as :class:`RawUpdate`, never dropped.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

PROTOCOL_VERSION: Final = 1


class AcpModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    def wire(self) -> dict[str, Any]:
        """The model as ACP JSON (camelCase, unset optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- initialize -------------------------------------------------------------------------------


class Implementation(AcpModel):
    name: str
    title: str | None = None
    version: str | None = None


class FsCapabilities(AcpModel):
    read_text_file: bool = False
    write_text_file: bool = False


class ClientCapabilities(AcpModel):
    fs: FsCapabilities = Field(default_factory=FsCapabilities)
    terminal: bool = False


class InitializeParams(AcpModel):
    protocol_version: int = PROTOCOL_VERSION
    client_capabilities: ClientCapabilities = Field(default_factory=ClientCapabilities)
    client_info: Implementation | None = None


class AuthMethod(AcpModel):
    id: str
    name: str = ""
    description: str | None = None
    type: str | None = None  # None = call `authenticate`; "terminal", "env_var", … are kept, not acted on
    vars: list[dict[str, Any]] | None = None


class InitializeResult(AcpModel):
    protocol_version: Any = None
    agent_capabilities: dict[str, Any] = Field(default_factory=dict)
    auth_methods: list[AuthMethod] = Field(default_factory=list)
    agent_info: Implementation | None = None


# --- sessions --------------------------------------------------------------------------------


class SessionMode(AcpModel):
    id: str
    name: str = ""
    description: str | None = None


class SessionModeState(AcpModel):
    current_mode_id: str | None = None
    available_modes: list[SessionMode] = Field(default_factory=list)


class NewSessionResult(AcpModel):
    session_id: str
    modes: SessionModeState | None = None
    config_options: list[dict[str, Any]] | None = None


class PromptResult(AcpModel):
    stop_reason: str = "end_turn"  # end_turn | max_tokens | max_turn_requests | refusal | cancelled | …
    usage: dict[str, Any] | None = None  # unstable: totalTokens, inputTokens, outputTokens, …


# --- session/update --------------------------------------------------------------------------


class ContentChunk(AcpModel):
    """``agent_message_chunk``, ``agent_thought_chunk`` or ``user_message_chunk``."""

    session_update: str
    content: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """The chunk as text; non-text blocks are named, not dropped."""
        kind = self.content.get("type")
        if kind == "text":
            value = self.content.get("text")
            return value if isinstance(value, str) else ""
        if kind == "resource_link":
            return f"[{self.content.get('name') or self.content.get('uri') or 'resource'}]"
        return f"[{kind or 'content'}]"


class ToolCallInfo(AcpModel):
    """``tool_call`` or ``tool_call_update``: fields left out are unchanged on an update."""

    session_update: str = "tool_call"
    tool_call_id: str
    title: str | None = None
    kind: str | None = None
    status: str | None = None
    content: list[dict[str, Any]] | None = None
    locations: list[dict[str, Any]] | None = None
    raw_input: Any = None
    raw_output: Any = None


class PlanEntry(AcpModel):
    content: str
    status: str = "pending"


class PlanUpdate(AcpModel):
    session_update: str = "plan"
    entries: list[PlanEntry] = Field(default_factory=list)


class UsageUpdate(AcpModel):
    session_update: str = "usage_update"
    used: int | None = None
    size: int | None = None
    cost: dict[str, Any] | None = None


class RawUpdate(AcpModel):
    """An update we do not model (or that did not validate), kept whole."""

    session_update: str = "unknown"
    raw: dict[str, Any] = Field(default_factory=dict)


SessionUpdate: TypeAlias = ContentChunk | ToolCallInfo | PlanUpdate | UsageUpdate | RawUpdate

_UPDATE_MODELS: Final[dict[str, type[AcpModel]]] = {
    "agent_message_chunk": ContentChunk,
    "agent_thought_chunk": ContentChunk,
    "user_message_chunk": ContentChunk,
    "tool_call": ToolCallInfo,
    "tool_call_update": ToolCallInfo,
    "plan": PlanUpdate,
    "usage_update": UsageUpdate,
}


def parse_update(raw: Any) -> SessionUpdate:
    """Parse ``params.update`` of a ``session/update``; anything unexpected comes back as RawUpdate."""
    if not isinstance(raw, dict):
        return RawUpdate(session_update="invalid", raw={"value": raw})
    kind = raw.get("sessionUpdate")
    kind_str = kind if isinstance(kind, str) else "unknown"
    model = _UPDATE_MODELS.get(kind_str)
    if model is not None:
        try:  # the model's validator itself: model_validate's wrapper costs a third more per chunk
            parsed = model.__pydantic_validator__.validate_python(raw)
        except ValidationError:
            pass
        else:
            return cast(SessionUpdate, parsed)  # one of the table's models (no check per chunk)
    return RawUpdate(session_update=kind_str, raw=raw)


# --- permissions -----------------------------------------------------------------------------


class PermissionOption(AcpModel):
    option_id: str
    name: str = ""
    kind: str = ""  # allow_once | allow_always | reject_once | reject_always | …


class RequestPermissionParams(AcpModel):
    session_id: str
    tool_call: dict[str, Any] = Field(default_factory=dict)
    options: list[PermissionOption] = Field(default_factory=list)


def permission_selected(option_id: str) -> dict[str, Any]:
    return {"outcome": {"outcome": "selected", "optionId": option_id}}


PERMISSION_CANCELLED: Final[dict[str, Any]] = {"outcome": {"outcome": "cancelled"}}
