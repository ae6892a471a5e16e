"""Following Codex CLI's conversation from the session id it puts in every tool call.

Codex CLI has no hooks for an MCP server, but each ``tools/call`` carries
``_meta["x-codex-turn-metadata"]["session_id"]`` (Codex 0.166, observed). A new id in the same
server's life means the person started a new Codex conversation (``/new`` in the TUI): the members'
sessions are reset before the call, as ``/clear`` resets them in Claude Code. The id is untrusted
text: only compared, never logged or stored whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

META_KEY = "x-codex-turn-metadata"


def session_of(meta: Any) -> str | None:
    """The host's session id in a call's ``_meta``, if it carries one."""
    turn = meta.get(META_KEY) if isinstance(meta, Mapping) else None
    session = turn.get("session_id") if isinstance(turn, Mapping) else None
    return session if isinstance(session, str) and session.strip() else None


class HostSession:
    """The host's session seen last; :meth:`moved` says when a call comes from another one."""

    def __init__(self) -> None:
        self._seen: str | None = None

    def moved(self, meta: Any) -> bool:
        """True when ``meta`` names a session other than the one seen before (the first seen is not
        a move)."""
        session = session_of(meta)
        if session is None:
            return False
        digest = hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()
        before, self._seen = self._seen, digest
        return before is not None and before != digest
