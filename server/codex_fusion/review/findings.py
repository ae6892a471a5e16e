"""Findings in a review answer: the block the prompts ask for, a tolerant parser, and a deterministic
merge across members. Pure: no model is involved, and nothing here rewrites what a member wrote.

The block (:data:`codex_fusion.text.prompts.FINDINGS_BLOCK`) is one line per finding::

    FINDING: [major] cache.py:42-44 — stale read after a write — evidence: put() skips invalidate()

Besides it, the parser reads the shapes models write unasked: a bullet or numbered line with a
severity word (``major``, ``[critical]``, ``high:``, ``**Minor**``) and a location (``path:line``,
``path:line-line``, `` `path` line N``, ``path (lines N-M)``, ``step N`` of a plan). A line without
both is prose, never a finding.

Who raised a finding is never read from the text: it is the member whose answer the line is in. A
member that writes "raised by codex" or a table row only writes words into its own claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SEVERITIES = ("critical", "major", "minor", "nit")  #: most severe first
#: Severity words models use, on this scale (critical/high/medium/low maps one step per level).
_SEVERITY_WORDS = {
    "critical": "critical",
    "blocker": "critical",
    "severe": "critical",
    "high": "major",
    "major": "major",
    "medium": "minor",
    "moderate": "minor",
    "minor": "minor",
    "low": "nit",
    "nit": "nit",
    "nitpick": "nit",
    "trivial": "nit",
}
MAX_CLAIM = 300
MAX_EVIDENCE = 500


_SEVERITY = "|".join(sorted(_SEVERITY_WORDS, key=len, reverse=True))
_MARKER = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+")
_OWN = re.compile(r"^\s*(?:[-*•+]\s*)?FINDINGS?\s*:\s*", re.IGNORECASE)
_NONE = re.compile(r"^\s*(?:[-*•+]\s*)?FINDINGS?\s*:\s*none\b", re.IGNORECASE)
_SEV = re.compile(
    rf"^[\s*_`]*[\[(]?(?P<word>{_SEVERITY})\b(?!-)[\])]?(?:\s+(?:severity|priority|issue))?[\s*_`]*[:\])]?[\s*_`]*",
    re.IGNORECASE,
)
_PATH = r"(?P<path>(?:[\w@+.-]+/)*[\w@+-][\w@+.-]*\.[A-Za-z0-9]{1,10})"
_LINES = r"(?P<start>\d{1,7})(?:\s*[-–]\s*L?(?P<end>\d{1,7}))?"
_LOCATIONS = (
    re.compile(rf"`?{_PATH}`?:L?{_LINES}\b"),
    re.compile(rf"`?{_PATH}`?,?\s*\(?\s*(?:at\s+)?lines?\s+{_LINES}\)?", re.IGNORECASE),
    re.compile(rf"`?{_PATH}`?#L{_LINES}\b"),
)
_STEP = re.compile(r"\b(?:plan\s+)?step\s+(?P<step>\d{1,3})\b", re.IGNORECASE)
_BARE_PATH = re.compile(rf"(?<![\w/]){_PATH}(?![\w/])")
_EVIDENCE = re.compile(r"\s*[—–-]*\s*\(?\s*evidence\s*[:—–-]\s*", re.IGNORECASE)
_SEPARATORS = " \t—–-:|,;*_`"


@dataclass(frozen=True)
class Finding:
    """One finding as one member wrote it (``line``: where in its answer, 1-based)."""

    severity: str
    path: str | None  # None: a plan step
    start: int | None
    end: int | None
    claim: str
    evidence: str = ""
    step: int | None = None
    line: int = 0

    @property
    def location(self) -> str:
        if self.path is None:
            return f"step {self.step}"
        if self.start is None:
            return self.path
        return f"{self.path}:{self.start}" + (f"-{self.end}" if self.end and self.end != self.start else "")


@dataclass(frozen=True)
class Parsed:
    """What the parser found in one answer: ``status`` is ``"findings"``, ``"none"`` (the member said
    it found nothing) or ``"unparsed"`` (no findings block and no line the parser could read)."""

    findings: tuple[Finding, ...]
    status: str


def severity_of(word: str) -> str | None:
    return _SEVERITY_WORDS.get(word.strip().lower())


def parse(answer: str) -> Parsed:
    """Every finding line of ``answer``, in order."""
    found: list[Finding] = []
    said_none = False
    for number, raw in enumerate(answer.splitlines(), start=1):
        if _NONE.match(raw):
            said_none = True
            continue
        finding = _line(raw, number)
        if finding is not None:
            found.append(finding)
    if found:
        return Parsed(tuple(found), "findings")
    return Parsed((), "none" if said_none else "unparsed")


def _line(raw: str, number: int) -> Finding | None:
    own = _OWN.match(raw)
    marker = own or _MARKER.match(raw)
    if marker is None or len(raw) > 2000:
        return None
    rest = raw[marker.end() :]
    sev = _SEV.match(rest)
    if sev is None:
        return None
    severity = severity_of(sev["word"])
    assert severity is not None
    rest = rest[sev.end() :]
    located = _locate(rest, own is not None)
    if located is None:
        return None
    path, start, end, step, span = located
    claim_text = (rest[: span[0]] + " " + rest[span[1] :]).strip(_SEPARATORS)
    parts = _EVIDENCE.split(claim_text, maxsplit=1)
    claim = _clean(parts[0], MAX_CLAIM)
    evidence = parts[1] if len(parts) > 1 else ""
    if not claim:
        return None
    if start is not None and end is not None and end < start:
        start, end = end, start
    return Finding(severity, path, start, end, claim, _clean(evidence, MAX_EVIDENCE), step, number)


def _locate(
    text: str, own: bool
) -> tuple[str | None, int | None, int | None, int | None, tuple[int, int]] | None:
    """(path, start, end, step, span) of the first location in ``text``."""
    best: re.Match[str] | None = None
    for pattern in _LOCATIONS:
        match = pattern.search(text)
        if match is not None and (best is None or match.start() < best.start()):
            best = match
    if best is not None:
        end = int(best["end"]) if best["end"] else None
        return normal_path(best["path"]), int(best["start"]), end, None, best.span()
    step = _STEP.search(text)
    if step is not None:
        return None, None, None, int(step["step"]), step.span()
    if own:  # the block's own format may name a file without a line
        bare = _BARE_PATH.search(text)
        if bare is not None:
            return normal_path(bare["path"]), None, None, None, bare.span()
    return None


def _clean(text: str, limit: int) -> str:
    text = " ".join(text.replace("**", "").split()).strip(_SEPARATORS + " ")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def normal_path(path: str) -> str:
    path = path.strip("`'\"")
    while path.startswith("./"):
        path = path[2:]
    return path


# -- the merge ----------------------------------------------------------------------------------------

#: Lines this far apart still count as one place (models cite the same defect a line or two apart).
NEAR = 2
_STOP = frozenset(
    {
        "the",
        "and",
        "for",
        "with",
        "this",
        "that",
        "from",
        "into",
        "when",
        "then",
        "than",
        "not",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "but",
        "its",
        "can",
        "may",
        "might",
        "will",
        "would",
        "should",
        "could",
        "does",
        "did",
        "also",
        "only",
        "just",
        "any",
        "all",
        "one",
        "two",
        "out",
        "use",
        "used",
        "uses",
        "using",
        "line",
        "lines",
        "file",
        "code",
        "here",
        "there",
        "which",
        "what",
        "where",
        "who",
        "why",
        "how",
        "get",
        "set",
    }
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def _terms(text: str) -> frozenset[str]:
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if len(word) > len(suffix) + 3 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        words.add(word)
    return frozenset(words)


def similarity(a: str, b: str) -> float:
    """How much two claims say the same: shared terms over the shorter claim's terms; 0 unless at
    least two terms are shared (or the shorter claim has one term, and it is shared)."""
    ta, tb = _terms(a), _terms(b)
    shared = len(ta & tb)
    shorter = min(len(ta), len(tb))
    if shorter == 0 or shared < min(2, shorter):
        return 0.0
    return shared / shorter


#: Claims at least this similar, at one place, are one finding.
SAME_CLAIM = 0.5


@dataclass(frozen=True)
class Raised:
    """One member's raising of a merged finding."""

    member: str
    finding: Finding


