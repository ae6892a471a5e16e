"""The two corpora that measure redaction (tests/test_redact.py, bench/redaction.py).

``tests/data/secret_shapes.txt``: templates of credentials as a developer meets them, expanded here
with seeded random parts (so the repository holds no credential and trips no scanner; see the
file's header for the template language). ``tests/data/code_lines.txt``: ordinary code and prose
that looks like assignments of secrets, which what Claude reads must keep byte for byte.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

_CLASSES = {
    "a": string.ascii_letters + string.digits,
    "x": string.ascii_lowercase + string.digits,
    "h": "0123456789abcdef",
    "H": "0123456789ABCDEF",
    "u": string.ascii_uppercase + string.digits,
    "U": string.ascii_uppercase + "234567",
    "l": string.ascii_letters,
    "d": string.digits,
    "b": string.ascii_letters + string.digits + "+/",
    "w": string.ascii_letters + string.digits + "_-",
    "p": string.ascii_letters + string.digits + "!#%^*_+=-.",
}
_FIELD = re.compile(r"\{(?:(?P<cls>[a-zA-Z]):(?P<n>\d+)|(?P<word>pem:\d+|jwt|basic|pemb64)|)\}")


@dataclass(frozen=True)
class Shape:
    """One credential in context: ``text`` as it would appear, ``secrets`` the parts that must go (from
    logs; from what Claude reads too when ``claude``)."""

    name: str
    text: str
    secrets: tuple[str, ...]
    claude: bool


def _b64(data: bytes, urlsafe: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.decode().rstrip("=") if urlsafe else encoded.decode()


def _random(rng: random.Random, cls: str, n: int) -> str:
    return "".join(rng.choice(_CLASSES[cls]) for _ in range(n))


def _pem_lines(rng: random.Random, n: int) -> str:
    return "\n".join(_random(rng, "b", 64) for _ in range(n))


def _expand_word(rng: random.Random, word: str) -> str:
    if word.startswith("pem:"):
        return _pem_lines(rng, int(word[4:]))
    if word == "jwt":
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode(), urlsafe=True)
        claims = {"sub": _random(rng, "d", 10), "name": "Ada", "iat": 1735689600, "scope": "admin"}
        payload = _b64(json.dumps(claims).encode(), urlsafe=True)
        return f"{header}.{payload}.{_random(rng, 'w', 43)}"
    if word == "basic":
        return _b64(f"deploy:{_random(rng, 'a', 14)}".encode())
    assert word == "pemb64"
    begin, end = "-----BEGIN RSA PRIV" + "ATE KEY-----", "-----END RSA PRIV" + "ATE KEY-----"
    return _b64(f"{begin}\n{_pem_lines(rng, 6)}\n{end}\n".encode())


def _expand(template: str, rng: random.Random) -> str:
    template = template.replace("\\\\n", "\x00").replace("\\r", "\r").replace("\\n", "\n")
    template = template.replace("\x00", "\\n")

    def field(match: re.Match[str]) -> str:
        if match.group("cls"):
            return _random(rng, match.group("cls"), int(match.group("n")))
        if match.group("word"):
            return _expand_word(rng, match.group("word"))
        return ""

    return _FIELD.sub(field, template)


def secret_shapes() -> list[Shape]:
    shapes = []
    for number, line in enumerate((DATA / "secret_shapes.txt").read_text().splitlines()):
        if not line.strip() or line.startswith("#"):
            continue
        name, tier, template = (part.strip() for part in line.split(" | ", 2))
        assert tier in ("log", "both"), f"{name}: tier {tier!r}"
        text = _expand(template, random.Random(f"{number}:{name}"))
        secrets = tuple(re.findall(r"\[\[(.*?)\]\]", text, flags=re.S))
        assert secrets, f"{name}: no [[secret]] marked"
        shapes.append(Shape(name, text.replace("[[", "").replace("]]", ""), secrets, tier == "both"))
    return shapes


def code_lines() -> list[str]:
    """Ordinary lines (code, config, shell, prose) that what Claude reads must keep unchanged."""
    lines = (DATA / "code_lines.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#~")]
