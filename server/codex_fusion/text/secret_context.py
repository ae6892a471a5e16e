"""The context rules, for :mod:`codex_fusion.text.redact`'s log tier only: a value assigned to a
secret-sounding name, ``-p``/``--password`` flags, ``.pgpass`` lines, cookies, password hashes —
rules that would also hit ordinary code, so what Claude reads never goes through them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from codex_fusion.text.secret_shapes import (
    DOTTED_NAME,
    PEM_END,
    SECRET_WORDS,
    Rule,
    literal_password,
    pattern_rule,
    placeholder,
    token_rule,
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOT_SECRET_LAST = _words(
    "url uri urls endpoint file files path paths dir name names length len size count limit "
    "min max type types header headers prefix suffix id ids tokens env var field fields scheme "
    "store helper process validator validators expiry expires timeout ttl lifetime format mode "
    "policy provider method enabled required hint label pattern ref source location version "
    "algorithm"
)
_NOT_SECRET_PART = _words(
    "author authors authority keyboard monkey turkey tokenizer tokenize idempotency public"
)
_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SCHEMES = frozenset({"bearer", "basic", "digest", "bot", "token"})
_CODE_WORDS = _words(
    "int bool float Optional String SecretStr Any object await new yield lambda function async "
    "return not self this"
)


def _secret_name(name: str) -> bool:
    """A name whose value is a secret: ``DB_PASSWORD_PROD``, ``apiKey``; not ``max_tokens``,
    ``passwordFile``, ``secret_name``, ``certificate-authority-data`` or the shell's ``$PWD``."""
    parts = [part.lower() for part in _NAME_PARTS.findall(name)]
    return bool(parts) and parts[-1] not in _NOT_SECRET_LAST and not _NOT_SECRET_PART.intersection(parts)


def _generic_value(value: str) -> bool:
    """A value assigned to a secret-sounding name that is not code: no call, no attribute path, no
    snake_case identifier, YAML tag, shell expansion, type, small number or placeholder."""
    value = value.strip()
    return not (
        placeholder(value)
        or DOTTED_NAME.fullmatch(value.rstrip("!?"))
        or re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", value)
        or value.startswith("!")
        or (value.isdigit() and len(value) <= 8)
        or value.lower() in _SCHEMES
        or value in _CODE_WORDS
    )


_NAME_WORD = re.compile(rf"(?i){SECRET_WORDS}")
_NAME_CHAR = re.compile(r"[\w.-]")
_NAMED_REST = re.compile(
    r"""(?x)[\w.-]*["'`]?\s*(?:=|:=|:|=>|\?=)\s*
    (?:(?P<q>["'`])(?P<secret>[^"'`\s][^"'`\n]{3,}?)(?P=q)|(?P<bare>[^\s"'`,;{}()\[\]<>]{4,}+)(?![(\[<]))"""
)


@dataclass(frozen=True)
class Named:
    """A value assigned to a secret-sounding name (``SECRET_KEY_BASE=…``, ``"password": "…"``,
    ``token: …``), as gitleaks' generic rule and detect-secrets' keyword plugin find them."""

    what: str = "a secret-sounding name's value"
    keywords: tuple[str, ...] = ("key", "token", "secret", "pass", "pwd", "cred", "auth")

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        done = 0
        for word in _NAME_WORD.finditer(text):
            if word.start() < done:
                continue  # a second secret word in a name already handled
            start = word.start()
            while start and _NAME_CHAR.match(text, start - 1):
                start -= 1
            if start and (text[start - 1] == "$" or text.endswith("${", 0, start)):
                continue  # $PWD, ${API_KEY:?…}: a reference, not an assignment
            rest = _NAMED_REST.match(text, word.end())
            if rest is None:
                continue
            done = rest.end()
            group = "secret" if rest.group("secret") is not None else "bare"
            name = text[start : rest.start() + len(rest.group().split(maxsplit=1)[0])]
            if _secret_name(re.split(r"[\"'`\s=:?]", name, maxsplit=1)[0]) and _generic_value(
                rest.group(group)
            ):
                yield rest.span(group)


