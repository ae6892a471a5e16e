"""Keep secrets out of logs, errors and stderr tails."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_PATTERNS = (
    # OpenAI / Anthropic style keys: sk-…, sk-proj-…, sk-ant-…
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    # Authorization headers and bearer tokens
    re.compile(r"(?i)(authorization\s*[:=]\s*)(\"?)[^\s\",}]+(?:\s+[^\s\",}]+)?"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/]{8,}=*"),
    # key=value / "key": "value" for names that look secret
    re.compile(r"(?i)(\b[a-z_-]*(?:api[_-]?key|token|secret|password)\b\"?\s*[:=]\s*\"?)[^\s\",}]{8,}"),
)

_SECRET_ENV = ("OPENAI_API_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY")


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace anything that looks like a credential with ``[redacted]``."""
    source = os.environ if env is None else env
    for name in _SECRET_ENV:
        value = source.get(name)
        if value and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    text = _PATTERNS[0].sub("[redacted]", text)
    text = _PATTERNS[1].sub(r"\1\2[redacted]", text)
    text = _PATTERNS[2].sub("Bearer [redacted]", text)
    return _PATTERNS[3].sub(r"\1[redacted]", text)
