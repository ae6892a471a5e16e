"""The review gate end to end below Claude Code: the real hook script at UserPromptSubmit and Stop, a
real git workspace, and the review by the scripted fake agent — one-shot (``codex-fusion gate-review``
as a subprocess) or through the in-memory server's socket.

A change scripts its own review: the fake agent obeys ``@fake`` lines, also after a diff's ``+``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_fusion.hookside import gitsnap, nonce
from codex_fusion.review import gate as gate_review
from codex_fusion.review.diffs import DiffRequest, collect_diff

from .conftest import FAKE_AGENT, FakeAgentSetup
from .gitrepo import git

HOOK = Path(__file__).resolve().parents[1] / "hooks" / "codex_fusion_hook.py"
WINDOW = os.getppid()  # an ancestor of this process and of the in-memory server: "our" window
SESSION = "conv-1"
ONE_SHOT = shlex.join([sys.executable, "-m", "codex_fusion.cli.main", "gate-review"])
BUG = "@fake say FINDING: blocker src/calc.py:2 — divides by zero when n is 0; guard it\\nVERDICT: OPEN — fix it"


@pytest.fixture
def repo(fake: FakeAgentSetup) -> FakeAgentSetup:
    (fake.workspace / "src").mkdir()
    (fake.workspace / "src" / "calc.py").write_text("def mean(xs):\n    return sum(xs) / len(xs)\n")
    git(fake.workspace, "init", "-q")
    git(fake.workspace, "add", "-A")
    git(fake.workspace, "commit", "-q", "-m", "base")
    return fake


def hook_env(fake: FakeAgentSetup, flags: str = "", **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(fake.data.parent / "home"),
        "CLAUDE_PLUGIN_DATA": str(fake.data),
        "CLAUDE_PROJECT_DIR": str(fake.workspace),
        "CLAUDE_PID": str(WINDOW),
        "CODEX_FUSION_REVIEW_GATE": "1",
        "CODEX_FUSION_GATE_COMMAND": ONE_SHOT,
        # what the one-shot review needs to run the fake agent as a subprocess
        "CODEX_FUSION_ACP_COMMAND": shlex.join([sys.executable, str(FAKE_AGENT)]),
        "CODEX_FUSION_AGENT_ENV": "FAKE_ACP*",
        "FAKE_ACP": flags,
        "FAKE_ACP_LOG": str(fake.log),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.update(extra)
    return env


def hook(env: dict[str, str], event: str, **fields: Any) -> dict[str, Any] | None:
    payload = {"session_id": SESSION, "hook_event_name": event, "cwd": env["CLAUDE_PROJECT_DIR"], **fields}
    done = subprocess.run(
        [sys.executable, str(HOOK), "gate"],
        input=json.dumps(payload).encode(),
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert done.stderr == b"", done.stderr
    out = done.stdout.decode().strip()
    return json.loads(out) if out else None


def turn(env: dict[str, str], change: str | None, *, active: bool = False) -> dict[str, Any] | None:
    """One Claude turn: the prompt's snapshot, a change to the workspace, the stop."""
    workspace = Path(env["CLAUDE_PROJECT_DIR"])
    assert hook(env, "UserPromptSubmit", prompt="go") is None
    if change is not None:
        (workspace / "src" / "calc.py").write_text(f"def mean(xs):\n    return sum(xs) / len(xs)\n{change}\n")
    return hook(env, "Stop", stop_hook_active=active)


def reviews(fake: FakeAgentSetup) -> int:
    return len(fake.received("session/prompt"))


def test_off_by_default_the_gate_reads_nothing_and_writes_nothing(repo: FakeAgentSetup) -> None:
    env = hook_env(repo)
    del env["CODEX_FUSION_REVIEW_GATE"]
    assert turn(env, "x = 1") is None
    assert not nonce.window_dir(nonce.state_dir(env), repo.workspace).exists()