@dataclass
class Merged:
    """One finding after the merge: where, what (the first raiser's words), and who raised it."""

    id: str
    path: str | None
    start: int | None
    end: int | None
    step: int | None
    raised: list[Raised] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return min((r.finding.severity for r in self.raised), key=SEVERITIES.index)

    @property
    def claim(self) -> str:
        return self.raised[0].finding.claim

    @property
    def evidence(self) -> str:
        return next((r.finding.evidence for r in self.raised if r.finding.evidence), "")

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.member for r in self.raised))

    @property
    def lone(self) -> bool:
        return len(self.members) == 1

    @property
    def location(self) -> str:
        return Finding(self.severity, self.path, self.start, self.end, "", step=self.step).location

    def _near(self, finding: Finding) -> bool:
        if finding.path != self.path:
            return False
        if self.path is None:
            return finding.step == self.step
        if finding.start is None or self.start is None:
            return True  # a file named without a line: the claim decides
        end = self.end or self.start
        other_end = finding.end or finding.start
        return finding.start <= end + NEAR and self.start <= other_end + NEAR

    def matches(self, finding: Finding) -> float:
        """How well ``finding`` matches this one (same place, a claim saying the same); 0: not at all."""
        if not self._near(finding):
            return 0.0
        best = max(similarity(r.finding.claim, finding.claim) for r in self.raised)
        return best if best >= SAME_CLAIM else 0.0

    def score(self, member: str, finding: Finding) -> float:
        """:meth:`matches`, and 0 for a member that raised this one already (its own lines are two
        problems)."""
        return 0.0 if member in self.members else self.matches(finding)

    def add(self, member: str, finding: Finding) -> None:
        self.raised.append(Raised(member, finding))
        if finding.start is not None:
            self.start = finding.start if self.start is None else min(self.start, finding.start)
            ends = [e for e in (self.end, finding.end, finding.start) if e is not None]
            self.end = max(ends) if ends else None


