"""The review gate at Stop: its settings, Codex's findings, the decision table, and what it says.

When Claude is about to end a turn that changed files, the gate asks Codex to review exactly that
change and blocks the stop only on findings at or above a severity threshold (ADR 0017). The
decision is :func:`decide`, a pure function of what the hook knows (gate on, ``stop_hook_active``,
changed or not, blocks used, the cap) and of a review it calls only when all of those allow it:

- off, or a stop that is the gate's own continuation (``stop_hook_active``): nothing, no review;
- nothing changed since the turn began (or since the last gate): nothing, no review;
- the change is unknown (no snapshot): through, saying so in one line, no review;
- the cap on blocks per conversation used up: through, with a one-line summary of what the last
  review left open, no review;
- the review failed (not logged in, quota, timeout, agent missing, anything): through, in one line;
  when Codex was *unavailable* (out of quota or rate-limited, not logged in, timed out, crashed) the
  line says so and why — an unavailable reviewer is never a finding, so it can neither block nor loop;
- findings at or above the threshold: block, with the findings and how to turn the gate off;
- otherwise: through, in one line.

Standard library only and importable on Python 3.9: the hook runs it. The texts Claude and the user
read are here rather than in ``render.py`` for that reason.
"""

from __future__ import annotations

import re

from codex_fusion.hookside import options
from codex_fusion.hookside.visible import one_line

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, keeps `typing` off the hook's start-up path
    from collections.abc import Callable, Mapping

