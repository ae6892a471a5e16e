"""Delegated tasks with both real codex-acp adapters and the scripted mock model (issue 20).

The mock makes Codex edit files with ``apply_patch`` and run a check inside the task's worktree, try
a write outside it, and ask for the network. The workspace must be byte-identical (``.git``
included) until ``task`` accept, and exactly the patch after; Codex's sandbox must refuse the write
outside; the network request must pause the task for Claude.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fusion_fixtures import anyio_backend, fusion
from mcp import Client
from mock_openai import MockResponses, apply_patch, exec_cmd, say, tool_outputs
from tests.results import text_of

from codex_fusion.launch.config import Config
from codex_fusion.mcp.server import build_server

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend", "fusion"]  # fixtures, used by name

REPORT = (
    "SUMMARY: app.py prints hello; check.py verifies it\n"
    "TESTS: python3 check.py — passed\n"
    "CRITERIA: 1 met — check.py passes\n"
    "FILES: src/app.py, check.py, gen.txt"
)
PATCH = """*** Begin Patch
*** Update File: src/app.py
@@
 def main():
-    print('hi')
+    print('hello')
*** Add File: check.py
+import pathlib, sys
+sys.exit(0 if "hello" in pathlib.Path("src/app.py").read_text() else 1)
*** End Patch
"""


def fingerprint(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = f"{path.stat().st_mode:o} " + hashlib.sha256(path.read_bytes()).hexdigest()
    return out


async def test_codex_edits_and_tests_in_its_worktree_and_accept_applies_exactly_the_patch(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    escape = f"echo pwned > {outside}/pwned.txt"
    mock_model.script(
        [
            apply_patch(PATCH),
            exec_cmd("python3 check.py && echo CHECK-PASSED", escalate=False),
            exec_cmd("echo generated > gen.txt", escalate=False),  # the sandbox writes the worktree
            exec_cmd(escape, escalate=False),
            say(REPORT),
        ]
    )
    before = fingerprint(workspace)
    config = fusion()
    async with Client(build_server(config)) as client:
        result = await client.call_tool(
            "delegate",
            {
                "task": "Make main print hello, with a check.",
                "paths": ["src", "check.py", "gen.txt"],
                "criteria": ["check.py passes"],
            },
        )
        review = text_of(result)
        assert result.is_error is False, review
        assert review.startswith("Task t1 · review · Codex · 3 files"), review
        assert "Checks: ✓" in review, review
        assert "+    print('hello')" in review
        assert fingerprint(workspace) == before  # nothing reached the workspace, .git included
        accepted = text_of(await client.call_tool("task", {"id": "t1", "action": "accept"}))
        assert accepted.startswith("Task t1 · accepted · 3 file(s) written"), accepted
    outputs = tool_outputs(mock_model)
    assert "CHECK-PASSED" in outputs["python3 check.py && echo CHECK-PASSED"]  # ran in the worktree
    assert not (outside / "pwned.txt").exists()  # the sandbox writes only the worktree
    assert any(s in outputs[escape] for s in ("No such file or directory", "Read-only file system")), outputs[
        escape
    ]
    after = fingerprint(workspace)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {"src/app.py", "check.py", "gen.txt"}  # exactly the patch; .git untouched
    assert (workspace / "gen.txt").read_text() == "generated\n"
    assert (workspace / "src/app.py").read_text() == "def main():\n    print('hello')\n"
    assert "hello" in (workspace / "check.py").read_text()


async def test_a_task_asking_for_the_network_is_paused_for_claude(
    fusion: Callable[..., Config], mock_model: MockResponses, workspace: Path
) -> None:
    mock_model.script(
        [
            exec_cmd("curl -sS https://example.com/data.json", justification="download the data"),
            say("SUMMARY: could not download\nTESTS: not run\nCRITERIA: 1 not met\nFILES: none"),
            say("SUMMARY: went on without it\nTESTS: not run\nCRITERIA: 1 not met\nFILES: none"),
        ]
    )
    before = fingerprint(workspace)
    async with Client(build_server(fusion())) as client:
        paused = text_of(await client.call_tool("delegate", {"task": "Fetch the data.", "criteria": ["x"]}))
        assert paused.startswith("Task t1 · running · Codex is paused on request r1"), paused
        assert "curl -sS https://example.com/data.json" in paused
        status = text_of(await client.call_tool("status", {}))
        assert "paused on r1" in status
        done = text_of(
            await client.call_tool("permit", {"decision": "deny", "request": "r1", "note": "no network"})
        )
        assert done.startswith("Task t1 · review"), done
        assert "✗ empty" in done
    assert fingerprint(workspace) == before