_COOKIE_ATTRIBUTES = re.compile(r"(?i)^(?:path|domain|expires|max-age|samesite|secure|httponly|priority)$")


@dataclass(frozen=True)
class Cookies:
    """Every value of a ``Cookie:``/``Set-Cookie:`` header line (its attributes stay)."""

    what: str = "a cookie"
    keywords: tuple[str, ...] = ("cookie",)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for line in re.finditer(r"(?im)\b(?:set-)?cookie\s*:\s*(.*)$", text):
            for pair in re.finditer(r"([^=;\s]+)=([^;\s]+)", line.group(1)):
                if not _COOKIE_ATTRIBUTES.match(pair.group(1)):
                    yield line.start(1) + pair.start(2), line.start(1) + pair.end(2)


#: Context rules, for logs only: what is probably a secret, and would also hit ordinary code.
CONTEXT: tuple[Rule | Named | Cookies, ...] = (
    Named(),
    pattern_rule(
        "a password flag",
        r"(?i)(?<![\w-])--(?:password|passwd|token|api-key|apikey|secret|client-secret|auth-token|access-token|with-token)(?:=|\s+)(?P<secret>[^\s\"'<>|-][^\s\"']*)",
        "--",
        literal_password,
    ),
    pattern_rule(
        "a password flag",
        r"\b(?:mysql\w*|mariadb)\b[^\n]*?\s-p(?P<secret>[^\s\"'$][^\s\"']*)",
        "mysql mariadb",
        literal_password,
    ),
    pattern_rule(
        "a password flag",
        r"\b(?:sshpass|docker\s+login|podman\s+login|htpasswd)\b[^\n]*?\s-p\s*(?P<secret>[^\s\"'$-][^\s\"']*)",
        "sshpass login htpasswd",
        literal_password,
    ),
    pattern_rule("a .pgpass line", r"(?m)^[^:\s#]+:(?:\d+|\*):[^:\s]+:[^:\s]+:(?P<secret>\S+)$", ":"),
    pattern_rule(
        "a .netrc password", r"(?im)^\s*password\s+(?P<secret>\S+)\s*$", "password", literal_password
    ),
    pattern_rule("a password hash", r"\$(?:apr1|2[abxy]|1|5|6|y|argon2id?)\$[./A-Za-z0-9$=,]{8,}", "$"),
    pattern_rule(
        "a secret in a URL's query",
        r"(?i)[?&;][\w.-]*(?:key|token|secret|pass|pwd|auth|sig|signature|session|credential)[\w.-]*=(?P<secret>[^&\s#\"'<>`]{4,})",
        "=",
        literal_password,
    ),
    pattern_rule(
        "a bearer token",
        r"(?i)\b(?:bearer|basic)\s+(?P<secret>[\w.~+/-]{8,}=*)",
        "bearer basic",
        literal_password,
    ),
    pattern_rule(
        "an HTTP credential",
        r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:\w+\s+)?(?P<secret>[\w.~+/-]{8,}=*)",
        "authorization",
        literal_password,
    ),
    pattern_rule("a JSON web token", r"(?<![\w-])eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*", "eyj"),
    token_rule("a Mailgun key", "key-", r"key-[a-f0-9]{32}"),
    token_rule(
        "an API key (sk-…)", "sk-", r"sk-[\w-]{12,}", lambda value: re.search("[0-9]", value) is not None
    ),
    token_rule("an API key (sk-…)", "sk-", r"sk-(?:proj|svcacct|admin|ant)-[\w-]{8,}"),
    token_rule(
        "a GitHub token",
        "ghp_ gho_ ghu_ ghs_ ghr_ github_pat_",
        r"(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_\w{20,})",
    ),
    pattern_rule(
        "a private key",
        rf"(?s)-----BEGIN[ A-Z0-9_-]{{0,40}}PRIVATE KEY(?: BLOCK)?-----"
        rf"(?P<secret>(?:[\sA-Za-z0-9+/=:.,()<>@]|\\[rn]){{1,20000}}?){PEM_END}",
        "private",
        lambda body: bool(body.strip()),
        multiline=True,
    ),
    Cookies(),
)
