"""Keep secrets out of every sink, in two tiers (ADR 0014).

- :func:`redact` — **for logs and stderr** (the turn log, Python logging, the agent's stderr tail,
  git's messages, the doctor): the strongest net. Every credential format (``secret_shapes.py``),
  plus the context rules below: a value assigned to a secret-sounding name,
  ``-p``/``--password`` flags, ``.pgpass`` lines, cookies, password hashes) that would also hit
  ordinary code.
- :func:`redact_credentials` — **for what Claude reads** (answers, saved answers, errors, status,
  progress): only credentials with a recognisable format — a vendor prefix or structure (``ghp_``,
  ``sk-ant-``, ``AKIA`` with its secret, JWTs), private key blocks, passwords in URLs, ``-u``,
  ``.netrc`` and connection strings, HTTP credentials that decode or look random — never code
  structure (``token = load_token(path)`` stays as it is).
- Both replace the exact values of secret-sounding environment variables wherever they appear.
- :func:`credentials_in` names what :func:`redact_credentials` would replace, so a pause can warn
  about a command it must show byte for byte.

This module is the engine (finding spans, the two tiers, streaming, logging); the rules are learned
from the rule sets of gitleaks and detect-secrets (ADR 0014 says why none is a dependency);
tests/data/secret_shapes.txt and tests/data/code_lines.txt measure both tiers.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from codex_fusion.text.secret_shapes import (
    CREDENTIALS,
    DOTTED_NAME,
    PEM_END,
    SECRET_WORDS,
    AwsPair,
    Rule,
    literal_password,
    pattern_rule,
    placeholder,
    token_rule,
)

# -- the context rules (the log tier only): a value assigned to a secret-sounding name, ``-p``/
# ``--password`` flags, ``.pgpass`` lines, cookies, password hashes — rules that would also hit
# ordinary code, so what Claude reads never goes through them ------------------------------------


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


REDACTED = "[redacted]"

# -- the environment's secrets ---------------------------------------------------------------------

#: Environment variable names whose values are secrets whatever they look like.
_SECRET_ENV_NAME = re.compile(r"(?i)(?:key|token|secret|passw(?:or)?d|pwd|credential|auth|cookie)")
_NOT_SECRET_ENV = frozenset({"SSH_AUTH_SOCK", "XAUTHORITY", "GPG_AGENT_INFO", "KEYTIMEOUT"})


def secret_env(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(value, name)`` of secret-sounding variables (values ≥ 8 characters, not paths), longest first."""
    found = {
        value: name
        for name, value in sorted(env.items())
        if len(value) >= 8
        and name not in _NOT_SECRET_ENV
        and _SECRET_ENV_NAME.search(name)
        and not value.startswith(("/", "~"))
    }
    return sorted(found.items(), key=lambda item: len(item[0]), reverse=True)


_process_secrets: tuple[int, list[tuple[str, str]]] = (-1, [])


def _environment_secrets() -> list[tuple[str, str]]:
    """:func:`secret_env` of this process's environment, computed again only when it changed size
    (the server's environment is fixed once it runs; tests and the CLI may add variables)."""
    global _process_secrets
    if _process_secrets[0] != len(os.environ):
        _process_secrets = (len(os.environ), secret_env(os.environ))
    return _process_secrets[1]


# -- the two tiers ---------------------------------------------------------------------------------

_Finder = Rule | AwsPair | Named | Cookies


class _Found(NamedTuple):
    """A secret's span and what it is; sorted by start, the longest first, the environment's
    first where a value is also a known format (its name says more)."""

    start: int
    negative_end: int
    rank: int
    what: str

    @property
    def end(self) -> int:
        return -self.negative_end


