"""Keep secrets out of every sink, in two tiers (ADR 0014).

- :func:`redact` — **for logs and stderr** (the turn log, Python logging, the agent's stderr tail,
  git's messages, the doctor): the strongest net. Every credential format below, plus context rules
  (a value assigned to a secret-sounding name, ``-p``/``--password`` flags, ``.pgpass`` lines,
  cookies, password hashes) that would also hit ordinary code.
- :func:`redact_credentials` — **for what Claude reads** (answers, saved answers, errors, status,
  progress): only credentials with a recognisable format — a vendor prefix or structure (``ghp_``,
  ``sk-ant-``, ``AKIA`` with its secret, JWTs), private key blocks, passwords in URLs, ``-u``,
  ``.netrc`` and connection strings, HTTP credentials that decode or look random — never code
  structure (``token = load_token(path)`` stays as it is).
- Both replace the exact values of secret-sounding environment variables wherever they appear.
- :func:`credentials_in` names what :func:`redact_credentials` would replace, so a pause can warn
  about a command it must show byte for byte.

The formats are learned from the rule sets of gitleaks and detect-secrets (ADR 0014 says why none is
a dependency); tests/data/secret_shapes.txt and tests/data/code_lines.txt measure both tiers.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

REDACTED = "[redacted]"

# -- what a secret value looks like ----------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"""(?ix)^(?:
        [${<].* | %[sd] | %\w+% | \[[\w -]*\]  # $VAR, $(cmd), ${VAR}, {name}, <token>, %s, %VAR%, [redacted]
      | .*(?:\$\{|\{\{|%\(|\#\{).*        # an interpolation inside
      | (.)\1*                            # xxxx, ****, ....
      | (?-i:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)  # YOUR_API_KEY, DB_PASSWORD (a name, not a value)
      | .*(?:example|placeholder|dummy|changeme|your[_-]?(?:api[_-]?)?(?:key|token|password|secret)).*
      | pass(?:word|wd)?|pwd|secret|token|api[_-]?key|key|none|null|nil|undefined|true|false
      | empty|string|str|bytes|required|optional|omitted|hidden|masked|redacted|unset|default
    )$"""
)
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Za-z_]\w*\(.*")


def _placeholder(value: str) -> bool:
    """A value that stands for a secret without being one: a variable, a template, a mask, a type."""
    value = value.strip("\"'`")
    return not value or bool(_PLACEHOLDER.match(value))


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _random_looking(value: str) -> bool:
    """A literal that looks generated: 16+ characters, letters and digits mixed, high entropy."""
    classes = sum(bool(re.search(pattern, value)) for pattern in ("[a-z]", "[A-Z]", "[0-9]"))
    return (
        len(value) >= 16
        and classes >= 2
        and bool(re.search("[0-9]", value))
        and _entropy(value) >= 3.0
        and not _placeholder(value)
    )


def _basic_credentials(value: str) -> bool:
    """Base64 that decodes to ``user:password`` (HTTP Basic, Docker's and npm's ``auth``)."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    _, colon, password = decoded.partition(":")
    return bool(colon and password) and decoded.isprintable()


def _encoded_private_key(value: str) -> bool:
    """Base64 of a PEM private key (a kubeconfig's ``client-key-data``)."""
    try:
        decoded = base64.b64decode(value[:120] + "=" * (-len(value[:120]) % 4))
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded


def _literal_password(value: str) -> bool:
    return not _placeholder(value) and not value.isdigit()


def _url_password(value: str) -> bool:
    """Not a port (``host:8080/x@y``) and not a placeholder (``{password}``, ``$PASS``, ``password``)."""
    return not re.match(r"\d+(?:/|$)", value) and not _placeholder(value)


# -- rules -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One credential format: the pattern, the keywords that must occur for it to run (a cheap
    prefilter, as in gitleaks: the pattern then runs only over the lines that hold one, unless it is
    ``multiline``), and a check of the value. Groups named ``secret…`` are what is replaced (the
    whole match when there are none); ``what`` names it in a warning."""

    what: str
    pattern: re.Pattern[str]
    keywords: tuple[str, ...] = ()
    check: Callable[[str], bool] | None = None
    #: The match must not follow a token character (checked here: a leading look-behind in the
    #: pattern would stop the regex engine from scanning for its literal prefix, 45 times slower).
    boundary: bool = False
    #: The literal starts of its tokens (``ghp_``), to spot one still streaming.
    prefixes: tuple[str, ...] = ()
    multiline: bool = False
    _groups: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = tuple(name for name in self.pattern.groupindex if name.startswith("secret"))
        object.__setattr__(self, "_groups", groups)

    def spans(self, text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
        for match in self.pattern.finditer(text, start, len(text) if end is None else end):
            if self.boundary and match.start() and _TOKEN_CHAR.match(text, match.start() - 1):
                continue
            for group in self._groups or (0,):
                first, last = match.span(group)
                if first < last and (self.check is None or self.check(match.group(group))):
                    yield first, last


_TOKEN_CHAR = re.compile(r"[\w-]")


def _rule(
    what: str,
    pattern: str,
    keywords: str = "",
    check: Callable[[str], bool] | None = None,
    *,
    boundary: bool = False,
    prefixes: str = "",
    multiline: bool = False,
) -> Rule:
    words, starts = tuple(keywords.split()), tuple(prefixes.split())
    return Rule(what, re.compile(pattern), words, check, boundary, starts, multiline)


def _token(what: str, prefixes: str, pattern: str, check: Callable[[str], bool] | None = None) -> Rule:
    """A token with a vendor prefix, not glued to other token characters on either side. A pattern
    that starts with a literal needs no keywords: the regex engine scans for that literal as fast as
    ``in`` would."""
    literal = re.match(r"[A-Za-z0-9_]{2,}", pattern) is not None
    keywords = "" if literal else prefixes.lower()
    return _rule(what, rf"{pattern}(?![\w-])", keywords, check, boundary=True, prefixes=prefixes)


_B64 = "A-Za-z0-9+/"
_AWS_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Z0-9])")
_AWS_SECRET = re.compile(rf"(?<![{_B64}=])[{_B64}]{{40}}(?![{_B64}=])")


@dataclass(frozen=True)
class _AwsPair:
    """A bare AWS secret access key (40 base64 characters) within a few lines of its ``AKIA…`` id."""

    what: str = "an AWS secret access key"
    keywords: tuple[str, ...] = ("akia", "asia", "abia", "acca", "a3t")
    reach: int = 200

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for found in _AWS_ID.finditer(text):
            if found.start() and _TOKEN_CHAR.match(text, found.start() - 1):
                continue
            start = max(0, found.start() - self.reach)
            for secret in _AWS_SECRET.finditer(text, start, found.end() + self.reach):
                value = secret.group()
                if re.search("[a-z]", value) and re.search("[A-Z]", value) and re.search("[0-9]", value):
                    yield secret.span()


_PEM_BODY = r"(?:\\[rn]|[\s\w+/=:,.()<>@-])"
_PEM_END = r"-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"
#: Names that sound secret (not a secret).
_SECRET_WORDS = (
    r"api[_.-]?key|apikey|access[_.-]?key|secret|token|passw(?:or)?d|passphrase|pwd|credentials?|creds"  # noqa: S105
    r"|private[_.-]?key|auth|key"
)

#: Credentials with a recognisable format: replaced everywhere, what Claude reads included.
CREDENTIALS: tuple[Rule | _AwsPair, ...] = (
    _rule(
        "a private key",
        rf"-----BEGIN[ A-Z0-9_-]{{0,40}}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])*"
        rf"(?P<secret>{_PEM_BODY}*?)(?=(?:\s|\\[rn])*(?:{_PEM_END}|\Z)|[^\s\w+/=:,.()<>@\\-]|\\[^rn])",
        "private",
        lambda body: re.search(f"[{_B64}]{{20,}}", body) is not None,
        multiline=True,
    ),
    _rule(
        "a PuTTY private key",
        r"Private-Lines:\s*\d+\s+(?P<secret>[A-Za-z0-9+/=\s]+?)\s*(?:Private-MAC:\s*(?P<secret2>[0-9a-fA-F]+)|\Z)",
        "private-lines",
        multiline=True,
    ),
    _rule(
        "a base64-encoded private key",
        rf"(?<![{_B64}])LS0tLS1CRUdJTi[{_B64}]{{20,}}={{0,2}}",
        "ls0tls1crudjti",
        _encoded_private_key,
    ),
    _rule(
        "a Kubernetes client key",
        rf"client-key-data\"?\s*:\s*\"?(?P<secret>[{_B64}=]{{16,}})",
        "client-key-data",
    ),
    # cloud providers
    _rule("an AWS access key id (AKIA…)", _AWS_ID.pattern, "akia asia abia acca a3t", boundary=True),
    _AwsPair(),
    _rule(
        "an AWS secret access key",
        rf"(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?(?P<secret>[{_B64}]{{40}})(?![{_B64}=])",
        "secret",
    ),
    _rule(
        "an AWS session token",
        rf"(?<![{_B64}])(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE)[{_B64}]{{100,}}={{0,2}}",
        "iqojb3jpz2lux2vj fwogzxivyxdze",
    ),
    _token("a Google API key (AIza…)", "AIza", r"AIza[\w-]{35}"),
    _token("a Google OAuth secret (GOCSPX-…)", "GOCSPX-", r"GOCSPX-[\w-]{24,}"),
    _token("a Google OAuth token (ya29.…)", "ya29.", r"ya29\.[\w-]{20,}"),
    _rule(
        "an Azure storage or Service Bus key",
        rf"(?i)(?<![\w-])(?:AccountKey|SharedAccessKey|SharedSecret)\s*=\s*(?P<secret>[{_B64}]{{20,}}={{0,2}})",
        "accountkey sharedaccesskey sharedsecret",
    ),
    _rule(
        "an Azure client secret", r"(?<![\w~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])", "q~"
    ),
    _token("a DigitalOcean token (do…_v1_)", "dop_v1_ doo_v1_ dor_v1_", r"do[opr]_v1_[a-f0-9]{64}"),
    _token("a Heroku API key (HRKU-…)", "HRKU-", r"HRKU-AA[\w-]{58}"),
    _token("a Databricks token (dapi…)", "dapi", r"dapi[a-f0-9]{32}(?:-\d)?"),
    _token("a HashiCorp Vault token", "hvs. hvb. hvr.", r"hv[sbr]\.[\w-]{24,}"),
    _token("a Terraform Cloud token", "atlasv1", r"[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,}"),
    _token("a Doppler token (dp.…)", "dp.", r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,}"),
    _token("a Pulumi token (pul-…)", "pul-", r"pul-[a-f0-9]{40}"),
    _token("a Fly.io token", "fo1_ fm1 fm2_", r"(?:fo1_[\w-]{43}|fm[12][ar]?_[\w+/]{100,}={0,3})"),
    _token("a Netlify token (nfp_…)", "nfp_", r"nfp_[A-Za-z0-9]{36}"),
    _token("a Supabase token (sbp_…)", "sbp_", r"sbp_[a-f0-9]{40}"),
    _token("a Tailscale key (tskey-…)", "tskey-", r"tskey-[\w-]{20,}"),
    _token("a Grafana token", "glsa_ glc_", r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[\w+/]{32,}={0,3})"),
    _token("a Sentry token", "sntrys_ sntryu_", r"sntry[su]_[\w+/=]{40,}"),
    _token("a 1Password service account token", "ops_eyj", r"ops_eyJ[\w+/]{100,}={0,3}"),
    _token("an age secret key", "age-secret-key-1", r"AGE-SECRET-KEY-1[A-Z0-9]{58}"),
    # source hosts and package registries
    _token("a GitHub token (gh…_)", "ghp_ gho_ ghu_ ghs_ ghr_", r"gh[pousr]_[A-Za-z0-9]{30,255}"),
    _token("a GitHub token (github_pat_)", "github_pat_", r"github_pat_\w{60,255}"),
    _token(
        "a GitLab token (gl…-)",
        "glpat- gldt- glrt- glft- glsoat- glffct- glcbt- glimt- glagent- gloas- glptt-",
        r"gl(?:pat|dt|rt|ft|soat|ffct|cbt|imt|agent|oas|ptt)-[\w.-]{20,300}",
    ),
    _token("a GitLab runner registration token", "gr1348941", r"GR1348941[\w-]{20,}"),
    _token("a Bitbucket or Atlassian token", "atbb atatt3", r"(?:ATBB[\w=.-]{28,}|ATATT3[\w=-]{100,})"),
    _token("an npm token (npm_)", "npm_", r"npm_[A-Za-z0-9]{36}"),
    _rule("an npm auth token", r"_authToken\s*=\s*(?P<secret>[^\s\"']+)", "_authtoken", _literal_password),
    _rule(
        "npm or Docker credentials",
        rf"(?:\"auth\"\s*:\s*\"|(?<![\w-])_auth\s*=\s*)(?P<secret>[{_B64}]{{8,}}={{0,2}})",
        '"auth" _auth',
        _basic_credentials,
    ),
    _rule(
        "a Docker registry token",
        r"\"(?:identitytoken|registrytoken)\"\s*:\s*\"(?P<secret>[^\"]{8,})\"",
        "identitytoken registrytoken",
    ),
    _token("a PyPI token (pypi-…)", "pypi-", r"pypi-AgEIcHlwaS5vcmc[\w-]{50,}"),
    _token("a RubyGems key", "rubygems_", r"rubygems_[a-f0-9]{48}"),
    _rule(
        "a NuGet password",
        r"(?i)<add\s+key=\"(?:ClearText)?Password\"\s+value=\"(?P<secret>[^\"]+)\"",
        "password",
        _literal_password,
    ),
    # AI providers
    _token("an Anthropic key (sk-ant-…)", "sk-ant-", r"sk-ant-(?:api|admin|oat|sid)\d\d-[\w-]{20,}"),
    _token("an OpenAI key (sk-…)", "sk-", r"sk-(?:proj|svcacct|admin|None)-[\w-]{16,}"),
    _token("an OpenAI key (sk-…)", "t3blbkfj", r"sk-[A-Za-z0-9]{20,}T3BlbkFJ[A-Za-z0-9]{20,}"),
    _token("an API key (sk-…)", "sk-", r"sk-[A-Za-z0-9]{32,}"),
    _token("a Hugging Face token (hf_…)", "hf_", r"hf_[A-Za-z0-9]{30,}"),
    _token("a Hugging Face token (api_org_…)", "api_org_", r"api_org_[A-Za-z0-9]{30,}"),
    _token("a Groq key (gsk_…)", "gsk_", r"gsk_[A-Za-z0-9]{48,}"),
    _token("a Perplexity key (pplx-…)", "pplx-", r"pplx-[A-Za-z0-9]{40,}"),
    _token("a Replicate token (r8_…)", "r8_", r"r8_[A-Za-z0-9]{30,}"),
    _token("an xAI key (xai-…)", "xai-", r"xai-[A-Za-z0-9]{60,}"),
    # payments, messaging, mail, work tools
    _token("a Stripe key (sk_live_…)", "sk_ rk_", r"[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,99}"),
    _token("a Stripe webhook secret (whsec_…)", "whsec_", r"whsec_[A-Za-z0-9]{24,}"),
    _token("a Square token", "sq0atp- sq0csp-", r"sq0(?:atp|csp)-[\w-]{22,}"),
    _token("a Shopify token (shp…_)", "shpat_ shpss_ shpca_ shppa_", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"),
    _token("a Twilio API key (SK…)", "sk", r"SK[0-9a-fA-F]{32}"),
    _token("a SendGrid key (SG.…)", "sg.", r"SG\.[\w-]{20,24}\.[\w-]{39,50}"),
    _token("a Mailchimp key", "-us", r"[a-f0-9]{32}-us\d{1,2}"),
    _token(
        "a Slack token (xox…-)",
        "xoxa- xoxb- xoxp- xoxo- xoxs- xoxr- xoxe",
        r"xox[abposre](?:\.xox[bp])?-[A-Za-z0-9-]{10,}",
    ),
    _token("a Slack app token (xapp-…)", "xapp-", r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
    _rule(
        "a Slack webhook URL",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[\w+/-]{20,})",
        "hooks.slack.com",
    ),
    _rule(
        "a Discord webhook URL", r"discord(?:app)?\.com/api/webhooks/\d+/(?P<secret>[\w-]{60,})", "discord"
    ),
    _token(
        "a Discord bot token",
        "",
        r"[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}",
        lambda value: bool(
            re.search("[0-9]", value) and re.search("[a-z]", value) and re.search("[A-Z]", value[1:])
        ),
    ),
    _rule("a Telegram bot token", r"(?<![0-9])\d{8,10}:AA[\w-]{33}(?![\w-])", ":aa"),
    _token("a Linear key (lin_api_…)", "lin_api_", r"lin_api_[A-Za-z0-9]{40}"),
    _token("a Notion token", "ntn_ secret_", r"(?:ntn_\d{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})"),
    _token("a Postman key (PMAK-…)", "pmak-", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    # structures: JSON web tokens, URLs, HTTP headers, commands, config files
    _rule("a JSON web token (eyJ…)", r"(?<![\w-])eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{16,}", "eyj"),
    _rule(
        "a password in a URL",
        r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"<>`]*:(?P<secret>[^\s@'\"<>`]+)@",
        "://",
        _url_password,
    ),
    _rule(
        "a password in a URL's query",
        r"(?i)[?&;](?:password|passwd|pwd|pass|client_secret|secret|api[_-]?key|apikey|access_token|refresh_token|id_token|auth_token|private_token|token|sig|x-amz-signature|x-goog-signature|x-amz-security-token)=(?P<secret>[^&\s#\"'<>`]{6,})",
        "password= passwd= pwd= pass= secret= key= token= sig= signature=",
        _literal_password,
    ),
    _rule(
        "HTTP basic credentials",
        rf"(?i)\bbasic\s+(?P<secret>[{_B64}]{{8,}}={{0,2}})",
        "basic",
        _basic_credentials,
    ),
    _rule("a bearer token", r"(?i)\bbearer\s+(?P<secret>[\w.~+/-]{16,}=*)", "bearer", _random_looking),
    _rule(
        "a credential in an HTTP header",
        r"(?i)\b(?:authorization|x-api-key|api-key|x-auth-token|private-token|x-access-token|x-shopify-access-token|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?(?:(?:token|bot|apikey|key)\s+)?(?P<secret>[\w.~+/-]{16,}=*)",
        "authorization api-key auth-token private-token access-token",
        _random_looking,
    ),
    _rule(
        "a password after curl -u",
        r"\b(?:curl|wget|http)\b[^\n]*?\s(?:-u|--user)(?:\s+|=)([\"']?)[^\s:\"']*:(?P<secret>[^\s\"']+)\1",
        "-u --user",
        _literal_password,
    ),
    _rule(
        "a .netrc password",
        r"(?i)\bmachine\s+\S+(?:\s+(?:login|account)\s+\S+)*\s+password\s+(?P<secret>\S+)",
        "machine",
        _literal_password,
        multiline=True,
    ),
    _rule(
        "a password in a connection string",
        r"(?i)(?:^|[;\"'])\s*(?:password|pwd)\s*=\s*(?P<secret>[^;\"'\s>][^;\"'\s]*)(?=\s*;)",
        "password pwd",
        _literal_password,
    ),
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
        _placeholder(value)
        or _DOTTED_NAME.fullmatch(value.rstrip("!?"))
        or re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", value)
        or value.startswith("!")
        or (value.isdigit() and len(value) <= 8)
        or value.lower() in _SCHEMES
        or value in _CODE_WORDS
    )


_NAME_WORD = re.compile(rf"(?i){_SECRET_WORDS}")
_NAME_CHAR = re.compile(r"[\w.-]")
_NAMED_REST = re.compile(
    r"""(?x)[\w.-]*["'`]?\s*(?:=|:=|:|=>|\?=)\s*
    (?:(?P<q>["'`])(?P<secret>[^"'`\s][^"'`\n]{3,}?)(?P=q)|(?P<bare>[^\s"'`,;{}()\[\]<>]{4,}+)(?![(\[<]))"""
)


@dataclass(frozen=True)
class _Named:
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
class _Cookies:
    """Every value of a ``Cookie:``/``Set-Cookie:`` header line (its attributes stay)."""

    what: str = "a cookie"
    keywords: tuple[str, ...] = ("cookie",)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for line in re.finditer(r"(?im)\b(?:set-)?cookie\s*:\s*(.*)$", text):
            for pair in re.finditer(r"([^=;\s]+)=([^;\s]+)", line.group(1)):
                if not _COOKIE_ATTRIBUTES.match(pair.group(1)):
                    yield line.start(1) + pair.start(2), line.start(1) + pair.end(2)


#: Context rules, for logs only: what is probably a secret, and would also hit ordinary code.
CONTEXT: tuple[Rule | _Named | _Cookies, ...] = (
    _Named(),
    _rule(
        "a password flag",
        r"(?i)(?<![\w-])--(?:password|passwd|token|api-key|apikey|secret|client-secret|auth-token|access-token|with-token)(?:=|\s+)(?P<secret>[^\s\"'<>|-][^\s\"']*)",
        "--",
        _literal_password,
    ),
    _rule(
        "a password flag",
        r"\b(?:mysql\w*|mariadb)\b[^\n]*?\s-p(?P<secret>[^\s\"'$][^\s\"']*)",
        "mysql mariadb",
        _literal_password,
    ),
    _rule(
        "a password flag",
        r"\b(?:sshpass|docker\s+login|podman\s+login|htpasswd)\b[^\n]*?\s-p\s*(?P<secret>[^\s\"'$-][^\s\"']*)",
        "sshpass login htpasswd",
        _literal_password,
    ),
    _rule("a .pgpass line", r"(?m)^[^:\s#]+:(?:\d+|\*):[^:\s]+:[^:\s]+:(?P<secret>\S+)$", ":"),
    _rule("a .netrc password", r"(?im)^\s*password\s+(?P<secret>\S+)\s*$", "password", _literal_password),
    _rule("a password hash", r"\$(?:apr1|2[abxy]|1|5|6|y|argon2id?)\$[./A-Za-z0-9$=,]{8,}", "$"),
    _rule(
        "a secret in a URL's query",
        r"(?i)[?&;][\w.-]*(?:key|token|secret|pass|pwd|auth|sig|signature|session|credential)[\w.-]*=(?P<secret>[^&\s#\"'<>`]{4,})",
        "=",
        _literal_password,
    ),
    _rule(
        "a bearer token",
        r"(?i)\b(?:bearer|basic)\s+(?P<secret>[\w.~+/-]{8,}=*)",
        "bearer basic",
        _literal_password,
    ),
    _rule(
        "an HTTP credential",
        r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:\w+\s+)?(?P<secret>[\w.~+/-]{8,}=*)",
        "authorization",
        _literal_password,
    ),
    _rule("a JSON web token", r"(?<![\w-])eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*", "eyj"),
    _token("a Mailgun key", "key-", r"key-[a-f0-9]{32}"),
    _token("an API key (sk-…)", "sk-", r"sk-[\w-]{12,}", lambda value: re.search("[0-9]", value) is not None),
    _token("an API key (sk-…)", "sk-", r"sk-(?:proj|svcacct|admin|ant)-[\w-]{8,}"),
    _token(
        "a GitHub token",
        "ghp_ gho_ ghu_ ghs_ ghr_ github_pat_",
        r"(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_\w{20,})",
    ),
    _rule(
        "a private key",
        rf"(?s)-----BEGIN[ A-Z0-9_-]{{0,40}}PRIVATE KEY(?: BLOCK)?-----"
        rf"(?P<secret>(?:[\sA-Za-z0-9+/=:.,()<>@]|\\[rn]){{1,20000}}?){_PEM_END}",
        "private",
        lambda body: bool(body.strip()),
        multiline=True,
    ),
    _Cookies(),
)

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

_Finder = Rule | _AwsPair | _Named | _Cookies


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
    for rule in rules:
        if not rule.keywords:
            spans = rule.spans(text)
        elif isinstance(rule, Rule) and aligned and not rule.multiline:
            spans = (
                span for line in _lines_with(text, lowered, rule.keywords) for span in rule.spans(text, *line)
            )
        elif any(word in lowered for word in rule.keywords):
            spans = rule.spans(text)
        else:
            continue
        found.extend(_Found(start, -end, 1, rule.what) for start, end in spans)
    return sorted(found)


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
    _END = re.compile(_PEM_END)

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