SEVERITIES = ("blocker", "major", "minor")  #: most severe first; the scale ``review_diff`` uses
MAX_FINDINGS_SHOWN = 12
#: What the gate's answer format asks for, one finding per line (prompts.gate_review).
_FINDING = re.compile(
    r"^\s*[-*]?\s*FINDING:\s*\[?(?P<severity>blocker|critical|major|minor)\]?\s+(?P<location>\S+)\s*[—–-]+\s*(?P<text>.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_NONE = re.compile(r"^\s*[-*]?\s*FINDING:\s*none\b", re.IGNORECASE | re.MULTILINE)


class Settings:
    """The gate's options (env > plugin option > default, as everywhere: ``options.py``)."""

    __slots__ = ("enabled", "enabled_by", "max_blocks", "threshold", "timeout")

    def __init__(
        self, enabled: bool, enabled_by: str, max_blocks: int, threshold: str, timeout: float
    ) -> None:
        self.enabled = enabled
        self.enabled_by = enabled_by  # "env" | "option" | "default": how to turn it off
        self.max_blocks = max_blocks
        self.threshold = threshold
        self.timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings; a value that does not parse falls back to the default (the gate must never
        break a stop over its own configuration; ``status`` shows the sources)."""
        flag, source = options.lookup(env, "review_gate")
        enabled = (flag or "").strip().lower() in ("1", "true", "yes", "on")
        blocks = _number(options.lookup(env, "review_gate_max_blocks")[0], 2, 1, 10)
        threshold = (options.lookup(env, "review_gate_severity")[0] or "major").strip().lower()
        timeout = _number(options.lookup(env, "review_gate_timeout")[0], 120, 10, 540)
        return cls(enabled, source, int(blocks), threshold if threshold in SEVERITIES else "major", timeout)


def _number(raw: str | None, default: float, low: float, high: float) -> float:
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        return default
    return min(max(value, low), high) if value == value else default


class Finding:
    __slots__ = ("location", "severity", "text")

    def __init__(self, severity: str, location: str, text: str) -> None:
        self.severity = "blocker" if severity.lower() == "critical" else severity.lower()
        self.location = location
        self.text = text

    def line(self) -> str:
        # the reviewer's words: no line break or terminal control of theirs reaches Claude raw
        return f"- [{self.severity}] {one_line(self.location, 300)} — {one_line(self.text, 1000)}"

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "location": self.location, "text": self.text}

    @classmethod
    def from_json(cls, raw: object) -> Finding | None:
        if not isinstance(raw, dict):
            return None
        severity, location, text = raw.get("severity"), raw.get("location"), raw.get("text")
        if severity not in SEVERITIES or not isinstance(location, str) or not isinstance(text, str):
            return None
        return cls(severity, location[:300], text[:1000])


def parse_findings(answer: str) -> list[Finding] | None:
    """Codex's ``FINDING:`` lines; ``[]`` for ``FINDING: none``; None when it gave neither."""
    found = [Finding(m["severity"], m["location"], m["text"]) for m in _FINDING.finditer(answer)]
    if found or _NONE.search(answer):
        return found
    return None


def blocking(findings: list[Finding], threshold: str) -> list[Finding]:
    rank = SEVERITIES.index(threshold)
    return [f for f in findings if SEVERITIES.index(f.severity) <= rank]


class Review:
    """What a review produced: findings, or the failure that kept it from producing them."""

    __slots__ = ("failure", "findings", "model", "unavailable")

    def __init__(
        self,
        findings: list[Finding] | None = None,
        failure: str | None = None,
        model: str | None = None,
        unavailable: str | None = None,
    ):
        self.findings = findings or []
        self.failure = failure  # one line: what went wrong and what to do
        self.model = model
        self.unavailable = unavailable  # why Codex could not review (quota, login, timeout, crash)

    def to_json(self) -> dict[str, object]:
        return {
            "version": 1,
            "findings": [f.to_json() for f in self.findings],
            "failure": self.failure,
            "model": self.model,
            "unavailable": self.unavailable,
        }

    @classmethod
    def from_json(cls, raw: object) -> Review:
        if not isinstance(raw, dict) or raw.get("version") != 1:
            return cls(failure="the review answered something codex-fusion does not understand")
        findings = [f for f in map(Finding.from_json, raw.get("findings") or []) if f is not None]
        failure = raw.get("failure")
        model = raw.get("model")
        down = raw.get("unavailable")
        return cls(
            findings,
            _one_line(failure) if isinstance(failure, str) and failure else None,
            model if isinstance(model, str) else None,
            _one_line(down, 60) if isinstance(down, str) and down else None,
        )


class Decision:
    """What the hook answers Claude Code: ``block`` (with ``reason`` for Claude) or ``allow`` (with
    an optional one-line ``message`` for the user); ``open`` is the summary to keep for later."""

    __slots__ = ("action", "message", "open", "reason", "reviewed")

    def __init__(
        self,
        action: str,
        *,
        reason: str | None = None,
        message: str | None = None,
        reviewed: bool = False,
        open: str | None = None,
    ) -> None:
        self.action = action
        self.reason = reason
        self.message = message
        self.reviewed = reviewed
        self.open = open

    def output(self) -> dict[str, object] | None:
        """The hook's JSON on stdout, or None to print nothing."""
        if self.action == "block":
            return {"decision": "block", "reason": self.reason}
        if self.message:
            return {"systemMessage": self.message}
        return None

    def __repr__(self) -> str:
        return f"Decision({self.action!r}, reviewed={self.reviewed}, message={self.message!r})"


def decide(
    settings: Settings,
    *,
    active: bool,
    changed: bool | None,
    unknown_why: str = "",
    blocks: int,
    still_open: str | None,
    review: Callable[[], Review],
    how_to_disable: str,
) -> Decision:
    """The gate's decision table (see the module docstring); ``review`` runs only when needed."""
    if not settings.enabled or active:
        return Decision("allow")
    if changed is False:
        return Decision("allow")
    if changed is None:
        return Decision(
            "allow", message=f"{TAG}: cannot tell what this turn changed ({unknown_why}); not reviewed."
        )
    if blocks >= settings.max_blocks:
        left = f"still open from the last review: {still_open}" if still_open else "nothing left open"
        return Decision(
            "allow",
            message=f"{TAG}: {blocks} of {settings.max_blocks} blocks used in this conversation, so this "
            f"change was not reviewed; {left}. Ask for /codex-fusion:review-diff to check it.",
            open=still_open,
        )
    result = review()
    if result.unavailable is not None:
        return Decision(
            "allow",
            message=f"{TAG}: not reviewed, the stop goes through — {result.failure or 'no detail'} "
            f"(Codex is unavailable: {result.unavailable}; that is not a finding)",
            reviewed=True,
        )
    if result.failure is not None:
        return Decision(
            "allow", message=f"{TAG}: not reviewed, the stop goes through — {result.failure}", reviewed=True
        )
    stopping = blocking(result.findings, settings.threshold)
    lesser = len(result.findings) - len(stopping)
    if not stopping:
        extra = f" ({lesser} below {settings.threshold}, not blocking)" if lesser else ""
        return Decision(
            "allow",
            message=f"{TAG}: Codex found nothing at or above {settings.threshold} in this turn's "
            f"change{extra}.",
            reviewed=True,
        )
    return Decision(
        "block",
        reason=_reason(settings, stopping, lesser, blocks + 1, how_to_disable),
        reviewed=True,
        open=_summary(stopping),
    )


TAG = "codex-fusion review gate"


def _reason(
    settings: Settings, stopping: list[Finding], lesser: int, number: int, how_to_disable: str
) -> str:
    shown = stopping[:MAX_FINDINGS_SHOWN]
    more = f"\n(and {len(stopping) - len(shown)} more)" if len(stopping) > len(shown) else ""
    below = f" {lesser} lesser finding(s) are not blocking." if lesser else ""
    return (
        f"{TAG} (block {number} of {settings.max_blocks} in this conversation): Codex reviewed the files "
        f"this turn changed and found {len(stopping)} problem(s) at or above {settings.threshold}:\n"
        + "\n".join(f.line() for f in shown)
        + more
        + f"\nFix them, or tell the user why they are not problems, then finish.{below} "
        f"Codex's review is in its session: `reply` to it to dispute a finding.\n"
        f"To turn the gate off: {how_to_disable}"
    )


def _summary(findings: list[Finding]) -> str:
    counts = ", ".join(
        f"{sum(f.severity == s for f in findings)} {s}"
        for s in SEVERITIES
        if any(f.severity == s for f in findings)
    )
    first = findings[0]
    return _one_line(f"{counts} ({first.location}: {first.text}{' …' if len(findings) > 1 else ''})", 240)


def _one_line(text: str, limit: int = 300) -> str:
    return one_line(text, limit)  # every line break and control character as a visible token


def how_to_disable(settings: Settings, plugin_data: str | None) -> str:
    """The exact way to turn the gate off, for how it was turned on."""
    if settings.enabled_by == "env":
        return "unset CODEX_FUSION_REVIEW_GATE (or set it to 0) where Claude Code is started, and restart it."
    plugin = "codex-fusion@" + _marketplace(plugin_data)
    return (
        f"run `/plugin`, pick {plugin}, Configure, set review_gate to false — or in a shell: "
        f'echo \'{{"review_gate": "false"}}\' | claude plugin configure {plugin} --values-stdin — then '
        "restart Claude Code."
    )


def _marketplace(plugin_data: str | None) -> str:
    """The marketplace name from ``${CLAUDE_PLUGIN_DATA}`` (``…/data/codex-fusion-<marketplace>``)."""
    import os

    name = os.path.basename(os.path.normpath(plugin_data)) if plugin_data else ""
    prefix = "codex-fusion-"
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else "<marketplace>"
