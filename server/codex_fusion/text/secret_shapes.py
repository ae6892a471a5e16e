"""What a credential looks like, for :mod:`codex_fusion.text.redact`: the checks on a value's shape and
the rules with a recognisable format (a vendor prefix or structure, private key blocks, passwords in
URLs, HTTP credentials that decode or look random) — :data:`CREDENTIALS`, the tier for what Claude
reads. The formats are learned from the rule sets of gitleaks and detect-secrets (ADR 0014).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

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
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Za-z_]\w*\(.*")


def placeholder(value: str) -> bool:
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
        and not placeholder(value)
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


def literal_password(value: str) -> bool:
    return not placeholder(value) and not value.isdigit()


def _url_password(value: str) -> bool:
    """Not a port (``host:8080/x@y``) and not a placeholder (``{password}``, ``$PASS``, ``password``)."""
    return not re.match(r"\d+(?:/|$)", value) and not placeholder(value)


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


def pattern_rule(
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


def token_rule(what: str, prefixes: str, pattern: str, check: Callable[[str], bool] | None = None) -> Rule:
    """A token with a vendor prefix, not glued to other token characters on either side. A pattern
    that starts with a literal needs no keywords: the regex engine scans for that literal as fast as
    ``in`` would."""
    literal = re.match(r"[A-Za-z0-9_]{2,}", pattern) is not None
    keywords = "" if literal else prefixes.lower()
    return pattern_rule(what, rf"{pattern}(?![\w-])", keywords, check, boundary=True, prefixes=prefixes)


_B64 = "A-Za-z0-9+/"
_AWS_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Z0-9])")
_AWS_SECRET = re.compile(rf"(?<![{_B64}=])[{_B64}]{{40}}(?![{_B64}=])")


@dataclass(frozen=True)
class AwsPair:
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
PEM_END = r"-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"
#: Names that sound secret (not a secret).
SECRET_WORDS = (
    r"api[_.-]?key|apikey|access[_.-]?key|secret|token|passw(?:or)?d|passphrase|pwd|credentials?|creds"  # noqa: S105
    r"|private[_.-]?key|auth|key"
)

#: Credentials with a recognisable format: replaced everywhere, what Claude reads included.
CREDENTIALS: tuple[Rule | AwsPair, ...] = (
    pattern_rule(
        "a private key",
        rf"-----BEGIN[ A-Z0-9_-]{{0,40}}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])*"
        rf"(?P<secret>{_PEM_BODY}*?)(?=(?:\s|\\[rn])*(?:{PEM_END}|\Z)|[^\s\w+/=:,.()<>@\\-]|\\[^rn])",
        "private",
        lambda body: re.search(f"[{_B64}]{{20,}}", body) is not None,
        multiline=True,
    ),
    pattern_rule(
        "a PuTTY private key",
        r"Private-Lines:\s*\d+\s+(?P<secret>[A-Za-z0-9+/=\s]+?)\s*(?:Private-MAC:\s*(?P<secret2>[0-9a-fA-F]+)|\Z)",
        "private-lines",
        multiline=True,
    ),
    pattern_rule(
        "a base64-encoded private key",
        rf"(?<![{_B64}])LS0tLS1CRUdJTi[{_B64}]{{20,}}={{0,2}}",
        "ls0tls1crudjti",
        _encoded_private_key,
    ),
    pattern_rule(
        "a Kubernetes client key",
        rf"client-key-data\"?\s*:\s*\"?(?P<secret>[{_B64}=]{{16,}})",
        "client-key-data",
    ),
    # cloud providers
    pattern_rule("an AWS access key id (AKIA…)", _AWS_ID.pattern, "akia asia abia acca a3t", boundary=True),
    AwsPair(),
    pattern_rule(
        "an AWS secret access key",
        rf"(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?(?P<secret>[{_B64}]{{40}})(?![{_B64}=])",
        "secret",
    ),
    pattern_rule(
        "an AWS session token",
        rf"(?<![{_B64}])(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE)[{_B64}]{{100,}}={{0,2}}",
        "iqojb3jpz2lux2vj fwogzxivyxdze",
    ),
    token_rule("a Google API key (AIza…)", "AIza", r"AIza[\w-]{35}"),
    token_rule("a Google OAuth secret (GOCSPX-…)", "GOCSPX-", r"GOCSPX-[\w-]{24,}"),
    token_rule("a Google OAuth token (ya29.…)", "ya29.", r"ya29\.[\w-]{20,}"),
    pattern_rule(
        "an Azure storage or Service Bus key",
        rf"(?i)(?<![\w-])(?:AccountKey|SharedAccessKey|SharedSecret)\s*=\s*(?P<secret>[{_B64}]{{20,}}={{0,2}})",
        "accountkey sharedaccesskey sharedsecret",
    ),
    pattern_rule(
        "an Azure client secret", r"(?<![\w~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])", "q~"
    ),
    token_rule("a DigitalOcean token (do…_v1_)", "dop_v1_ doo_v1_ dor_v1_", r"do[opr]_v1_[a-f0-9]{64}"),
    token_rule("a Heroku API key (HRKU-…)", "HRKU-", r"HRKU-AA[\w-]{58}"),
    token_rule("a Databricks token (dapi…)", "dapi", r"dapi[a-f0-9]{32}(?:-\d)?"),
    token_rule("a HashiCorp Vault token", "hvs. hvb. hvr.", r"hv[sbr]\.[\w-]{24,}"),
    token_rule("a Terraform Cloud token", "atlasv1", r"[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,}"),
    token_rule("a Doppler token (dp.…)", "dp.", r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,}"),
    token_rule("a Pulumi token (pul-…)", "pul-", r"pul-[a-f0-9]{40}"),
    token_rule("a Fly.io token", "fo1_ fm1 fm2_", r"(?:fo1_[\w-]{43}|fm[12][ar]?_[\w+/]{100,}={0,3})"),
    token_rule("a Netlify token (nfp_…)", "nfp_", r"nfp_[A-Za-z0-9]{36}"),
    token_rule("a Supabase token (sbp_…)", "sbp_", r"sbp_[a-f0-9]{40}"),
    token_rule("a Tailscale key (tskey-…)", "tskey-", r"tskey-[\w-]{20,}"),
    token_rule(
        "a Grafana token", "glsa_ glc_", r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[\w+/]{32,}={0,3})"
    ),
    token_rule("a Sentry token", "sntrys_ sntryu_", r"sntry[su]_[\w+/=]{40,}"),
    token_rule("a 1Password service account token", "ops_eyj", r"ops_eyJ[\w+/]{100,}={0,3}"),
    token_rule("an age secret key", "age-secret-key-1", r"AGE-SECRET-KEY-1[A-Z0-9]{58}"),
    # source hosts and package registries
    token_rule("a GitHub token (gh…_)", "ghp_ gho_ ghu_ ghs_ ghr_", r"gh[pousr]_[A-Za-z0-9]{30,255}"),
    token_rule("a GitHub token (github_pat_)", "github_pat_", r"github_pat_\w{60,255}"),
    token_rule(
        "a GitLab token (gl…-)",
        "glpat- gldt- glrt- glft- glsoat- glffct- glcbt- glimt- glagent- gloas- glptt-",
        r"gl(?:pat|dt|rt|ft|soat|ffct|cbt|imt|agent|oas|ptt)-[\w.-]{20,300}",
    ),
    token_rule("a GitLab runner registration token", "gr1348941", r"GR1348941[\w-]{20,}"),
    token_rule("a Bitbucket or Atlassian token", "atbb atatt3", r"(?:ATBB[\w=.-]{28,}|ATATT3[\w=-]{100,})"),
    token_rule("an npm token (npm_)", "npm_", r"npm_[A-Za-z0-9]{36}"),
    pattern_rule(
        "an npm auth token", r"_authToken\s*=\s*(?P<secret>[^\s\"']+)", "_authtoken", literal_password
    ),
    pattern_rule(
        "npm or Docker credentials",
        rf"(?:\"auth\"\s*:\s*\"|(?<![\w-])_auth\s*=\s*)(?P<secret>[{_B64}]{{8,}}={{0,2}})",
        '"auth" _auth',
        _basic_credentials,
    ),
    pattern_rule(
        "a Docker registry token",
        r"\"(?:identitytoken|registrytoken)\"\s*:\s*\"(?P<secret>[^\"]{8,})\"",
        "identitytoken registrytoken",
    ),
    token_rule("a PyPI token (pypi-…)", "pypi-", r"pypi-AgEIcHlwaS5vcmc[\w-]{50,}"),
    token_rule("a RubyGems key", "rubygems_", r"rubygems_[a-f0-9]{48}"),
    pattern_rule(
        "a NuGet password",
        r"(?i)<add\s+key=\"(?:ClearText)?Password\"\s+value=\"(?P<secret>[^\"]+)\"",
        "password",
        literal_password,
    ),
    # AI providers
    token_rule("an Anthropic key (sk-ant-…)", "sk-ant-", r"sk-ant-(?:api|admin|oat|sid)\d\d-[\w-]{20,}"),
    token_rule("an OpenAI key (sk-…)", "sk-", r"sk-(?:proj|svcacct|admin|None)-[\w-]{16,}"),
    token_rule("an OpenAI key (sk-…)", "t3blbkfj", r"sk-[A-Za-z0-9]{20,}T3BlbkFJ[A-Za-z0-9]{20,}"),
    token_rule("an API key (sk-…)", "sk-", r"sk-[A-Za-z0-9]{32,}"),
    token_rule("a Hugging Face token (hf_…)", "hf_", r"hf_[A-Za-z0-9]{30,}"),
    token_rule("a Hugging Face token (api_org_…)", "api_org_", r"api_org_[A-Za-z0-9]{30,}"),
    token_rule("a Groq key (gsk_…)", "gsk_", r"gsk_[A-Za-z0-9]{48,}"),
    token_rule("a Perplexity key (pplx-…)", "pplx-", r"pplx-[A-Za-z0-9]{40,}"),
    token_rule("a Replicate token (r8_…)", "r8_", r"r8_[A-Za-z0-9]{30,}"),
    token_rule("an xAI key (xai-…)", "xai-", r"xai-[A-Za-z0-9]{60,}"),
    # payments, messaging, mail, work tools
    token_rule("a Stripe key (sk_live_…)", "sk_ rk_", r"[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,99}"),
    token_rule("a Stripe webhook secret (whsec_…)", "whsec_", r"whsec_[A-Za-z0-9]{24,}"),
    token_rule("a Square token", "sq0atp- sq0csp-", r"sq0(?:atp|csp)-[\w-]{22,}"),
    token_rule(
        "a Shopify token (shp…_)", "shpat_ shpss_ shpca_ shppa_", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"
    ),
    token_rule("a Twilio API key (SK…)", "sk", r"SK[0-9a-fA-F]{32}"),
    token_rule("a SendGrid key (SG.…)", "sg.", r"SG\.[\w-]{20,24}\.[\w-]{39,50}"),
    token_rule("a Mailchimp key", "-us", r"[a-f0-9]{32}-us\d{1,2}"),
    token_rule(
        "a Slack token (xox…-)",
        "xoxa- xoxb- xoxp- xoxo- xoxs- xoxr- xoxe",
        r"xox[abposre](?:\.xox[bp])?-[A-Za-z0-9-]{10,}",
    ),
    token_rule("a Slack app token (xapp-…)", "xapp-", r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
    pattern_rule(
        "a Slack webhook URL",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[\w+/-]{20,})",
        "hooks.slack.com",
    ),
    pattern_rule(
        "a Discord webhook URL", r"discord(?:app)?\.com/api/webhooks/\d+/(?P<secret>[\w-]{60,})", "discord"
    ),
    token_rule(
        "a Discord bot token",
        "",
        r"[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}",
        lambda value: bool(
            re.search("[0-9]", value) and re.search("[a-z]", value) and re.search("[A-Z]", value[1:])
        ),
    ),
    pattern_rule("a Telegram bot token", r"(?<![0-9])\d{8,10}:AA[\w-]{33}(?![\w-])", ":aa"),
    token_rule("a Linear key (lin_api_…)", "lin_api_", r"lin_api_[A-Za-z0-9]{40}"),
    token_rule("a Notion token", "ntn_ secret_", r"(?:ntn_\d{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})"),
    token_rule("a Postman key (PMAK-…)", "pmak-", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    # structures: JSON web tokens, URLs, HTTP headers, commands, config files
    pattern_rule("a JSON web token (eyJ…)", r"(?<![\w-])eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{16,}", "eyj"),
    pattern_rule(
        "a password in a URL",
        r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"<>`]*:(?P<secret>[^\s@'\"<>`]+)@",
        "://",
        _url_password,
    ),
    pattern_rule(
        "a password in a URL's query",
        r"(?i)[?&;](?:password|passwd|pwd|pass|client_secret|secret|api[_-]?key|apikey|access_token|refresh_token|id_token|auth_token|private_token|token|sig|x-amz-signature|x-goog-signature|x-amz-security-token)=(?P<secret>[^&\s#\"'<>`]{6,})",
        "password= passwd= pwd= pass= secret= key= token= sig= signature=",
        literal_password,
    ),
    pattern_rule(
        "HTTP basic credentials",
        rf"(?i)\bbasic\s+(?P<secret>[{_B64}]{{8,}}={{0,2}})",
        "basic",
        _basic_credentials,
    ),
    pattern_rule("a bearer token", r"(?i)\bbearer\s+(?P<secret>[\w.~+/-]{16,}=*)", "bearer", _random_looking),
    pattern_rule(
        "a credential in an HTTP header",
        r"(?i)\b(?:authorization|x-api-key|api-key|x-auth-token|private-token|x-access-token|x-shopify-access-token|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?(?:(?:token|bot|apikey|key)\s+)?(?P<secret>[\w.~+/-]{16,}=*)",
        "authorization api-key auth-token private-token access-token",
        _random_looking,
    ),
    pattern_rule(
        "a password after curl -u",
        r"\b(?:curl|wget|http)\b[^\n]*?\s(?:-u|--user)(?:\s+|=)([\"']?)[^\s:\"']*:(?P<secret>[^\s\"']+)\1",
        "-u --user",
        literal_password,
    ),
    pattern_rule(
        "a .netrc password",
        r"(?i)\bmachine\s+\S+(?:\s+(?:login|account)\s+\S+)*\s+password\s+(?P<secret>\S+)",
        "machine",
        literal_password,
        multiline=True,
    ),
    pattern_rule(
        "a password in a connection string",
        r"(?i)(?:^|[;\"'])\s*(?:password|pwd)\s*=\s*(?P<secret>[^;\"'\s>][^;\"'\s]*)(?=\s*;)",
        "password pwd",
        literal_password,
    ),
)
