"""What an MCP tool call answered, as the text Claude reads: one helper for every test that calls a tool
(the unit tests and the end-to-end ones)."""

from __future__ import annotations


def text_of(result: object) -> str:
    """Every text block of a ``CallToolResult``, one per line (other blocks as empty lines)."""
    return "\n".join(getattr(block, "text", "") for block in getattr(result, "content", []))
