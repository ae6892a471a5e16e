"""Text every encoder accepts: lone UTF-16 surrogates become U+FFFD.

A JSON string may hold an escaped half of a surrogate pair (``"\\ud800"``: JavaScript's
``JSON.stringify`` writes one for an emoji cut in two). Python decodes it to a lone surrogate, which
no UTF-8 encoder accepts: the MCP SDK drops such a message, pydantic cannot serialise it, the ACP
encoder raised on it. It carries no meaning, so codex-fusion replaces it with U+FFFD (ADR 0012)
wherever text comes in: the MCP transport (:func:`codex_fusion.mcp.server.run_stdio`), every tool
argument (:mod:`codex_fusion.mcp.tools`), and the ACP encoder (:mod:`codex_fusion.acp.jsonrpc`).
A surrogate *pair* given as two code points is joined into the character it stands for.
"""

from __future__ import annotations

import re
from typing import Any, Final

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def text(value: str) -> str:
    """``value`` with its surrogate pairs joined and its lone surrogates replaced by U+FFFD."""
    if _SURROGATE.search(value) is None:
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def data(value: Any) -> Any:
    """:func:`text` applied to every string (keys included) in JSON-like data."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list | tuple):
        return [data(item) for item in value]
    if isinstance(value, dict):
        return {data(key): data(item) for key, item in value.items()}
    return value