def _find(text: str, rules: tuple[_Finder, ...], env: Mapping[str, str] | None) -> list[_Found]:
    """Every secret's span in ``text``, in order."""
    found: list[_Found] = []
    for value, name in _environment_secrets() if env is None else secret_env(env):
        at = text.find(value)
        while at >= 0:
            found.append(_Found(at, -(at + len(value)), 0, f"the value of ${name}"))
            at = text.find(value, at + len(value))
    lowered = text.lower()
    aligned = len(lowered) == len(text)  # lower() can change the length of a few characters
    present = {word for word in _keywords(rules) if word in lowered}
    for rule in rules:  # most rules find nothing: each is ruled out with one call into C where it can be
        if not rule.keywords:
            if isinstance(rule, Rule) and rule.pattern.search(text) is None:
                continue
            spans = rule.spans(text)
        elif present.isdisjoint(rule.keywords):
            continue
        elif isinstance(rule, Rule) and aligned and not rule.multiline:
            spans = (
                span for line in _lines_with(text, lowered, rule.keywords) for span in rule.spans(text, *line)
            )
        else:
            spans = rule.spans(text)
        found.extend(_Found(start, -end, 1, rule.what) for start, end in spans)
    return sorted(found)


_rule_words: dict[int, tuple[tuple[_Finder, ...], frozenset[str]]] = {}


def _keywords(rules: tuple[_Finder, ...]) -> frozenset[str]:
    """Every keyword of ``rules`` (computed once per rule set)."""
    kept = _rule_words.get(id(rules))
    if kept is None or kept[0] is not rules:
        kept = _rule_words[id(rules)] = (rules, frozenset(word for rule in rules for word in rule.keywords))
    return kept[1]


def _lines_with(text: str, lowered: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each line of ``text`` holding one of ``words`` (in ``lowered``)."""
    lines: set[tuple[int, int]] = set()
    for word in words:
        at = lowered.find(word)
        while at >= 0:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at + len(word))
            end = len(text) if end < 0 else end
            lines.add((start, end))
            at = lowered.find(word, end)
    return sorted(lines)


def _replace(text: str, spans: list[_Found]) -> str:
    parts, at = [], 0
    for span in spans:
        if span.end <= at:
            continue  # inside a span already replaced
        parts.append(text[at : max(at, span.start)])
        parts.append(REDACTED)
        at = span.end
    parts.append(text[at:])
    return "".join(parts)


_ALL = CREDENTIALS + CONTEXT


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """For logs and stderr: replace anything that may be a secret with ``[redacted]``."""
    spans = _find(text, _ALL, env)
    return _replace(text, spans) if spans else text


def redact_credentials(text: str, env: Mapping[str, str] | None = None) -> str:
    """For what Claude reads: replace only credentials with a recognisable format, and the
    environment's secret values; code structure stays as it is."""
    spans = _find(text, CREDENTIALS, env)
    return _replace(text, spans) if spans else text


def credentials_in(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    """What :func:`redact_credentials` would replace in ``text``, named, each once, in order."""
    named, at = [], 0
    for span in _find(text, CREDENTIALS, env):
        if span.start >= at:  # a span inside one already named is the same secret
            named.append(span.what)
        at = max(at, span.end)
    return list(dict.fromkeys(named))


_PREFIXES = tuple(
    sorted(
        {
            prefix
            for rule in CREDENTIALS
            if isinstance(rule, Rule)
            for prefix in rule.prefixes
            if len(prefix) >= 3
        }
        | {"AKIA", "ASIA", "eyJ", "-----BEGIN"}
    )
)


def unfinished_credential(word: str) -> bool:
    """Whether ``word``, the end of a text still streaming, may be a credential not complete yet
    (it starts like one, or is a URL that may get a password), which no rule would match yet."""
    return word.startswith(_PREFIXES) or "://" in word


class StreamRedactor:
    """:func:`redact_credentials` over a text that arrives in pieces (an answer streamed to a
    terminal): releases whole paragraphs (whole lines once 2,000 characters wait), and holds a
    private key block back until it ends, so no credential is split across two releases."""

    _BEGIN = re.compile(r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY")
    _END = re.compile(PEM_END)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        self._pending += piece
        at = self._pending.rfind("\n\n")
        cut = at + 2 if at >= 0 else 0
        if not cut and len(self._pending) > 2000:
            cut = self._pending.rfind("\n") + 1
        begins = list(self._BEGIN.finditer(self._pending, 0, max(cut, 0)))
        if begins and not self._END.search(self._pending, begins[-1].end()):
            cut = begins[-1].start()
        if cut <= 0:
            return ""
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return redact_credentials(ready)

    def close(self) -> str:
        ready, self._pending = self._pending, ""
        return redact_credentials(ready)


class RedactingFormatter(logging.Formatter):
    """A log formatter whose every line (message, arguments, traceback) goes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
