"""``codex-fusion review``: the council's merged findings at a terminal, as JSON and as SARIF 2.1.0
(validated against the vendored schema), and the exit code of ``--fail-on`` (fake agents in memory)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from codex_fusion.cli import review
from codex_fusion.cli.main import _parser
from codex_fusion.review import report

from .conftest import FakeAgentSetup
from .gitrepo import git

pytestmark = pytest.mark.anyio

#: The OASIS SARIF 2.1.0 schema (sarif-2.1/schema/sarif-schema-2.1.0.json of the oasis-tcs/sarif-spec
#: repository), vendored so the test runs offline.
SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

ANSWERS = (
    "@fake[codex] say FINDING: [major] app.py:2 — returns 2 where callers expect 1 — evidence: main()\\n"
    "FINDING: [nit] app.py:1 — missing docstring\\nVERDICT: OPEN — the return value\n"
    "@fake[gemini] say - critical: app.py:2 — callers expecting 1 now get 2 returned\\nVERDICT: OPEN — x\n"
    "@fake[qwen] error\n"
)


def changed(workspace: Path, body: str = ANSWERS) -> None:
    (workspace / "app.py").write_text("def main():\n    return 1\n")
    git(workspace, "init", "-q")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "initial")
    (workspace / "app.py").write_text("def main():\n    return 2\n" + body)


async def run(fake: FakeAgentSetup, argv: list[str], members: dict[str, Any] | None = None) -> int:
    args = _parser().parse_args(["review", *argv])
    assert isinstance(args, argparse.Namespace)
    env = {"CODEX_FUSION_MEMBERS": fake.members_json(members)} if members else {}
    return await review._review(args, config=fake.config("name=codex", **env), spawn=fake.spawn())


async def test_the_merged_findings_go_to_sarif_that_validates_and_fail_on_sets_the_exit_code(
    fake: FakeAgentSetup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed(fake.workspace)
    sarif, out = tmp_path / "out.sarif", tmp_path / "out.json"
    members = {"gemini": {}, "qwen": {}}
    code = await run(
        fake,
        ["--members", "codex,gemini,qwen", "--sarif", str(sarif), "--json", str(out), "--fail-on", "major"],
        members,
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert (
        "| F1 | critical | app.py:2 | returns 2 where callers expect 1 | codex (major), gemini (critical) |"
        in printed
    )
    assert "unavailable, not counted: qwen (out of quota or rate-limited)" in printed
    document = json.loads(sarif.read_text())
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    results = document["runs"][0]["results"]
    assert [(r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("error", 2),
        ("note", 1),
    ]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app.py"
    assert results[0]["properties"]["raisedBy"] == ["codex", "gemini"]
    data = json.loads(out.read_text())
    assert data["unavailable"] == {"qwen": "out of quota or rate-limited"}
    assert [(r["member"], r["severity"], r["location"]) for r in data["findings"][0]["raised_by"]] == [
        ("codex", "major", "app.py:2"),
        ("gemini", "critical", "app.py:2"),
    ]


async def test_fail_on_above_every_finding_exits_zero_and_sarif_can_go_to_stdout(
    fake: FakeAgentSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    changed(fake.workspace, "@fake[codex] say - minor: app.py:2 — odd constant\n")
    code = await run(fake, ["--sarif", "-", "--fail-on", "major"])
    assert code == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # stdout is the SARIF alone; the table went to stderr
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["runs"][0]["results"][0]["level"] == "warning"
    assert "| F1 | minor |" in captured.err


async def test_only_unavailable_members_never_fail_the_run(
    fake: FakeAgentSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    changed(fake.workspace, "@fake[codex] error\n")
    assert await run(fake, ["--fail-on", "nit"]) == 0
    assert "every member was unavailable" in capsys.readouterr().err


async def test_unknown_members_are_a_usage_error(fake: FakeAgentSetup) -> None:
    changed(fake.workspace)
    assert await run(fake, ["--members", "nobody"]) == review.EXIT_USAGE


def test_a_plan_step_finding_has_no_location_and_still_validates() -> None:
    from codex_fusion.review.findings import merge, parse

    rows = merge({"codex": parse("- [major] step 2 — no rollback").findings})
    document = report.to_sarif(rows, "0")
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert "locations" not in document["runs"][0]["results"][0]


async def test_a_finding_naming_a_renamed_files_old_path_merges_under_the_new_one(
    fake: FakeAgentSetup, tmp_path: Path
) -> None:
    body = "".join(f"value_{n} = {n}\n" for n in range(20))
    (fake.workspace / "old.py").write_text(body)
    git(fake.workspace, "init", "-q")
    git(fake.workspace, "add", "-A")
    git(fake.workspace, "commit", "-q", "-m", "initial")
    git(fake.workspace, "mv", "old.py", "new.py")
    (fake.workspace / "new.py").write_text(
        body + "@fake[codex] say - major: old.py:2 — stale cache read after write\n"
        "@fake[gemini] say - major: new.py:2 — stale cache read after write here\n"
    )
    git(fake.workspace, "add", "-A")
    out = tmp_path / "out.json"
    assert await run(fake, ["--staged", "--members", "codex,gemini", "--json", str(out)], {"gemini": {}}) == 0
    (row,) = json.loads(out.read_text())["findings"]
    assert row["path"] == "new.py"
    assert [r["member"] for r in row["raised_by"]] == ["codex", "gemini"]
