"""The MCP SDK's own floor for a tool call: a bare ``MCPServer`` with one ``consult`` tool that answers
at once, served over stdio exactly as codex-fusion's server is. ``bench/calls.py`` times it in the same
run as codex-fusion's consult, so the ratio between the two is codex-fusion's own per-call cost."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server: MCPServer[None] = MCPServer("floor")


@server.tool(structured_output=False)
async def consult(question: str) -> str:
    """Answer at once."""
    return f"ok: {len(question)}"


if __name__ == "__main__":
    server.run("stdio")