def test_a_turn_that_changed_nothing_is_not_reviewed(repo: FakeAgentSetup) -> None:
    env = hook_env(repo)
    (repo.workspace / "notes.txt").write_text("uncommitted before the turn\n")
    assert turn(env, None) is None
    assert reviews(repo) == 0


def test_blocks_on_a_finding_once_per_turn_and_at_most_the_cap_per_conversation(repo: FakeAgentSetup) -> None:
    env = hook_env(repo, CODEX_FUSION_REVIEW_GATE_MAX_BLOCKS="2")
    first = turn(env, f"# 1\n{BUG}")
    assert first is not None
    assert first["decision"] == "block"
    reason = first["reason"]
    assert "(block 1 of 2 in this conversation)" in reason
    assert "- [blocker] src/calc.py:2 — divides by zero when n is 0; guard it" in reason
    assert "unset CODEX_FUSION_REVIEW_GATE" in reason  # turned on by the environment here
    prompt = repo.received("session/prompt")[0]["params"]["prompt"][0]["text"]
    assert "+# 1" in prompt  # Codex saw the turn's change
    assert "FINDING: <blocker|major|minor>" in prompt
    # Claude goes on after the block and stops again: the gate's own continuation is let through.
    (repo.workspace / "src" / "calc.py").write_text("def mean(xs):\n    return sum(xs) / max(len(xs), 1)\n")
    assert hook(env, "Stop", stop_hook_active=True) is None
    assert reviews(repo) == 1
    second = turn(env, f"# 2\n{BUG}")
    assert second is not None
    assert "(block 2 of 2" in second["reason"]
    third = turn(env, f"# 3\n{BUG}")
    assert third is not None
    assert "decision" not in third
    assert "2 of 2 blocks used in this conversation" in third["systemMessage"]
    assert "still open from the last review: 1 blocker (src/calc.py:2" in third["systemMessage"]
    assert reviews(repo) == 2  # the capped stop spent nothing


def test_a_clean_review_lets_the_stop_through_with_one_line(repo: FakeAgentSetup) -> None:
    env = hook_env(repo)
    out = turn(env, "@fake say FINDING: minor src/calc.py:3 — a name\\nVERDICT: CONSENSUS — fine")
    assert out == {
        "systemMessage": "codex-fusion review gate: Codex found nothing at or above major in this turn's "
        "change (1 below major, not blocking)."
    }


def test_not_logged_in_fails_open_in_one_line(repo: FakeAgentSetup) -> None:
    env = hook_env(repo, "auth=ts")  # session/new asks for a login the agent does not have
    out = turn(env, BUG)
    assert out is not None
    assert "decision" not in out
    message = out["systemMessage"]
    assert message.startswith(
        "codex-fusion review gate: not reviewed, the stop goes through — Codex is not logged in"
    )
    assert "\n" not in message


def test_an_agent_that_is_missing_fails_open(repo: FakeAgentSetup) -> None:
    env = hook_env(repo, CODEX_FUSION_ACP_COMMAND="/nonexistent/codex-acp")
    out = turn(env, BUG)
    assert out is not None
    assert out["systemMessage"].startswith("codex-fusion review gate: not reviewed, the stop goes through — ")


def test_outside_git_the_gate_says_so_once(fake: FakeAgentSetup) -> None:
    env = hook_env(fake)
    (fake.workspace / "src").mkdir()
    out = turn(env, None)
    assert out is not None
    assert "the workspace is not in a git repository" in out["systemMessage"]
    assert turn(env, None) is None  # said once per conversation


@pytest.mark.anyio
async def test_a_review_over_its_time_limit_fails_open(repo: FakeAgentSetup) -> None:
    index = str(repo.workspace.parent / "t.index")
    before = gitsnap.snapshot(str(repo.workspace), index)
    (repo.workspace / "src" / "calc.py").write_text("@fake sleep 30\n")
    after = gitsnap.snapshot(str(repo.workspace), index)
    async with repo.consultant() as consultant:
        with anyio.fail_after(20):
            result = await gate_review.review(consultant, before, after, 0.5)
    assert result.failure is not None
    assert result.failure.startswith("Codex did not finish the review within 0.5 s")