def resolve(path: str | None, renames: Mapping[str, str], known: Iterable[str] = ()) -> str | None:
    """``path`` as the change names it now: renamed (old → new), a ``a/``/``b/`` diff prefix dropped,
    or the one known path it is a suffix of."""
    if path is None:
        return None
    path = renames.get(path, path)
    known = set(known)
    if not known or path in known:
        return path
    for prefix in ("a/", "b/"):
        if path.startswith(prefix) and renames.get(path[2:], path[2:]) in known:
            return renames.get(path[2:], path[2:])
    tails = [k for k in known if k.endswith("/" + path)]
    return tails[0] if len(tails) == 1 else path


def merge(
    answers: Mapping[str, Sequence[Finding]],
    *,
    renames: Mapping[str, str] | None = None,
    known: Iterable[str] = (),
    into: Sequence[Merged] = (),
) -> list[Merged]:
    """Merge every member's findings (``answers``, in member order) into ``into`` (earlier rows keep
    their ids; new rows get the next ones). A member's own findings are never merged with each other:
    two lines of one answer are two problems."""
    renames = dict(renames or {})
    known = tuple(known)
    rows = list(into)
    fresh: list[Merged] = []
    for member, findings in answers.items():
        for finding in findings:
            path = resolve(finding.path, renames, known)
            if path != finding.path:
                finding = Finding(
                    finding.severity,
                    path,
                    finding.start,
                    finding.end,
                    finding.claim,
                    finding.evidence,
                    finding.step,
                    finding.line,
                )
            scored = [(row.score(member, finding), index) for index, row in enumerate(rows + fresh)]
            best = max(scored, default=(0.0, -1), key=lambda item: (item[0], -item[1]))
            if best[0] > 0:
                (rows + fresh)[best[1]].add(member, finding)
                continue
            row = Merged("", finding.path, finding.start, finding.end or finding.start, finding.step)
            row.add(member, finding)
            fresh.append(row)
    fresh.sort(key=_order)
    number = len(rows)
    for row in fresh:
        number += 1
        row.id = f"F{number}"
    return rows + fresh


def _order(row: Merged) -> tuple[int, str, int, int]:
    return (SEVERITIES.index(row.severity), row.path or "", row.step or 0, row.start or 0)


def at_or_above(rows: Iterable[Merged], severity: str) -> list[Merged]:
    rank = SEVERITIES.index(severity)
    return [row for row in rows if SEVERITIES.index(row.severity) <= rank]


def cell(text: str, limit: int = 140) -> str:
    """``text`` as one markdown table cell: one line, ``|`` escaped (a claim cannot add a column or
    a row), at most ``limit`` characters."""
    text = " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def markdown(rows: Sequence[Merged], limit: int = 40) -> list[str]:
    """The rows as a markdown table of id, severity, location and claim (a split review's parts)."""
    if not rows:
        return []
    lines = ["| id | severity | location | claim |", "|---|---|---|---|"]
    lines += [f"| {r.id} | {r.severity} | {cell(r.location, 80)} | {cell(r.claim)} |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"(and {len(rows) - limit} more, in the parts below)")
    return lines
