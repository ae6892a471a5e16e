"""Findings coverage (issue 27): planted defects, four mock members of fixed recall, one council
review through ``codex-fusion review --json`` (the council fan-out with real agent processes — the
scripted fake agent — the parser, the merge and the report), scored against what each member was
scripted to report.

The artifacts: 18 files in six languages with 6 planted defects each (108), one pair per file on
neighbouring lines with different problems. Each member finds each defect with its own recall
(seeded), cites it a line off now and then, words it in its own shape (the block the prompt asks for,
``- high: path:line``, ``1. [major] `path` line N``, ``* **Major** — path (lines N-M)``) from the
defect's vocabulary, and adds a few false positives of its own. What is measured is the pipeline,
not models: whether every reported finding reaches the table, whether rows merge exactly the same
defect (no false merges, no splits), and whether each row names exactly who raised it; then the
union's coverage for 1–4 members and the share of lone findings, computed from the table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import random
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from bench.common import FAKE_AGENT, Lab
from bench.report import Figure

LANGUAGES = (("py", "#"), ("ts", "//"), ("go", "//"), ("rs", "//"), ("java", "//"), ("rb", "#"))
FILES_PER_LANGUAGE = 3
DEFECTS_PER_FILE = 6
LINES_PER_FILE = 70
#: Each problem's vocabulary: a member words a defect with four of its five terms.
PROBLEMS = {
    "sql": ("sql", "query", "concatenation", "injection", "parameterize"),
    "null": ("null", "dereference", "pointer", "nil", "guard"),
    "bounds": ("boundary", "index", "fencepost", "range", "exclusive"),
    "race": ("race", "concurrent", "mutex", "lock", "unsynchronized"),
    "leak": ("resource", "leak", "handle", "closed", "descriptor"),
    "secret": ("secret", "token", "logged", "plaintext", "credential"),
    "overflow": ("integer", "overflow", "multiplication", "wraparound", "width"),
    "traversal": ("traversal", "filename", "sanitize", "directory", "dotdot"),
    "cache": ("cache", "stale", "invalidation", "write", "entry"),
    "swallow": ("exception", "swallowed", "ignored", "error", "silently"),
    "timeout": ("timeout", "network", "request", "hang", "deadline"),
    "division": ("division", "zero", "divisor", "denominator", "empty"),
}
SEVERITIES = ("critical", "major", "minor", "nit")
#: name → (recall, false positives, the words of its false positives)
MEMBERS = {
    "codex": (0.62, 3, ("docstring", "outdated", "comment", "wording")),
    "gemini": (0.50, 3, ("magic", "number", "constant", "literal")),
    "claude": (0.40, 2, ("naming", "convention", "variable", "casing")),
    "qwen": (0.30, 2, ("duplicate", "branch", "refactor", "helper")),
}


@dataclass(frozen=True)
class Defect:
    ident: str
    path: str
    line: int
    problem: str
    severity: str


@dataclass(frozen=True)
class Report:
    """What one member was scripted to say about one defect (or a false positive: ``defect`` None)."""

    member: str
    ident: str  # the defect's id, or fp-<member>-<n>
    path: str
    claim: str
    text: str


def artifacts(rng: random.Random) -> tuple[dict[str, str], list[Defect]]:
    files: dict[str, str] = {}
    defects: list[Defect] = []
    for (ext, comment), n in itertools.product(LANGUAGES, range(FILES_PER_LANGUAGE)):
        path = f"src/{ext}/module{n}.{ext}"
        problems = rng.sample(sorted(PROBLEMS), DEFECTS_PER_FILE)
        starts = sorted(rng.sample(range(4, LINES_PER_FILE - 4, 8), DEFECTS_PER_FILE - 1))
        lines = [*starts, starts[0] + 1]  # one pair of different problems on neighbouring lines
        for index, (problem, line) in enumerate(zip(problems, lines, strict=True)):
            defects.append(Defect(f"{path}#{index}", path, line, problem, rng.choice(SEVERITIES[:3])))
        body = [
            f"{comment} {path} line {i}: value_{i} = compute_{i}(value_{i - 1})"
            for i in range(1, LINES_PER_FILE)
        ]
        files[path] = "\n".join(body) + "\n"
    return files, defects


def _shape(member: str, severity: str, path: str, line: int, claim: str, rng: random.Random) -> str:
    if member == "codex":
        return f"FINDING: [{severity}] {path}:{line} — {claim} — evidence: see the change at that line"
    if member == "gemini":
        word = {"critical": "critical", "major": "high", "minor": "medium", "nit": "low"}[severity]
        return f"- {word}: {path}:{line} — {claim}"
    if member == "claude":
        return f"1. [{severity}] `{path}` line {line} — {claim}"
    end = line + rng.choice((0, 1))
    return f"* **{severity.capitalize()}** — {path} (lines {line}-{end}) — {claim}"


def scripts(defects: list[Defect], seed: int) -> tuple[dict[str, list[Report]], dict[str, set[str]]]:
    """Each member's reports, and for each defect the members that report it."""
    reports: dict[str, list[Report]] = {}
    found: dict[str, set[str]] = {d.ident: set() for d in defects}
    for member, (recall, false_positives, words) in MEMBERS.items():
        rng = random.Random(f"{seed}-{member}")  # noqa: S311 (seeded mock recall, not security)
        mine: list[Report] = []
        for defect in defects:
            if rng.random() >= recall:
                continue
            terms = rng.sample(PROBLEMS[defect.problem], 4)
            claim = " ".join(terms)
            rank = SEVERITIES.index(defect.severity) + rng.choice((0, 0, 0, 1))
            line = max(1, defect.line + rng.choice((-1, 0, 0, 1)))
            text = _shape(member, SEVERITIES[min(rank, 3)], defect.path, line, claim, rng)
            mine.append(Report(member, defect.ident, defect.path, claim, text))
            found[defect.ident].add(member)
        paths = sorted({d.path for d in defects})
        for n in range(false_positives):
            path = rng.choice(paths)
            claim = " ".join(rng.sample(words, 3)) + f" item{n}"
            text = _shape(member, "nit", path, rng.randrange(2, LINES_PER_FILE - 2), claim, rng)
            mine.append(Report(member, f"fp-{member}-{n}", path, claim, text))
        rng.shuffle(mine)
        reports[member] = mine
    return reports, found


