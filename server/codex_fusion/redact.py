"""Keep secrets out of every sink: stderr, the turn log, error texts, status.

Two nets: patterns for credentials with a recognisable shape (API keys, tokens, passwords in URLs,
private keys, ``key=value`` pairs whose name sounds secret), and the exact values of environment
variables whose names sound secret (a database password has no shape, but it has a name).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

REDACTED = "[redacted]"

_SHAPES = (
    # OpenAI / Anthropic style keys: sk-…, sk-proj-…, sk-ant-…
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    # AWS access key ids, GitHub tokens, Slack tokens, Google API keys
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    # JSON web tokens
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # private key blocks
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/]{8,}=*")
_AUTHORIZATION = re.compile(r"(?i)(authorization\s*[:=]\s*)(\"?)[^\s\",}]+(?:\s+[^\s\",}]+)?")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+(@)")
_NAME_WORDS = r"(?:api[_-]?key|access[_-]?key|token|secret|passw(?:or)?d|pwd|credential|private[_-]?key)"
_KEY_VALUE = re.compile(rf"(?i)(\b[a-z_\-]*{_NAME_WORDS}\b\"?\s*[:=]\s*\"?)[^\s\",}}]{{6,}}")

#: Environment variable names whose values are secrets whatever they look like.
_SECRET_ENV_NAME = re.compile(r"(?i)(?:key|token|secret|passw(?:or)?d|pwd|credential|auth|cookie)")
_NOT_SECRET_ENV = frozenset({"SSH_AUTH_SOCK", "XAUTHORITY", "GPG_AGENT_INFO", "KEYTIMEOUT"})


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Values of secret-sounding variables (≥ 8 characters, not paths), longest first."""
    values = {
        value
        for name, value in env.items()
        if len(value) >= 8
        and name not in _NOT_SECRET_ENV
        and _SECRET_ENV_NAME.search(name)
        and not value.startswith(("/", "~"))
    }
    return sorted(values, key=len, reverse=True)


_process_secrets: tuple[int, list[str]] = (-1, [])


def _environment_secrets() -> list[str]:
    """:func:`secret_values` of this process's environment, computed again only when it changed size
    (the server's environment is fixed once it runs; tests and the CLI may add variables)."""
    global _process_secrets
    if _process_secrets[0] != len(os.environ):
        _process_secrets = (len(os.environ), secret_values(os.environ))
    return _process_secrets[1]


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace anything that looks like a credential, or is one from the environment, with [redacted]."""
    for value in _environment_secrets() if env is None else secret_values(env):
        text = text.replace(value, REDACTED)
    for pattern in _SHAPES:
        text = pattern.sub(REDACTED, text)
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1\2{REDACTED}", text)
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}\2", text)
    return _KEY_VALUE.sub(rf"\1{REDACTED}", text)


class RedactingFormatter(logging.Formatter):
    """A log formatter whose every line (message, arguments, traceback) goes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
