"""Whether a member that gave no answer was *unavailable* — out of quota or rate-limited, not logged
in, timed out, crashed — rather than answering anything. Pure.

Unavailable is a state of a seat, never a verdict: the council's agreement line and findings table
count it apart (neither open nor agreeing, never a finding), and the review gate lets the stop
through with one line when Codex is unavailable. The causes are read from the error the member's
turn ended with, in the shapes the adapters give them (an HTTP status in the agent's message,
``usage_limit_exceeded``, ``RESOURCE_EXHAUSTED``, an authentication request, a closed connection).
"""

from __future__ import annotations

import re

from codex_fusion.errors import AuthRequired, ConnectionClosed, FusionError, RequestTimeout, RpcError
from codex_fusion.member.turn import Pause, TurnOutcome, TurnResult

QUOTA = "out of quota or rate-limited"
LOGIN = "not logged in"
TIMEOUT = "timed out"
CRASHED = "crashed"

_QUOTA = re.compile(
    r"\b429\b|too many requests|rate[ _-]?limit|quota|usage[ _]limit|resource[ _]exhausted|"
    r"insufficient_quota|overloaded|\b529\b|capacity",
    re.IGNORECASE,
)
_LOGIN = re.compile(
    r"\b401\b|\b403\b|unauthori[sz]ed|not logged in|log ?in|authenticat|invalid (?:x-)?api[ _-]?key|"
    r"api key not valid|permission_denied|credentials",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(r"timed out|did not finish within|no answer within|deadline", re.IGNORECASE)
_CRASHED = re.compile(
    r"exited|crash|killed|closed (?:its|the) (?:connection|stdout)|connection closed|broken pipe|signal",
    re.IGNORECASE,
)


def cause(answer: TurnResult | FusionError | None) -> str | None:
    """Why this member is unavailable, or None when it answered (or failed some other way)."""
    if answer is None or isinstance(answer, Pause):
        return None
    if isinstance(answer, TurnOutcome):
        if answer.stop_reason == "timeout":
            return TIMEOUT
        if answer.stop_reason not in ("end_turn", "") and _QUOTA.search(answer.text[-2000:]):
            return QUOTA
        return None
    return of_error(answer)


def of_error(error: FusionError) -> str | None:
    """The unavailable cause an error names, or None for a failure of another kind."""
    text = error.summary
    if isinstance(error, RpcError):
        text += " " + error.describe()
    if _QUOTA.search(text):  # before login: a 429 often says "authenticated user's quota"
        return QUOTA
    if isinstance(error, AuthRequired) or _LOGIN.search(text):
        return LOGIN
    if isinstance(error, RequestTimeout) or _TIMEOUT.search(text):
        return TIMEOUT
    if isinstance(error, ConnectionClosed) or _CRASHED.search(text):
        return CRASHED
    return None
