"""What a member that is not logged in is told, and how a refused login is recognised in what its
agent answered — read by the session policy (``sessions.py``), the turn's driver and the doctor."""

from __future__ import annotations

import json

from codex_fusion.acp import jsonrpc
from codex_fusion.errors import LOGIN_COMMAND, RpcError
from codex_fusion.launch.names import CODEX, DISPLAY
from codex_fusion.text.redact import redact_credentials

#: Where a key comes from, in the README's order: the keychain option first, never a plain settings file.
OPENAI_KEY_FIX = (
    "set OPENAI_API_KEY with the plugin option `openai_api_key` (kept in your keychain: `/plugin` → "
    "codex-fusion → Configure) or in the environment Claude Code starts from, then restart Claude Code"
)
NOT_LOGGED_IN = f"Codex is not logged in: run `{LOGIN_COMMAND}` in a terminal, or {OPENAI_KEY_FIX}"
#: The key variable each built-in member's agent reads (it reaches that agent only).
MEMBER_KEYS = {"Claude": "ANTHROPIC_API_KEY", "Gemini": "GEMINI_API_KEY"}

#: What model services answer a missing or wrong key with, in the error an agent passes on: Google's
#: ``API_KEY_INVALID`` (through Gemini CLI), Anthropic's ``authentication_error``, OpenAI's
#: ``invalid_api_key``.
_KEY_REFUSED = ("API_KEY_INVALID", "API key not valid", "authentication_error", "invalid_api_key")


def not_logged_in(name: str, said: str = "Authentication required") -> str:
    """What to do when ``name``'s agent says it needs a login (Codex has its own advice)."""
    if name == DISPLAY[CODEX]:
        return NOT_LOGGED_IN
    key = MEMBER_KEYS.get(name, "its API key variable")
    return (
        f"{name} is not logged in (its agent answered: {said}): set {key} in the environment Claude Code "
        "is started from and restart it (codex-fusion passes it to this member's agent only; the members "
        "option is a plain settings file and holds no keys), or log in once with the agent's own CLI "
        "and call again"
    )


def login_refused(exc: RpcError) -> str | None:
    """What the agent said (redacted) if ``exc`` means its login is missing or refused, else None."""
    if exc.code == jsonrpc.AUTH_REQUIRED:
        return redact_credentials(exc.error_message[:200]) or "Authentication required"
    text = exc.describe()
    if not any(marker in text for marker in _KEY_REFUSED):
        return None
    try:  # Gemini CLI passes the service's JSON answer on as the message
        detail = json.loads(exc.error_message)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = text
    return redact_credentials(str(detail)[:200])