@pytest.mark.anyio
async def test_with_a_server_running_for_the_window_the_review_goes_through_its_socket(
    repo: FakeAgentSetup,
) -> None:
    env = hook_env(repo, CODEX_FUSION_GATE_COMMAND="false")  # a one-shot would fail: it must not run
    async with Client(repo.server("", CODEX_FUSION_REVIEW_GATE="1", CLAUDE_PID=str(WINDOW))) as client:
        directory = nonce.window_dir(nonce.state_dir(env), repo.workspace)
        with anyio.fail_after(10):
            while not list(directory.glob("server-*.json")):
                await anyio.sleep(0.02)
        descriptor = json.loads(next(directory.glob("server-*.json")).read_text())
        socket_path = Path(descriptor["socket"])
        assert oct(socket_path.stat().st_mode & 0o777) == "0o600"
        assert oct(socket_path.parent.stat().st_mode & 0o777) == "0o700"
        out = await anyio.to_thread.run_sync(turn, env, f"# via socket\n{BUG}")
        assert out is not None
        assert out["decision"] == "block"
        status = "\n".join(getattr(b, "text", "") for b in (await client.call_tool("status", {})).content)
    assert "turns completed: 1" in status  # the server's own Codex session did the review
    assert not socket_path.exists()  # removed when the server stopped


def test_a_snapshot_runs_none_of_the_repositorys_programs(repo: FakeAgentSetup, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    touch = f"touch {marker}"
    for key, value in (
        ("core.fsmonitor", touch),
        ("filter.evil.clean", touch),
        ("filter.evil.process", touch),
        ("filter.evil.required", "true"),
        ("core.hooksPath", str(tmp_path)),
    ):
        git(repo.workspace, "config", key, value)
    (repo.workspace / ".gitattributes").write_text("* filter=evil\n")
    (repo.workspace / "new.txt").write_text("untracked, so git add must clean it\n")
    tree = gitsnap.snapshot(str(repo.workspace), str(tmp_path / "snap.index"))
    assert len(tree) in (40, 64)
    assert not marker.exists()
    (repo.workspace / "new.txt").write_text("changed\n")
    after = gitsnap.snapshot(str(repo.workspace), str(tmp_path / "snap.index"))
    between = anyio.run(collect_diff, repo.workspace, DiffRequest(trees=(tree, after)))  # what a review sees
    assert [summary.path for summary in between.files] == ["new.txt"]
    assert not marker.exists()


def test_codex_out_of_quota_lets_the_stop_through_naming_why(repo: FakeAgentSetup) -> None:
    out = turn(hook_env(repo), "@fake error")  # the agent answers usage_limit_exceeded
    assert out is not None
    assert "decision" not in out
    message = out["systemMessage"]
    assert message.startswith("codex-fusion review gate: not reviewed, the stop goes through — ")
    assert message.endswith("(Codex is unavailable: out of quota or rate-limited; that is not a finding)")
    assert "\n" not in message


def test_a_review_in_another_shape_still_blocks_and_nits_never_do(repo: FakeAgentSetup) -> None:
    env = hook_env(repo)
    out = turn(
        env,
        "@fake say - critical: src/calc.py:2 — divides by zero when the list is empty\\n"
        "- nit: src/calc.py:1 — name\\nVERDICT: OPEN — fix it",
    )
    assert out is not None
    assert out.get("decision") == "block", out
    assert "- [blocker] src/calc.py:2 — divides by zero when the list is empty" in out["reason"]
    assert "name" not in out["reason"].split("found", 1)[1].split("Fix them", 1)[0]
