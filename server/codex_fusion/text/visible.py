"""Nothing hidden: every invisible or space-like character in a text Claude reads, made visible.

The rule lives in ``hookside/visible.py`` (standard library only) so the hooks apply the same one;
this is where the server's modules take it from.
"""

from __future__ import annotations

from codex_fusion.hookside.visible import MAX_MARKS, hidden, one_line, visible

__all__ = ["MAX_MARKS", "hidden", "one_line", "visible"]
