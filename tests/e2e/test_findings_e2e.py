# ruff: noqa: F811  (the panel fixture imported from test_council_e2e is a parameter here, by name)
"""Findings with the real agents offline (issue 27): codex-acp (both adapters), claude-agent-acp and
Gemini CLI against their local model mocks, through codex-fusion's MCP server and its terminal
``review`` command.

- a council ``review_diff`` whose members report an overlapping finding and lone ones yields one
  table naming who raised each;
- Codex's model API answering 429 leaves Codex *unavailable* — named in the table's header and the
  agreement line, never counted — and the other members' table is whole;
- ``codex-fusion review --sarif`` writes SARIF that validates against the SARIF 2.1.0 schema.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from e2e_adapters import unavailable
from fusion_fixtures import anyio_backend
from mcp import Client
from mock_anthropic import say as claude_says
from mock_gemini import say as gemini_says
from mock_openai import Step, error, slow
from mock_openai import say as codex_says
from test_council_e2e import Panel, agreement_line, panel  # noqa: F401  (fixtures, used by name)
from tests.results import text_of

from codex_fusion.cli import review
from codex_fusion.cli.main import _parser
from codex_fusion.mcp.server import build_server

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend"]

SCHEMA = Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json"  # OASIS sarif-spec, vendored
TAKE = "MY-TAKE-9c: the division is guarded by the caller"
DIFF = (
    "diff --git a/src/calc.py b/src/calc.py\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1,2 +1,4 @@\n"
    " def mean(xs):\n-    return 0\n+    total = sum(xs)\n+    return total / len(xs)\n"
)
CODEX_REVIEW = (
    "The new mean() divides without a guard.\n"
    "FINDING: [major] src/calc.py:4 — division by zero when the list is empty — evidence: len(xs) is 0 for []\n"
    "FINDING: [nit] src/calc.py:3 — name total shadows nothing but is unused elsewhere\n"
    "VERDICT: OPEN — guard the empty list"
)
CLAUDE_REVIEW = (
    "1. [critical] `src/calc.py` line 4 — an empty list makes the division by zero raise\n"
    "VERDICT: OPEN — empty input"
)
GEMINI_REVIEW = (
    "- medium: src/calc.py (line 3) — sum of floats loses precision, use math.fsum\nVERDICT: OPEN — precision"
)


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| F")]


async def test_a_council_review_yields_one_table_of_overlapping_and_lone_findings(panel: Panel) -> None:
    panel.codex.script([codex_says(CODEX_REVIEW)])
    panel.claude.script(claude_says(CLAUDE_REVIEW))
    panel.gemini.script(gemini_says(GEMINI_REVIEW))
    async with Client(build_server(panel.config())) as client:
        result = await client.call_tool("review_diff", {"diff": DIFF, "members": ["all"], "my_take": TAKE})
    text = text_of(result)
    assert result.is_error is False, text
    head = text.split("━━", 1)[0]
    assert "Findings · 3 merged, 2 raised by one member only · from codex 2, claude 1, gemini 1" in head, head
    assert _rows(head) == [
        "| F1 | critical | src/calc.py:4 | division by zero when the list is empty | codex (major), claude (critical) |",
        "| F2 | minor | src/calc.py:3 | sum of floats loses precision, use math.fsum | gemini (minor) · lone |",
        "| F3 | nit | src/calc.py:3 | name total shadows nothing but is unused elsewhere | codex (nit) · lone |",
    ]
    assert "Usage this round · codex:" in text


async def test_a_member_answering_429_is_unavailable_and_the_others_table_is_whole(panel: Panel) -> None:
    panel.codex.script([error(429, "Rate limit reached for requests", code="rate_limit_exceeded")])
    panel.claude.script(claude_says(CLAUDE_REVIEW))
    panel.gemini.script(gemini_says(GEMINI_REVIEW))
    async with Client(build_server(panel.config())) as client:
        result = await client.call_tool("review_diff", {"diff": DIFF, "members": ["all"], "my_take": TAKE})
    text = text_of(result)
    assert result.is_error is False, text
    head = text.split("━━", 1)[0]
    assert "unavailable, not counted: codex (out of quota or rate-limited)" in head, text
    assert _rows(head) == [
        "| F1 | critical | src/calc.py:4 | an empty list makes the division by zero raise | claude (critical) · lone |",
        "| F2 | minor | src/calc.py:3 | sum of floats loses precision, use math.fsum | gemini (minor) · lone |",
    ]
    line = agreement_line(text)
    assert "unavailable, not counted: codex (out of quota or rate-limited)" in line, line
    assert "no answer: codex" not in line


async def test_codex_fusion_review_writes_sarif_that_validates(panel: Panel, tmp_path: Path) -> None:
    try:
        from tests.gitrepo import git
    except ImportError:  # pragma: no cover
        unavailable("tests.gitrepo not importable")
    (panel.workspace / "src" / "calc.py").write_text("def mean(xs):\n    return 0\n")
    git(panel.workspace, "add", "-A")
    git(panel.workspace, "commit", "-q", "-m", "calc")
    (panel.workspace / "src" / "calc.py").write_text(
        "def mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n"
    )
    panel.codex.script([codex_says(CODEX_REVIEW)])
    panel.claude.script(claude_says(CLAUDE_REVIEW))
    panel.gemini.script(gemini_says(GEMINI_REVIEW))
    out = tmp_path / "review.sarif"
    args = _parser().parse_args(
        ["review", "--members", "codex,claude,gemini", "--sarif", str(out), "--fail-on", "major"]
    )
    assert isinstance(args, argparse.Namespace)
    code = await review._review(args, config=panel.config())
    assert code == 1  # a critical finding exists
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    results = document["runs"][0]["results"]
    assert [(r["level"], r["properties"]["raisedBy"]) for r in results] == [
        ("error", ["codex", "claude"]),
        ("warning", ["gemini"]),
        ("note", ["codex"]),
    ]
    region = results[0]["locations"][0]["physicalLocation"]
    assert (region["artifactLocation"]["uri"], region["region"]["startLine"]) == ("src/calc.py", 4)


@pytest.mark.parametrize(
    ("step", "cause"),
    [
        (lambda: error(401, "Incorrect API key provided", code="invalid_api_key"), "not logged in"),
        (lambda: slow("a review that never finishes", chunk_delay=60, chunks=2), "timed out"),
    ],
    ids=["401", "stalled"],
)
async def test_codex_unavailable_per_cause_is_named_and_never_counted(
    panel: Panel, step: Callable[[], Step], cause: str
) -> None:
    panel.codex.script([step()])
    panel.claude.script(claude_says(CLAUDE_REVIEW))
    panel.gemini.script(gemini_says(GEMINI_REVIEW))
    config = panel.config(CODEX_FUSION_CANCEL_GRACE_MS="500")
    async with Client(build_server(config)) as client:
        result = await client.call_tool(
            "review_diff", {"diff": DIFF, "members": ["all"], "my_take": TAKE, "timeout_s": 8}
        )
    text = text_of(result)
    assert result.is_error is False, text
    head = text.split("━━", 1)[0]
    assert f"unavailable, not counted: codex ({cause})" in head, text
    assert len(_rows(head)) == 2  # claude's and gemini's, whole
    assert f"unavailable, not counted: codex ({cause})" in agreement_line(text)
