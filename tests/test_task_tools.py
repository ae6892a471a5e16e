"""The delegation tools through the MCP client (the fake agent in memory), and the pure parts under
them: the checks' tables, the report parser, the write profile, the relay's sandbox check, which
members may take a task, and accept's refusals that nothing overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from codex_fusion.errors import ConfigError, TaskError
from codex_fusion.launch import adapters, boundary, relay
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.planning import task_member
from codex_fusion.mcp.server import build_server
from codex_fusion.tasks import apply as task_apply
from codex_fusion.tasks.checks import execution_bearing, parse_report, unsafe_path
from codex_fusion.tasks.patchset import TaskGit
from codex_fusion.tasks.record import FileChange

from .conftest import FakeAgentSetup
from .results import text_of
from .task_fixtures import REPORT, any_member, fingerprint, make_repo

pytestmark = pytest.mark.anyio


def server(fake: FakeAgentSetup, flags: str = "", **env: str) -> Any:
    config = fake.config(flags, **env)
    return build_server(config, spawn=fake.spawn(), task_member=any_member(config))


def task_text(*lines: str, files: str = "a.py") -> str:
    return "\n".join(["Change a.py.", *lines, "@fake say " + REPORT.format(files=files)])


# -- the tools ---------------------------------------------------------------------------------------


async def test_delegate_then_accept_through_the_tools(fake: FakeAgentSetup) -> None:
    make_repo(fake.workspace, {"a.py": "old\n"})
    before = fingerprint(fake.workspace)
    async with Client(server(fake)) as client:
        result = await client.call_tool(
            "delegate", {"task": task_text("@fake write a.py new\\n"), "criteria": ["a.py says new"]}
        )
        text = text_of(result)
        assert result.is_error is False, text
        assert text.splitlines()[0].startswith("Task t1 · review · Codex · 1 file +1 −1")
        assert "Checks: ✓ all passed." in text
        assert "-old\n+new" in text
        assert fingerprint(fake.workspace) == before
        status = text_of(await client.call_tool("status", {}))
        assert "tasks: 1 open" in status
        assert "- t1 · review · codex" in status
        accepted = text_of(await client.call_tool("task", {"id": "t1", "action": "accept"}))
        assert accepted.startswith("Task t1 · accepted · 1 file(s) written")
        shown = text_of(await client.call_tool("task", {"id": "t1", "action": "show"}))
        assert shown.startswith("Task t1 · accepted")
    assert (fake.workspace / "a.py").read_text() == "new\n"


async def test_a_long_task_returns_running_and_show_waits(fake: FakeAgentSetup) -> None:
    make_repo(fake.workspace, {"a.py": "old\n"})
    async with Client(server(fake)) as client:
        started = text_of(
            await client.call_tool(
                "delegate", {"task": task_text("@fake wait go", "@fake write a.py x"), "wait_s": 0}
            )
        )
        assert started.startswith("Task t1 · running · Codex")
        assert '"action": "show", "wait_s"' in started
        fake.gate("go").set()
        shown = text_of(await client.call_tool("task", {"id": "t1", "action": "show", "wait_s": 30}))
        assert shown.startswith("Task t1 · review")


async def test_permit_answers_a_tasks_pause(fake: FakeAgentSetup) -> None:
    make_repo(fake.workspace, {"a.py": "old\n"})
    async with Client(server(fake)) as client:
        paused = text_of(
            await client.call_tool(
                "delegate",
                {"task": task_text("@fake permit execute ts echo made > made.txt", files="made.txt")},
            )
        )
        assert paused.startswith("Task t1 · running · Codex is paused on request r1")
        assert "echo made > made.txt" in paused
        done = text_of(await client.call_tool("permit", {"decision": "allow", "request": "r1"}))
        assert done.startswith("Task t1 · review"), done
        assert "A made.txt" in done


async def test_tool_errors_say_what_to_do(fake: FakeAgentSetup) -> None:
    make_repo(fake.workspace, {"a.py": "old\n"})
    async with Client(server(fake)) as client:
        missing = await client.call_tool("task", {"id": "t9", "action": "show"})
        assert missing.is_error
        assert "No task 't9'" in text_of(missing)
        bad = await client.call_tool("delegate", {"task": "x", "paths": ["../outside"]})
        assert bad.is_error
        assert "`paths` entry '../outside' is not usable" in text_of(bad)
        nobody = await client.call_tool("delegate", {"task": "x", "members": ["qwen"]})
        assert nobody.is_error
        assert "Unknown member(s): qwen" in text_of(nobody)


async def test_delegate_outside_git_says_so(fake: FakeAgentSetup) -> None:
    async with Client(server(fake)) as client:
        result = await client.call_tool("delegate", {"task": "x"})
    assert result.is_error
    assert "not inside a git repository" in text_of(result)
    assert not list((fake.data / "state" / "tasks").glob("t*"))  # the half-made task is gone


# -- the checks' tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "bearing"),
    [
        (".claude/settings.json", True),
        ("pkg/.claude/commands/x.md", True),
        (".mcp.json", True),
        (".github/workflows/ci.yml", True),
        (".gitmodules", True),
        (".env.local", True),
        ("CLAUDE.md", True),
        (".envrc", True),
        (".vscode/tasks.json", True),
        (".gitattributes", True),
        (".Git/hooks/x", True),
        (".git\u200c/config", True),  # as a normalising filesystem sees it
        ("src/app.py", False),
        ("README.md", False),
    ],
)
def test_execution_bearing(path: str, bearing: bool) -> None:
    assert (execution_bearing(path) is not None) is bearing


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../x", "a//b", "./a", ".git/config", "a\x1b.py", "C:x"]
)
def test_unsafe_paths(path: str) -> None:
    assert unsafe_path(path) is not None


def test_the_report_parser() -> None:
    report = parse_report(
        "I did it.\n**SUMMARY:** changed a\nand b\nTESTS: pytest — 3 passed, 0 failed\n"
        "CRITERIA: 1 met — a test; 2. not met, no time\nFILES: a.py, `b.py`"
    )
    assert report.summary == "changed a\nand b"
    assert report.criteria == {1: True, 2: False}
    assert report.files == ("a.py", "b.py")
    assert parse_report("no report").summary is None


async def test_unsafe_and_submodule_paths_are_refused_even_before_reading(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    escape = FileChange("../escape.txt", "A", "000000", "100644", 1, 0, 1, "0" * 40, "1" * 40)
    gitlink = FileChange("sub", "A", "000000", "160000", None, None, 0, "0" * 40, "2" * 40)
    tg = TaskGit(None, tmp_path / "git", tmp_path / "tree")  # type: ignore[arg-type]  # never reached
    for change in (escape, gitlink):
        with pytest.raises(TaskError, match="Accept refused"):
            await task_apply.apply(workspace, tg, [change])
    assert not (tmp_path / "escape.txt").exists()


# -- the write profile, the relay, who may take a task -----------------------------------------------


def test_the_task_profile_writes_the_workspace_roots_only() -> None:
    common: dict[str, Any] = {"external_reads": False, "helper": None, "excludes": [], "ephemeral": False}
    read = boundary.overrides(profile="p", workspace=None, **common)
    write = boundary.overrides(profile="p", workspace=None, writes=True, **common)
    assert any('":workspace_roots" = { "." = "read" }' in arg for arg in read)
    assert any('":workspace_roots" = { "." = "write" }' in arg for arg in write)
    assert any('":minimal" = "read"' in arg for arg in write)
    assert "permissions.p.network.enabled=false" in write


def test_the_relay_lets_a_task_thread_write_its_worktree_only(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    spec = relay.Spec(None, (), tree, tmp_path, "p", writes=True)
    good = {"type": "workspaceWrite", "writableRoots": [], "networkAccess": False,
            "excludeTmpdirEnvVar": True, "excludeSlashTmp": True}  # fmt: skip
    assert relay.check_sandbox({"sandbox": good}, spec) is None
    assert relay.check_sandbox({"sandbox": {"type": "readOnly", "networkAccess": False}}, spec) is None
    for bad in (
        {**good, "networkAccess": True},
        {**good, "excludeSlashTmp": False},
        {**good, "writableRoots": [str(tmp_path)]},
        {"type": "dangerFullAccess"},
    ):
        assert relay.check_sandbox({"sandbox": bad}, spec) is not None, bad
    consult = relay.Spec(None, (), tree, tmp_path, "p")
    assert relay.check_sandbox({"sandbox": good}, consult) is not None  # a consult never writes
    assert json.loads(boundary.relay_spec(adapters.Launch("ts"), [], workspace=tree, home=tmp_path,
                                          profile="p", writes=True))["writes"] is True  # fmt: skip


def test_only_members_that_can_be_held_to_a_worktree_take_tasks(fake: FakeAgentSetup, tmp_path: Path) -> None:
    config = fake.config("name=codex", CODEX_FUSION_MEMBERS=fake.members_json({"qwen": {}}))
    with pytest.raises(ConfigError, match="Codex cannot take a task here"):
        task_member(config, "codex", tmp_path)  # the fake agent is no codex-acp: no profile
    with pytest.raises(ConfigError, match="qwen cannot take a task"):
        task_member(config, "qwen", tmp_path)
    with pytest.raises(ConfigError, match="No council member"):
        task_member(config, "nobody", tmp_path)
    confined = MemberSpec("gemini", "gemini", ("gemini",), "built-in", boundary_enforced=True)
    members = {**config.members, "gemini": confined}
    assert (
        task_member(type(config)(**{**config.__dict__, "members": members}), "gemini", tmp_path) is confined
    )
