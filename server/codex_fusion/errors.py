"""Every error codex-fusion raises, under one base.

``str(error)`` is written for whoever has to act on it (Claude, or a person at a terminal): what
happened and what to do next. The MCP layer turns any :class:`FusionError` into an error result at
one boundary (``mcp/boundary.py``); anything else escaping a tool is a bug.

    FusionError
    ├── ConfigError          a CODEX_FUSION_* variable is unusable
    ├── ProtocolError        the JSON-RPC conversation with the agent
    │   ├── RpcError             the agent answered a request with an error
    │   ├── ConnectionClosed     the agent's side closed before an answer came
    │   └── RequestTimeout       no answer within the bound
    ├── HandlerError         raised by our request handlers to answer the agent with an error
    ├── UsageError           a tool call that cannot run as given (an argument, a precondition)
    ├── AgentError           the agent could not start, open a session or finish (stderr attached)
    │   └── AuthRequired         Codex needs a login or an API key
    ├── ConsultError         the request cannot be served now (paused, nothing to permit, …)
    ├── DiffError            the diff for a review could not be collected
    └── TaskError            a delegated task cannot do what was asked (its state, a conflict, a check)
"""

from __future__ import annotations

from typing import Any

#: The one way to log Codex in that works wherever Node is, whether or not `codex` is installed.
LOGIN_COMMAND = "npx -y @openai/codex login"


class FusionError(Exception):
    """Base of every error codex-fusion raises on purpose."""

    @property
    def summary(self) -> str:
        """The message in one piece, without attachments such as an agent's stderr tail."""
        return str(self)


class ConfigError(FusionError, ValueError):
    """A configuration variable has a value codex-fusion cannot use."""


# -- the protocol ------------------------------------------------------------------------------


class ProtocolError(FusionError):
    """Something went wrong in the JSON-RPC conversation with the agent."""


class RpcError(ProtocolError):
    """The peer answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.error_message = message
        self.data = data

    def describe(self) -> str:
        """The error's message plus the agent's detail (``data.message``, ``codex_error_info``, …),
        without the backtrace some agents append."""
        text = self.error_message.split("Stack backtrace:", 1)[0].strip()
        if isinstance(self.data, dict):
            for key in ("message", "codex_error_info", "details"):
                value = self.data.get(key)
                if value and str(value) not in text:
                    return f"{text} — {value}"
        return text


class ConnectionClosed(ProtocolError):
    """The connection ended (the agent closed its stdout or exited) before an answer arrived."""


class RequestTimeout(ProtocolError):
    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(f"{method} got no answer within {seconds:g} s")
        self.method = method
        self.seconds = seconds


class HandlerError(FusionError):
    """Raised by a request handler to answer the agent with a specific JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


# -- the agent ---------------------------------------------------------------------------------

_HINTS = (
    ("CODEX_HOME points to", "Fix: create that directory, or unset CODEX_HOME to use ~/.codex."),
    ("bubblewrap is unavailable", "Fix: install bubblewrap (`bwrap`) so Codex can sandbox commands."),
    ("usage_limit_exceeded", "Your Codex usage limit is reached: wait for the reset or use an API key."),
    ("rate_limit", "Codex is rate-limited: wait a minute and try again."),
)


def hint_for(text: str) -> str | None:
    """What to do about a failure, when its text says something we recognise."""
    for needle, hint in _HINTS:
        if needle in text:
            return hint
    return None


class AgentError(FusionError):
    """A failure of the agent, phrased for the person or model who has to act on it.

    ``summary`` is the message without the stderr tail; ``str()`` adds the tail, indented.
    """

    def __init__(self, message: str, *, stderr_tail: str = "", code: int | None = None) -> None:
        hint = hint_for(message + "\n" + stderr_tail)
        if hint and hint not in message:
            message = f"{message} {hint}"
        # The acp layer words these from what an agent said and redacts it there (``acp/agent.py``);
        # the tool boundary redacts every error again and logs redact further.
        self._summary = message
        self.stderr_tail = stderr_tail
        self.code = code
        text = self._summary
        if stderr_tail:
            indented = "\n".join("  " + line for line in stderr_tail.splitlines())
            text += "\nAgent stderr (last lines):\n" + indented
        super().__init__(text)

    @property
    def summary(self) -> str:
        return self._summary


class AuthRequired(AgentError):
    """Codex needs a login or an API key."""


# -- requests that cannot be served -----------------------------------------------------------


class UsageError(FusionError):
    """A tool call that cannot run as given (an empty argument, a combination that does not apply,
    the server not ready): the message says what to change."""


class ConsultError(FusionError):
    """A consult or permit that cannot run now, or a turn Codex failed; the message says what to do."""


class ModelError(ConsultError):
    """A model or reasoning effort the agent does not offer (nothing was sent as a turn)."""


class DiffError(FusionError):
    """The diff for a review could not be collected (not a git repository, bad ref, git failed)."""


class TaskError(FusionError):
    """A delegated task cannot do what was asked: not in its state, a conflict, a failed check."""
