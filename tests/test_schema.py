from __future__ import annotations

from codex_fusion.acp.schema import (
    ContentChunk,
    InitializeResult,
    NewSessionResult,
    PlanUpdate,
    RawUpdate,
    ToolCallInfo,
    UsageUpdate,
    parse_update,
)


def test_known_updates_parse_to_models() -> None:
    chunk = parse_update({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}})
    assert isinstance(chunk, ContentChunk)
    assert chunk.text == "hi"
    tool = parse_update({"sessionUpdate": "tool_call", "toolCallId": "c1", "kind": "read", "title": "Read a"})
    assert isinstance(tool, ToolCallInfo)
    assert (tool.tool_call_id, tool.kind) == ("c1", "read")
    plan = parse_update(
        {"sessionUpdate": "plan", "entries": [{"content": "x", "priority": "high", "status": "in_progress"}]}
    )
    assert isinstance(plan, PlanUpdate)
    assert plan.entries[0].status == "in_progress"
    usage = parse_update({"sessionUpdate": "usage_update", "used": 5, "size": 10})
    assert isinstance(usage, UsageUpdate)
    assert (usage.used, usage.size) == (5, 10)


def test_unknown_kinds_and_invalid_updates_are_kept_raw() -> None:
    raw = {"sessionUpdate": "compaction_update", "state": "started"}
    update = parse_update(raw)
    assert isinstance(update, RawUpdate)
    assert (update.session_update, update.raw) == ("compaction_update", raw)
    broken = {"sessionUpdate": "tool_call", "title": "no id"}
    update = parse_update(broken)
    assert isinstance(update, RawUpdate)
    assert update.raw == broken
    assert isinstance(parse_update("nonsense"), RawUpdate)


def test_unknown_fields_and_enum_values_are_kept() -> None:
    tool = parse_update(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "c",
            "kind": "teleport",
            "status": "cancelled",
            "_meta": {"terminal_output": True},
        }
    )
    assert isinstance(tool, ToolCallInfo)
    assert (tool.kind, tool.status) == ("teleport", "cancelled")
    assert tool.wire()["_meta"] == {"terminal_output": True}
    init = InitializeResult.model_validate(
        {
            "protocolVersion": 1,
            "authMethods": [
                {
                    "type": "env_var",
                    "id": "openai-api-key",
                    "name": "Use key",
                    "vars": [{"name": "OPENAI_API_KEY"}],
                }
            ],
            "agentCapabilities": {"newThing": {}},
        }
    )
    assert init.auth_methods[0].type == "env_var"
    assert init.agent_capabilities == {"newThing": {}}
    session = NewSessionResult.model_validate({"sessionId": "s", "models": {"currentModelId": "m"}})
    assert session.wire()["models"] == {"currentModelId": "m"}


def test_non_text_content_is_named_not_dropped() -> None:
    chunk = parse_update({"sessionUpdate": "agent_message_chunk", "content": {"type": "image", "data": "x"}})
    assert isinstance(chunk, ContentChunk)
    assert chunk.text == "[image]"