def _workspace(base: Path, files: dict[str, str], reports: dict[str, list[Report]]) -> Path:
    from tests.gitrepo import git

    workspace = base / "workspace"
    workspace.mkdir(exist_ok=True)
    git(workspace, "init", "-q")
    (workspace / "README").write_text("artifacts\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "initial")
    for path, text in files.items():
        (workspace / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace / path).write_text(text)
    script = [
        f"@fake[{member}] say " + "\\n".join(r.text for r in mine) + "\\nVERDICT: OPEN — see the findings"
        for member, mine in reports.items()
    ]
    (workspace / "SCRIPT.txt").write_text("\n".join(script) + "\n")  # what each mock member answers
    return workspace


async def _review(lab: Lab, base: Path, workspace: Path) -> dict[str, Any]:
    from codex_fusion.cli import review
    from codex_fusion.cli.main import _parser
    from codex_fusion.launch.planning import configure

    fake = shlex.join([sys.executable, str(FAKE_AGENT)])
    members = {m: {"command": fake, "env": {"FAKE_ACP": f"name={m}"}} for m in MEMBERS if m != "codex"}
    env = lab.env(
        base,
        "name=codex",
        CODEX_FUSION_MEMBERS=json.dumps(members),
        CODEX_FUSION_WORKSPACE=str(workspace),
        CODEX_FUSION_MAX_ANSWER_CHARS="200000",
    )
    out = base / "findings.json"
    args = _parser().parse_args(["review", "--members", ",".join(MEMBERS), "--json", str(out)])
    assert isinstance(args, argparse.Namespace)
    with contextlib.redirect_stdout(io.StringIO()):  # the table it prints; the JSON is scored
        await review._review(args, config=configure(env))
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def score(
    data: dict[str, Any], reports: dict[str, list[Report]], found: dict[str, set[str]]
) -> dict[str, Any]:
    by_claim = {(r.member, r.path, r.claim): r.ident for mine in reports.values() for r in mine}
    rows = data["findings"]
    reached = 0
    false_merges = 0
    rows_of: dict[str, list[int]] = {}
    exact = 0
    for index, row in enumerate(rows):
        idents = set()
        for raiser in row["raised_by"]:
            ident = by_claim.get((raiser["member"], row["path"], raiser["claim"]))
            if ident is not None:
                reached += 1
                idents.add(ident)
        if len(idents) > 1:
            false_merges += 1
        for ident in idents:
            rows_of.setdefault(ident, []).append(index)
        if len(idents) == 1:
            (ident,) = idents
            expected = found.get(ident, {ident.split("-")[1]} if ident.startswith("fp-") else set())
            exact += {r["member"] for r in row["raised_by"]} == expected
    total_reports = sum(len(mine) for mine in reports.values())
    shared = [i for i, who in found.items() if len(who) > 1]
    whole = [i for i in shared if len(rows_of.get(i, [])) == 1]
    true_rows = [
        row for row in rows if not all(r["claim"].split()[-1].startswith("item") for r in row["raised_by"])
    ]
    coverage = {}
    names = list(MEMBERS)
    for k in range(1, len(names) + 1):
        shares = []
        for subset in itertools.combinations(names, k):
            covered = {
                ident
                for ident, who in found.items()
                if any(
                    set(subset) & {r["member"] for r in rows[i]["raised_by"]} for i in rows_of.get(ident, [])
                )
            }
            shares.append(len(covered) / len(found))
        coverage[k] = statistics.mean(shares)
    lone = sum(1 for row in true_rows if len(row["raised_by"]) == 1)
    return {
        "defects": len(found),
        "files": len({i.split("#")[0] for i in found}),
        "reports": total_reports,
        "reached": reached,
        "rows": len(rows),
        "false_merges": false_merges,
        "merge_precision": (len(rows) - false_merges) / len(rows) if rows else 1.0,
        "merge_recall": len(whole) / len(shared) if shared else 1.0,
        "attribution_exact": exact / len(rows) if rows else 1.0,
        "coverage": coverage,
        "lone_share": lone / len(true_rows) if true_rows else 0.0,
        "recall": {m: r for m, (r, _, _) in MEMBERS.items()},
    }


def figure(lab: Lab) -> Figure:
    """The coverage figure, over ``lab.n(3)`` seeds."""
    import logging

    logging.getLogger("codex_fusion").setLevel(logging.ERROR)
    fig = Figure(data={"runs": []})
    for seed in range(lab.n(3)):
        rng = random.Random(seed)  # noqa: S311 (seeded artifacts, not security)
        files, defects = artifacts(rng)
        reports, found = scripts(defects, seed)
        base = lab.fresh_dir(f"coverage-{seed}")
        workspace = _workspace(base, files, reports)
        data = anyio.run(_review, lab, base, workspace)
        fig.data["runs"].append(score(data, reports, found))
    runs = fig.data["runs"]
    first = runs[0]
    fig.row(
        "artifacts · planted defects · seeds",
        f"{first['files']} files in {len(LANGUAGES)} languages · {first['defects']} · {len(runs)}",
    )
    fig.row(
        "member recall (fixed) · false positives", "codex .62 · gemini .50 · claude .40 · qwen .30 · 2–3 each"
    )
    fig.row("reported findings that reach the table", _each(runs, lambda r: f"{r['reached']}/{r['reports']}"))
    fig.row("false merges (rows mixing two defects)", _each(runs, lambda r: str(r["false_merges"])))
    fig.row(
        "merge precision · merge recall",
        _each(runs, lambda r: f"{r['merge_precision']:.3f} · {r['merge_recall']:.3f}"),
    )
    fig.row(
        "attribution exact (rows naming exactly their raisers)",
        _each(runs, lambda r: f"{r['attribution_exact']:.3f}"),
    )
    for k in range(1, len(MEMBERS) + 1):
        fig.row(
            f"coverage of the union, {k} member(s) (mean over subsets)",
            _each(runs, lambda r, k=k: f"{r['coverage'][k]:.1%}"),
        )
    fig.row(
        "lone findings (one member only) among true-defect rows",
        _each(runs, lambda r: f"{r['lone_share']:.1%}"),
    )
    return fig


def _each(runs: list[dict[str, Any]], show: Any) -> str:
    return " / ".join(show(run) for run in runs)
