"""Tests for the guardian: table-driven rules and property-based containment checks.

All tests run against one real directory tree (module scoped, so hypothesis can use it):

    root/
      ws/                      <- the workspace
        README.md
        src/a.py, src/b.py, src/pkg/c.py
        link_out      -> root/outside          (symlink inside, pointing outside)
        link_out_file -> root/outside/secret.txt
        link_in       -> ws/src                (inside -> inside)
        src/pkg/pkg_out -> root/outside        (only a path taken from src/ reaches it)
        dangling_out  -> root/outside/missing  (dangling, would create outside)
        dangling_in   -> ws/src/missing
        loop          -> loop
      ws-sibling/x.py          <- shares the "ws" prefix, but is outside
      outside/secret.txt
        link_in -> ws/src      (symlink outside, pointing inside)
        link_ws -> ws
      home/.ssh/id_rsa         <- $HOME for "~" paths
      ws_link -> ws            <- another spelling of the workspace
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from codex_fusion.guardian.autorun import by_name, normalised
from codex_fusion.guardian.decision import describe_command
from codex_fusion.guardian.paths import realpath, within
from codex_fusion.guardian.policy import Decision, GuardianFlags, decide


@dataclass(frozen=True)
class Tree:
    root: Path
    ws: Path
    out: Path
    sib: Path
    home: Path


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = Path(os.path.realpath(tmp_path_factory.mktemp("guardian")))
    ws = root / "ws"
    out = root / "outside"
    sib = root / "ws-sibling"
    home = root / "home"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "README.md").write_text("readme\n")
    (ws / "src" / "a.py").write_text("a = 1\n")
    (ws / "src" / "b.py").write_text("b = 2\n")
    (ws / "src" / "pkg" / "c.py").write_text("c = 3\n")
    out.mkdir()
    (out / "secret.txt").write_text("secret\n")
    sib.mkdir()
    (sib / "x.py").write_text("x = 0\n")
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("key\n")

    (ws / "link_out").symlink_to(out, target_is_directory=True)
    (ws / "link_out_file").symlink_to(out / "secret.txt")
    (ws / "link_in").symlink_to(ws / "src", target_is_directory=True)
    (ws / "src" / "pkg" / "pkg_out").symlink_to(out, target_is_directory=True)
    (ws / "dangling_out").symlink_to(out / "missing")
    (ws / "dangling_in").symlink_to(ws / "src" / "missing")
    (ws / "loop").symlink_to(ws / "loop")
    (out / "link_in").symlink_to(ws / "src", target_is_directory=True)
    (out / "link_ws").symlink_to(ws, target_is_directory=True)
    (root / "ws_link").symlink_to(ws, target_is_directory=True)
    return Tree(root=root, ws=ws, out=out, sib=sib, home=home)


@pytest.fixture
def home_is_outside(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree.home))


def render(template: Any, tree: Tree) -> Any:
    """Substitute {ws}/{out}/{sib}/{root}/{home} in every string (keys included)."""
    if isinstance(template, str):
        for name in ("ws", "out", "sib", "root", "home"):
            template = template.replace("{" + name + "}", str(getattr(tree, name)))
        return template
    if isinstance(template, dict):
        return {render(k, tree): render(v, tree) for k, v in template.items()}
    if isinstance(template, list):
        return [render(item, tree) for item in template]
    return template


# --------------------------------------------------------------------------------------------
# Expectations per flag set

FLAGSETS: dict[str, GuardianFlags] = {
    "none": GuardianFlags(),
    "reads": GuardianFlags(allow_external_reads=True),
    "writes": GuardianFlags(allow_writes=True),
    "commands": GuardianFlags(allow_commands=True),
    "all": GuardianFlags(allow_external_reads=True, allow_writes=True, allow_commands=True),
}

Outcome = tuple[str, str]


def always(action: str, rule: str) -> dict[str, Outcome]:
    return dict.fromkeys(FLAGSETS, (action, rule))


def unless(ask_rule: str, allow_rule: str, flagset: str) -> dict[str, Outcome]:
    """Asked, except with ``flagset`` (or all flags) on, where it is allowed."""
    expected = always("ask", ask_rule)
    for name in (flagset, "all"):
        expected[name] = ("allow", allow_rule)
    return expected


READ_OK = always("allow", "read-inside")
READ_OUT = unless("outside-workspace", "read-outside-flag", "reads")
WRITE_IN = unless("write", "write-inside-flag", "writes")
EXEC = unless("execute", "execute-flag", "commands")
FETCH = unless("fetch", "fetch-flag", "reads")
OUTSIDE = always("ask", "outside-workspace")
UNRESOLVABLE = always("ask", "unresolvable-path")
MALFORMED = always("ask", "malformed")
NO_LOCATIONS = always("ask", "no-locations")
UNKNOWN = always("ask", "unknown-kind")
NO_COMMAND = always("ask", "no-command")
GIT = always("ask", "git-internals")
TOO_LARGE = always("refuse", "too-large-to-show")
OTHER = always("ask", "other-kind")
RUNS = always("ask", "execution-bearing")
ROOT = always("ask", "workspace-root")


def call(kind: Any, *paths: Any, **extra: Any) -> dict[str, Any]:
    tool_call: dict[str, Any] = {"toolCallId": "call_1", "title": "t", "status": "pending"}
    if kind is not None:
        tool_call["kind"] = kind
    if paths:
        tool_call["locations"] = [{"path": p, "line": 1} for p in paths]
    tool_call.update(extra)
    return tool_call


CASES = [
    # --- read / search / think inside --------------------------------------------------------
    pytest.param(call("read", "{ws}/src/a.py"), READ_OK, id="read-abs-inside"),
    pytest.param(call("search", "{ws}/src"), READ_OK, id="search-dir-inside"),
    pytest.param(call("think", "{ws}/README.md"), READ_OK, id="think-inside"),
    pytest.param(call("read", "{ws}"), READ_OK, id="read-workspace-root"),
    pytest.param(call("read", "{ws}/"), READ_OK, id="read-workspace-root-slash"),
    pytest.param(call("read", "src/a.py"), READ_OK, id="read-relative"),
    pytest.param(call("read", "./src//pkg/./c.py"), READ_OK, id="read-relative-dots"),
    pytest.param(call("read", "src/pkg/../a.py"), READ_OK, id="read-dotdot-staying-inside"),
    pytest.param(call("read", "{ws}/src/new_file.py"), READ_OK, id="read-missing-file-inside"),
    pytest.param(call("read", "{ws}/src/new/dir/f.py"), READ_OK, id="read-missing-dirs-inside"),
    pytest.param(call("read", "src/ünïcödé 🐍 名前.py"), READ_OK, id="read-unicode-inside"),
    pytest.param(call("read", "{ws}/link_in/a.py"), READ_OK, id="read-symlink-in-to-in"),
    pytest.param(call("read", "{out}/link_in/a.py"), READ_OK, id="read-symlink-out-to-in"),
    pytest.param(call("read", "{root}/ws_link/src/a.py"), READ_OK, id="read-via-ws-alias"),
    pytest.param(call("read", "link_out/../ws/src/a.py"), READ_OK, id="read-symlink-dotdot-back-in"),
    pytest.param(call("read", "{ws}/src/a.py", "{ws}/src/b.py"), READ_OK, id="read-two-inside"),
    pytest.param(
        call("read", "{ws}/src/a.py", rawInput={"cwd": "{ws}/src", "command": ["cat", "a.py"]}),
        EXEC,  # a read that asks permission to run a shell command is judged as a command
        id="read-cwd-inside",
    ),
    pytest.param(call("read", rawInput={"path": "src/a.py"}), READ_OK, id="read-rawinput-path-only"),
    pytest.param(call("read", "src/a.py", locations=[{"path": "src/a.py"}]), READ_OK, id="read-line-missing"),
    # --- read / search / think outside -------------------------------------------------------
    pytest.param(call("read", "{out}/secret.txt"), READ_OUT, id="read-abs-outside"),
    pytest.param(call("read", "/etc/hosts"), READ_OUT, id="read-etc"),
    pytest.param(call("search", "/"), READ_OUT, id="search-filesystem-root"),
    pytest.param(call("think", "{out}/secret.txt"), READ_OUT, id="think-outside"),
    pytest.param(call("read", "{sib}/x.py"), READ_OUT, id="read-sibling-prefix"),
    pytest.param(call("read", "{root}"), READ_OUT, id="read-workspace-parent"),
    pytest.param(call("read", ".."), READ_OUT, id="read-dotdot"),
    pytest.param(call("read", "../outside/secret.txt"), READ_OUT, id="read-dotdot-escape"),
    pytest.param(call("read", "src/../../outside/secret.txt"), READ_OUT, id="read-dotdot-chain"),
    pytest.param(call("read", "src/pkg/" + "../" * 12 + "etc/passwd"), READ_OUT, id="read-deep-dotdot"),
    pytest.param(call("read", "{ws}/src/../../ws-sibling/x.py"), READ_OUT, id="read-abs-dotdot-sibling"),
    pytest.param(call("read", "link_out/secret.txt"), READ_OUT, id="read-symlink-in-to-out"),
    pytest.param(call("read", "{ws}/link_out_file"), READ_OUT, id="read-file-symlink-in-to-out"),
    pytest.param(call("read", "link_out/new.txt"), READ_OUT, id="read-missing-via-symlink-out"),
    pytest.param(
        call("read", "link_out/../outside/secret.txt"), READ_OUT, id="read-symlink-dotdot-not-lexical"
    ),
    pytest.param(call("read", "link_in/../../outside/secret.txt"), READ_OUT, id="read-symlink-in-dotdot-out"),
    pytest.param(call("read", "{out}/ü 名前"), READ_OUT, id="read-unicode-outside"),
    pytest.param(call("read", "~/.ssh/id_rsa"), READ_OUT, id="read-tilde-outside"),
    pytest.param(call("read", "~"), READ_OUT, id="read-tilde-home"),
    pytest.param(call("read", "{ws}/src/a.py", "{out}/secret.txt"), READ_OUT, id="read-mixed"),
    pytest.param(
        call("read", "{ws}/src/a.py", rawInput={"cwd": "{out}", "command": "cat a.py"}),
        OUTSIDE,
        id="read-cwd-outside",
    ),
    pytest.param(
        call("search", "{ws}/src", raw_input={"cwd": "{out}"}), READ_OUT, id="search-snake-raw-input-cwd"
    ),
    pytest.param(call("read", "src/a.py", rawInput={"path": "{out}/secret.txt"}), READ_OUT, id="raw-path"),
    pytest.param(
        call("read", "src/a.py", rawInput={"paths": ["src/b.py", "{out}/secret.txt"]}),
        READ_OUT,
        id="raw-paths",
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"file_path": "/etc/hosts"}), READ_OUT, id="raw-file_path"
    ),
    pytest.param(call("read", "src/a.py", rawInput={"filePath": "/etc/hosts"}), READ_OUT, id="raw-filePath"),
    pytest.param(call("read", "src/a.py", rawInput={"abs_path": "/etc/hosts"}), READ_OUT, id="raw-abs_path"),
    # --- read: no scope / unresolvable -------------------------------------------------------
    pytest.param(call("read"), NO_LOCATIONS, id="read-no-locations"),
    pytest.param(
        call("read", "{ws}/src/a.py", rawInput={"command": "sed -n '1e touch /tmp/x' src/a.py"}),
        EXEC,
        id="read-that-is-a-sed-command",
    ),
    pytest.param(call("search", locations=[]), NO_LOCATIONS, id="search-empty-locations"),
    pytest.param(call("think"), NO_LOCATIONS, id="think-no-locations"),
    pytest.param(
        call("search", rawInput={"cwd": "{ws}", "command": ["rg", "foo", "/etc"]}),
        EXEC,
        id="search-cwd-only-is-no-scope",
    ),
    pytest.param(call("read", rawInput={"paths": []}), NO_LOCATIONS, id="read-empty-raw-paths"),
    pytest.param(call("read", "dangling_out"), UNRESOLVABLE, id="read-dangling-symlink-out"),
    pytest.param(call("read", "dangling_in"), UNRESOLVABLE, id="read-dangling-symlink-in"),
    pytest.param(call("read", "loop/x"), UNRESOLVABLE, id="read-symlink-loop"),
    pytest.param(call("read", "nope/../../outside/secret.txt"), UNRESOLVABLE, id="read-missing-then-dotdot"),
    pytest.param(call("read", "nope/../src/a.py"), UNRESOLVABLE, id="read-missing-then-dotdot-inside"),
    pytest.param(call("read", "src/a\x00.py"), UNRESOLVABLE, id="read-nul"),
    pytest.param(call("read", ""), UNRESOLVABLE, id="read-empty-path"),
    pytest.param(call("read", "a" * 5000), UNRESOLVABLE, id="read-too-long"),
    pytest.param(call("read", "src/" + "a" * 300), UNRESOLVABLE, id="read-component-too-long"),
    pytest.param(call("read", "~no_such_user_zz9/x"), UNRESOLVABLE, id="read-tilde-unknown-user"),
    pytest.param(call("read", "src/\udcff.py"), READ_OK, id="read-surrogate-escaped-byte"),
    pytest.param(call("read", "src/\ud800.py"), UNRESOLVABLE, id="read-lone-surrogate"),
    pytest.param(call("read", "{ws}/src/a.py", "{ws}/loop"), UNRESOLVABLE, id="read-one-unresolvable"),
    # --- edit / delete / move ----------------------------------------------------------------
    pytest.param(call("edit", "{ws}/src/a.py"), WRITE_IN, id="edit-inside"),
    pytest.param(call("delete", "src/a.py"), WRITE_IN, id="delete-inside"),
    pytest.param(call("move", "src/a.py", "src/pkg/a.py"), WRITE_IN, id="move-inside"),
    pytest.param(call("edit", "{ws}/src/brand_new.py"), WRITE_IN, id="edit-create-inside"),
    pytest.param(call("edit", "link_in/a.py"), WRITE_IN, id="edit-symlink-in-to-in"),
    pytest.param(call("edit", "{out}/link_in/a.py"), WRITE_IN, id="edit-symlink-out-to-in"),
    pytest.param(call("delete", "{ws}"), ROOT, id="delete-workspace-root"),
    pytest.param(call("delete", "."), ROOT, id="delete-dot"),
    pytest.param(call("move", "{ws}/", rawInput={"destination": "src/ws"}), ROOT, id="move-workspace-root"),
    pytest.param(call("move", "src/a.py", rawInput={"to": "{root}/ws_link"}), ROOT, id="move-onto-the-root"),
    pytest.param(call("edit", rawInput={"changes": {"{ws}": {"type": "delete"}}}), ROOT, id="changes-root"),
    pytest.param(call("delete", "{root}"), OUTSIDE, id="delete-an-ancestor"),
    pytest.param(call("move", "{ws}", rawInput={"dest": "{root}/elsewhere"}), OUTSIDE, id="move-root-out"),
    pytest.param(call("edit", "{out}/secret.txt"), OUTSIDE, id="edit-outside"),
    pytest.param(call("delete", "/etc/hosts"), OUTSIDE, id="delete-outside"),
    pytest.param(call("move", "src/a.py", "{out}/a.py"), OUTSIDE, id="move-to-outside"),
    pytest.param(call("edit", "{sib}/x.py"), OUTSIDE, id="edit-sibling-prefix"),
    pytest.param(call("edit", "../outside/new.py"), OUTSIDE, id="edit-dotdot-escape"),
    pytest.param(call("edit", "link_out/secret.txt"), OUTSIDE, id="edit-symlink-in-to-out"),
    pytest.param(call("edit", "link_out/new.py"), OUTSIDE, id="edit-create-via-symlink-out"),
    pytest.param(call("edit", "{ws}/link_out_file"), OUTSIDE, id="edit-file-symlink-out"),
    pytest.param(call("edit", "~/.ssh/authorized_keys"), OUTSIDE, id="edit-tilde-outside"),
    pytest.param(call("edit", "src/a.py", rawInput={"cwd": "{out}"}), OUTSIDE, id="edit-cwd-outside"),
    pytest.param(call("edit", "dangling_out"), UNRESOLVABLE, id="edit-dangling-symlink-out"),
    pytest.param(call("edit", "new/../../x"), UNRESOLVABLE, id="edit-missing-then-dotdot"),
    pytest.param(call("edit"), NO_LOCATIONS, id="edit-no-locations"),
    pytest.param(call("delete", locations=[]), NO_LOCATIONS, id="delete-empty-locations"),
    pytest.param(call("move", rawInput={"cwd": "{ws}"}), NO_LOCATIONS, id="move-cwd-only"),
    pytest.param(
        call(
            "edit",
            rawInput={
                "changes": {"{ws}/src/a.py": {"type": "update", "unified_diff": "", "move_path": None}}
            },
        ),
        WRITE_IN,
        id="changes-key-inside",
    ),
    pytest.param(
        call(
            "edit", "{ws}/src/a.py", rawInput={"changes": {"{out}/evil.py": {"type": "add", "content": "x"}}}
        ),
        OUTSIDE,
        id="changes-key-outside",
    ),
    pytest.param(
        call("edit", rawInput={"changes": {"{ws}/src/a.py": {"type": "update", "move_path": "{out}/a.py"}}}),
        OUTSIDE,
        id="changes-move-path-outside",
    ),
    pytest.param(
        call("edit", rawInput={"changes": {"{ws}/src/a.py": {"update": {"move_path": "{out}/a.py"}}}}),
        OUTSIDE,
        id="changes-legacy-move-path-outside",
    ),
    pytest.param(
        call("edit", rawInput={"changes": [{"path": "src/a.py", "type": "add"}, {"path": "{out}/b.py"}]}),
        MALFORMED,  # a change without a type: what it writes cannot be shown
        id="changes-list-untyped",
    ),
    pytest.param(
        call(
            "edit",
            rawInput={
                "changes": [{"path": "src/a.py", "type": "add"}, {"path": "{out}/b", "type": "delete"}]
            },
        ),
        OUTSIDE,
        id="changes-list-outside",
    ),
    pytest.param(
        call("edit", rawInput={"changes": {"src/a.py": {"type": "delete"}}, "grant_root": "/"}),
        OUTSIDE,
        id="grant-root-outside",
    ),
    pytest.param(
        call("edit", content=[{"type": "diff", "path": "{ws}/src/a.py", "oldText": "a", "newText": "b"}]),
        WRITE_IN,
        id="diff-content-inside",
    ),
    pytest.param(
        call(
            "edit",
            "{ws}/src/a.py",
            content=[
                {"type": "content", "content": {"type": "text", "text": "why"}},
                {"type": "diff", "path": "{out}/x.py", "oldText": None, "newText": "x"},
            ],
        ),
        OUTSIDE,
        id="diff-content-outside",
    ),
    pytest.param(call("move", "src/a.py", rawInput={"move_path": "/tmp/x.py"}), OUTSIDE, id="raw-move-path"),
    # --- execute -----------------------------------------------------------------------------
    pytest.param(
        call("execute", rawInput={"command": ["bash", "-lc", "git status"], "cwd": "{ws}"}),
        EXEC,
        id="execute-argv",
    ),
    pytest.param(call("execute", rawInput={"command": "pytest -q", "cwd": "src"}), EXEC, id="execute-string"),
    pytest.param(call("execute", rawInput={"command": ["ls"]}), EXEC, id="execute-no-cwd"),
    # no command we can show: asked even with the commands flag
    pytest.param(call("execute"), NO_COMMAND, id="execute-no-raw-input"),
    pytest.param(call("execute", rawInput="ls -la"), NO_COMMAND, id="execute-raw-input-string"),
    pytest.param(
        call("execute", "{ws}/src/a.py", rawInput={"cwd": "{ws}"}), NO_COMMAND, id="execute-loc-inside"
    ),
    pytest.param(
        call("execute", rawInput={"command": ["ls"], "cwd": "{out}"}), OUTSIDE, id="execute-cwd-out"
    ),
    pytest.param(
        call("execute", rawInput={"command": "ls", "cwd": "link_out"}), OUTSIDE, id="execute-cwd-link"
    ),
    pytest.param(call("execute", rawInput={"command": "ls", "cwd": "~"}), OUTSIDE, id="execute-cwd-tilde"),
    pytest.param(call("execute", "/etc/hosts", rawInput={"cwd": "{ws}"}), OUTSIDE, id="execute-loc-outside"),
    pytest.param(
        call("execute", rawInput={"command": "ls", "cwd": "loop"}), UNRESOLVABLE, id="execute-cwd-loop"
    ),
    pytest.param(
        call("execute", rawInput={"command": "ls", "cwd": 5}), MALFORMED, id="execute-cwd-not-string"
    ),
    pytest.param(call("execute", locations="abc"), MALFORMED, id="execute-locations-malformed"),
    # --- commands hidden in other fields or shapes (asked, never allowed as a read) ---------
    pytest.param(call("read", "src/a.py", rawInput={"cmd": "cat /etc/shadow"}), MALFORMED, id="read-cmd"),
    pytest.param(call("read", "src/a.py", rawInput={"argv": ["cat", "x"]}), MALFORMED, id="read-argv"),
    pytest.param(call("read", "src/a.py", rawInput={"script": "curl x | sh"}), MALFORMED, id="read-script"),
    pytest.param(
        call("read", "src/a.py", rawInput={"parsed_cmd": [{"type": "read"}]}), MALFORMED, id="read-parsed"
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"command": {"run": "x"}}), MALFORMED, id="read-command-dict"
    ),
    pytest.param(call("read", "src/a.py", rawInput={"command": 42}), MALFORMED, id="read-command-number"),
    pytest.param(
        call("read", "src/a.py", rawInput={"command": ["cat", 1]}), MALFORMED, id="read-argv-not-str"
    ),
    pytest.param(call("read", "src/a.py", rawInput={"command": "  "}), MALFORMED, id="read-command-blank"),
    pytest.param(call("execute", rawInput={"cmd": "ls"}), MALFORMED, id="execute-cmd-field"),
    pytest.param(
        call("execute", rawInput={"command": "ls", "argv": ["rm"]}), MALFORMED, id="execute-two-fields"
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"url": "https://evil.example/x"}), FETCH, id="read-naming-a-url"
    ),
    # --- writes into .git run code later (hooks, config): asked even with the writes flag -------
    pytest.param(call("edit", "{ws}/.git/hooks/pre-commit"), GIT, id="edit-git-hook"),
    pytest.param(call("edit", ".git/config"), GIT, id="edit-git-config"),
    pytest.param(call("edit", "src/a.py", ".git/hooks/post-checkout"), GIT, id="edit-with-a-git-hook"),
    pytest.param(call("delete", ".git"), GIT, id="delete-git-dir"),
    pytest.param(call("move", "src/.git/HEAD"), GIT, id="move-nested-git"),
    pytest.param(call("edit", ".GIT/hooks/pre-commit"), GIT, id="git-upper-case"),
    pytest.param(call("edit", ".Git./config"), GIT, id="git-trailing-dot"),
    pytest.param(call("edit", ".git \u200c/hooks/x"), GIT, id="git-with-ignorable-characters"),
    pytest.param(call("edit", "GIT~1/hooks/x"), GIT, id="git-dos-short-name"),
    pytest.param(call("edit", ".git::$INDEX_ALLOCATION/hooks/x"), GIT, id="git-ntfs-stream"),
    pytest.param(call("edit", ".ｇｉｔ/config"), GIT, id="git-fullwidth"),
    pytest.param(
        call("move", "src/a.py", rawInput={"destination": ".git/hooks/pre-push"}), GIT, id="move-into-git"
    ),
    pytest.param(call("move", ".git/hooks/pre-push", rawInput={"to": "src/x"}), GIT, id="move-out-of-git"),
    *(
        pytest.param(call("edit", path), RUNS, id=f"runs-{path}")
        for path in (
            *(".claude/settings.json", ".CLAUDE/settings.local.json", ".claude/hooks/x.sh", ".mcp.json"),
            *(".MCP.JSON", ".codex/config.toml", ".envrc", "sub/.envrc", ".vscode/tasks.json"),
            *(".VSCode/settings.json", ".idea/workspace.xml", ".gemini/settings.json", ".qwen/settings.json"),
            *(".cursor/mcp.json", ".devcontainer/devcontainer.json", ".github/workflows/ci.yml"),
            *(".GitHub/Workflows/x.yml", ".github/actions/a/action.yml", ".husky/pre-commit"),
            *(".pre-commit-config.yaml", ".npmrc", ".yarnrc.yml", ".env", ".env.local", "CLAUDE.md"),
            *("AGENTS.md", "node_modules/x/index.js", ".venv/lib/site.pth", ".gitlab-ci.yml", "MCP~1.JSO"),
        )
    ),
    pytest.param(
        call("move", "notes.md", rawInput={"new_path": ".claude/commands/x.md"}), RUNS, id="move-into-claude"
    ),
    pytest.param(
        call("edit", rawInput={"changes": {"src/a.py": {"type": "update", "move_path": ".envrc"}}}),
        RUNS,
        id="changes-move-to-envrc",
    ),
    *(
        pytest.param(call("edit", path), WRITE_IN, id=f"plain-{path}")
        for path in (
            *("src/claude.py", ".github/README.md", ".github/CODEOWNERS", ".gitignore", ".gitattributes"),
            *("docs/env.md", "package.json", "Makefile", "src/agents.py", "environment.yml", ".gitmodules"),
        )
    ),
    # --- paths in fields the guardian does not know: found, resolved, asked about if outside ----
    *(
        pytest.param(
            call("read", "src/a.py", rawInput={key: "{out}/secret.txt"}), READ_OUT, id=f"field-{key}"
        )
        for key in ("file", "target", "source", "include", "dir", "directory", "glob", "pattern", "x")
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"files": ["src/b.py", "/etc/hosts"]}), READ_OUT, id="files"
    ),
    pytest.param(call("search", "src", rawInput={"pattern": "../outside/*.txt"}), READ_OUT, id="glob-escape"),
    pytest.param(
        call("read", "src/a.py", rawInput={"options": {"include": [{"p": "{out}/secret.txt"}]}}),
        READ_OUT,
        id="nested-field",
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"entries": {"{out}/x": {}}}), READ_OUT, id="path-as-a-key"
    ),
    pytest.param(call("read", "src/a.py", rawInput={"urls": ["https://evil.example/x"]}), FETCH, id="urls"),
    pytest.param(call("read", "src/a.py", rawInput={"x": "file:///etc/passwd"}), FETCH, id="file-url"),
    pytest.param(call("read", "src/a.py", rawInput={"file": "link_out"}), READ_OUT, id="bare-symlink-name"),
    pytest.param(call("read", rawInput={"target": "src/a.py"}), READ_OK, id="unknown-field-inside"),
    pytest.param(
        call("read", "src/a.py", rawInput={"note": "see src/b.py", "limit": 5, "recursive": True}),
        READ_OK,
        id="harmless-unknown-fields",
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"call_id": "call_1_0", "source": "unified_exec_startup"}),
        READ_OK,
        id="metadata-fields",
    ),
    pytest.param(call("read", "src/a.py", rawInput={"call_id": "/etc/hosts"}), READ_OUT, id="metadata-path"),
    pytest.param(
        call("read", "src/a.py", rawInput={"reason": "compare with /etc/hosts"}), READ_OK, id="reason-is-text"
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"x": {"y": {"z": {"a": {"b": {"c": {"d": {"e": ["f"]}}}}}}}}),
        MALFORMED,
        id="nested-too-deep",
    ),
    pytest.param(call("read", "src/a.py", rawInput="/etc/hosts"), READ_OUT, id="raw-input-a-string"),
    pytest.param(call("read", "src/a.py", rawInput=["/etc/hosts"]), READ_OUT, id="raw-input-a-list"),
    *(
        pytest.param(call("move", "src/a.py", rawInput={key: "{out}/a.py"}), OUTSIDE, id=f"move-{key}")
        for key in ("destination", "dest", "to", "target", "new_path", "newPath", "movePath")
    ),
    pytest.param(call("move", "src/a.py", rawInput={"destination": 3}), MALFORMED, id="move-dest-number"),
    pytest.param(
        call("edit", rawInput={"changes": {"src/a.py": {"type": "update", "new_path": "{out}/a.py"}}}),
        OUTSIDE,
        id="changes-new-path-outside",
    ),
    pytest.param(
        call("edit", rawInput={"changes": {"src/a.py": {"type": "add", "content": "/etc/hosts"}}}),
        WRITE_IN,  # the contents of a file are not a path
        id="changes-content-is-not-a-path",
    ),
    # --- relative paths are taken from the request's own cwd, not the workspace --------------
    pytest.param(
        call("read", "pkg/pkg_out/secret.txt", rawInput={"cwd": "{ws}/src"}), READ_OUT, id="location-from-cwd"
    ),
    pytest.param(
        call("read", rawInput={"cwd": "src", "path": "pkg/pkg_out/secret.txt"}), READ_OUT, id="field-from-cwd"
    ),
    pytest.param(
        call("edit", rawInput={"cwd": "{ws}/src", "changes": {"pkg/pkg_out/x.py": {"type": "add"}}}),
        OUTSIDE,
        id="changes-from-cwd",
    ),
    pytest.param(
        call("read", "pkg/c.py", rawInput={"cwd": "{ws}/src"}), READ_OK, id="relative-to-cwd-inside"
    ),
    pytest.param(
        call("read", "src/a.py", rawInput={"cwd": "{ws}", "path": "src/b.py"}, raw_input={"cwd": "src/pkg"}),
        READ_OK,
        id="two-cwds-inside-from-both",
    ),
    pytest.param(
        call("read", "pkg_out/secret.txt", rawInput={"cwd": "{ws}"}, raw_input={"cwd": "src/pkg"}),
        READ_OUT,
        id="two-cwds-outside-from-one",
    ),
    # --- too large to show whole: refused with the reason ------------------------------------
    pytest.param(
        call("execute", rawInput={"command": "echo " + "x" * 10_000}), TOO_LARGE, id="execute-huge-command"
    ),
    pytest.param(call("read", *[f"src/f{i}.py" for i in range(201)]), TOO_LARGE, id="read-201-paths"),
    # --- fetch -------------------------------------------------------------------------------
    pytest.param(
        call("fetch", title="https://example.com", rawInput={"url": "https://example.com"}), FETCH, id="fetch"
    ),
    pytest.param(call("fetch", rawInput={"query": "acp spec"}), FETCH, id="fetch-web-search"),
    pytest.param(call("fetch", "{out}/secret.txt"), FETCH, id="fetch-outside-location"),
    pytest.param(call("fetch", "{ws}/loop"), UNRESOLVABLE, id="fetch-unresolvable-location"),
    # --- other / unknown kinds ---------------------------------------------------------------
    pytest.param(call("other"), OTHER, id="other"),
    pytest.param(call("other", "{ws}/src/a.py"), OTHER, id="other-inside"),
    pytest.param(call("switch_mode"), OTHER, id="switch-mode"),
    pytest.param(call("delete_everything", "{ws}/src/a.py"), UNKNOWN, id="unknown-kind"),
    pytest.param(call("Read", "{ws}/src/a.py"), UNKNOWN, id="kind-wrong-case"),
    pytest.param(call(None, "{ws}/src/a.py"), UNKNOWN, id="kind-missing"),
    pytest.param({**call(None, "{ws}/src/a.py"), "kind": None}, UNKNOWN, id="kind-null"),
    pytest.param(call(5, "{ws}/src/a.py"), UNKNOWN, id="kind-int"),
    pytest.param(call("", "{ws}/src/a.py"), UNKNOWN, id="kind-empty"),
    pytest.param({}, UNKNOWN, id="empty-tool-call"),
    # --- malformed ---------------------------------------------------------------------------
    pytest.param(call("read", locations="abc"), MALFORMED, id="locations-string"),
    pytest.param(call("read", locations={"path": "src/a.py"}), MALFORMED, id="locations-dict"),
    pytest.param(call("read", locations=[{"line": 3}]), MALFORMED, id="location-without-path"),
    pytest.param(call("read", locations=["src/a.py"]), MALFORMED, id="location-is-string"),
    pytest.param(call("read", 5), MALFORMED, id="path-int"),
    pytest.param(call("read", None), MALFORMED, id="path-null"),
    pytest.param(call("read", ["src/a.py"]), MALFORMED, id="path-list"),
    pytest.param(call("read", "src/a.py", rawInput={"paths": [1, 2]}), MALFORMED, id="raw-paths-ints"),
    pytest.param(call("read", "src/a.py", rawInput={"path": {"p": 1}}), MALFORMED, id="raw-path-object"),
    pytest.param(call("edit", "src/a.py", rawInput={"changes": "abc"}), MALFORMED, id="changes-string"),
    pytest.param(
        call("edit", "src/a.py", rawInput={"changes": {"a.py": {"move_path": 7}}}), MALFORMED, id="mv"
    ),
    pytest.param(call("edit", "src/a.py", content="abc"), MALFORMED, id="content-string"),
    pytest.param(call("edit", "src/a.py", content=[{"type": "diff"}]), MALFORMED, id="diff-without-path"),
    pytest.param("not a dict", MALFORMED, id="tool-call-string"),
    pytest.param(None, MALFORMED, id="tool-call-null"),
    pytest.param([{"kind": "read"}], MALFORMED, id="tool-call-list"),
]


@pytest.mark.usefixtures("home_is_outside")
@pytest.mark.parametrize("flagset", list(FLAGSETS))
@pytest.mark.parametrize(("template", "expected"), CASES)
def test_decision_table(tree: Tree, template: Any, expected: dict[str, Outcome], flagset: str) -> None:
    decision = decide(render(template, tree), tree.ws, FLAGSETS[flagset])
    assert (decision.action, decision.rule) == expected[flagset]
    assert "\n" not in decision.summary
    assert 0 < len(decision.summary) <= 200
    assert all(isinstance(p, str) for p in decision.paths)


# --------------------------------------------------------------------------------------------
# Details of one decision


def test_kind_paths_and_summary_of_an_edit(tree: Tree) -> None:
    tool_call = call("edit", "{ws}/src/a.py", "src/b.py", rawInput={"cwd": "{ws}"})
    decision = decide(render(tool_call, tree), tree.ws, GuardianFlags(allow_writes=True))
    assert decision == Decision(
        action="allow",
        rule="write-inside-flag",
        kind="edit",
        summary="edit src/a.py, src/b.py",
        paths=(f"{tree.ws}/src/a.py", "src/b.py", str(tree.ws)),
        resolved=("src/a.py", "src/b.py"),
        cwd="the workspace root",
        unshown=("src/a.py", "src/b.py"),  # an edit that does not say what it writes
    )


@pytest.mark.parametrize(
    ("raw_input", "summary"),
    [
        (
            {"command": ["bash", "-lc", "git status"], "cwd": "{ws}"},
            "run `git status` (in the workspace root)",
        ),
        ({"command": ["pytest", "-q"], "cwd": "{ws}/src"}, "run `pytest -q` (cwd src)"),
        ({"command": "pytest -q", "cwd": "src"}, "run `pytest -q` (cwd src)"),
        ({"command": ["echo", "a b"]}, "run `echo 'a b'`"),
        ({"command": ["bash", "-lc", "ls\nrm -rf x"]}, "run `ls⟨LF⟩rm -rf x`"),
    ],
)
def test_execute_summary(tree: Tree, raw_input: Any, summary: str) -> None:
    tool_call = render({"kind": "execute", "title": "ls -la", "rawInput": raw_input}, tree)
    decision = decide(tool_call, tree.ws, GuardianFlags())
    assert (decision.action, decision.rule, decision.kind) == ("ask", "execute", "execute")
    assert decision.summary == summary


@pytest.mark.parametrize(
    ("raw_input", "summary"),
    [({"cwd": "{ws}"}, "run ls -la (in the workspace root)"), (None, "run ls -la")],
)
def test_execute_without_a_command_names_the_title(tree: Tree, raw_input: Any, summary: str) -> None:
    tool_call = render({"kind": "execute", "title": "ls -la", "rawInput": raw_input}, tree)
    decision = decide(tool_call, tree.ws, GuardianFlags(allow_commands=True))
    assert (decision.action, decision.rule) == ("ask", "no-command")
    assert decision.summary == summary


def test_the_decision_carries_the_whole_request(tree: Tree) -> None:
    padded = "ls" + " " * 500 + "; touch MARK"
    tool_call = render(
        {"kind": "execute", "rawInput": {"command": ["/bin/bash", "-lc", padded], "cwd": "{ws}/src"}}, tree
    )
    decision = decide(tool_call, tree.ws, GuardianFlags())
    assert decision.command is not None
    assert decision.command.text == padded  # never cut: the summary is, the request is not
    assert decision.command.via == "bash -lc"
    assert decision.cwd == "src"
    assert decision.summary == "run `ls⟨500 blanks⟩; touch MARK` (cwd src)"  # padding shows as padding
    long = "echo " + "x" * 500 + "; touch MARK"
    decision = decide(
        render({"kind": "execute", "rawInput": {"command": long}}, tree), tree.ws, GuardianFlags()
    )
    assert decision.command is not None
    assert decision.command.text == long  # never cut: the summary is, the request is not
    assert decision.summary.endswith("…")
    edits = [f"src/f{i}.py" for i in range(6)] + [".git/hooks/pre-commit"]
    decision = decide(render(call("edit", *edits), tree), tree.ws, GuardianFlags(allow_writes=True))
    assert decision.resolved == (*edits,)
    assert "(+4 more)" in decision.summary


def test_execute_outside_summary_names_the_real_cwd(tree: Tree) -> None:
    tool_call = render({"kind": "execute", "rawInput": {"command": "ls", "cwd": "link_out"}}, tree)
    decision = decide(tool_call, tree.ws, GuardianFlags(allow_commands=True))
    assert decision.rule == "outside-workspace"
    assert decision.summary == f"run `ls` (cwd link_out (→ {tree.out})) — outside the workspace"


@pytest.mark.usefixtures("home_is_outside")
@pytest.mark.parametrize(
    ("tool_call", "summary"),
    [
        (call("read", "/etc/hosts"), "read /etc/hosts — outside the workspace"),
        (call("read", "{ws}/src/a.py"), "read src/a.py"),
        (call("search", "{ws}"), "search the workspace root"),
        (call("read", "~/.ssh/id_rsa"), "read ~/.ssh/id_rsa (→ {home}/.ssh/id_rsa) — outside the workspace"),
        (call("delete", "a.txt", "b.txt", "c.txt", "d.txt", "e.txt"), "delete a.txt, b.txt, c.txt (+2 more)"),
        (call("fetch", title="https://example.com/x"), "fetch https://example.com/x"),
        (call("fetch", rawInput={"query": "acp"}), "fetch search: acp"),
        (call("other", title="do a thing"), "other: do a thing"),
        (call("read", title="git diff"), "read: git diff (no locations given)"),
        (call("edit", "loop"), "edit loop — path cannot be resolved"),
        (call(None, title="mystery"), "unknown kind: mystery"),
    ],
)
def test_summaries(tree: Tree, tool_call: Any, summary: str) -> None:
    decision = decide(render(tool_call, tree), tree.ws, GuardianFlags())
    assert decision.summary == render(summary, tree)


def test_summary_is_one_short_line_without_invisible_tricks(tree: Tree) -> None:
    sneaky = "src/" + "/".join(["x" * 100] * 4) + "\u202e\n\r\tgnp.exe"
    decision = decide(call("read", sneaky, title="a\nb"), tree.ws, GuardianFlags())
    assert decision.action == "allow"
    assert len(decision.summary) <= 200
    assert decision.summary.endswith("…")
    assert not any(ch in decision.summary for ch in "\n\r\t\u202e")


def test_kind_is_reported_as_seen(tree: Tree) -> None:
    assert decide({"kind": "weird\nkind"}, tree.ws, GuardianFlags()).kind == "weird⟨LF⟩kind"
    weird = decide({"kind": "weird\nkind", "title": "a\u00a0b"}, tree.ws, GuardianFlags())
    assert weird.summary == "weird⟨LF⟩kind: a⟨U+00A0⟩b"  # made visible once, never twice
    assert decide({"kind": 3}, tree.ws, GuardianFlags()).kind == "other"
    assert decide({}, tree.ws, GuardianFlags()).kind == "other"


def test_workspace_given_through_a_symlink(tree: Tree) -> None:
    alias = tree.root / "ws_link"
    inside = decide(call("read", f"{tree.ws}/src/a.py"), alias, GuardianFlags())
    assert (inside.action, inside.rule) == ("allow", "read-inside")
    outside = decide(call("read", f"{alias}/../outside/secret.txt"), alias, GuardianFlags())
    assert (outside.action, outside.rule) == ("ask", "outside-workspace")


def test_tilde_inside_workspace(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree.ws))
    decision = decide(call("edit", "~/src/a.py"), tree.ws, GuardianFlags(allow_writes=True))
    assert (decision.action, decision.rule) == ("allow", "write-inside-flag")


def test_relative_paths_ignore_the_process_cwd(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.out)
    # "secret.txt" exists in the process cwd (outside) but means <workspace>/secret.txt.
    decision = decide(call("read", "secret.txt"), tree.ws, GuardianFlags())
    assert (decision.action, decision.rule) == ("allow", "read-inside")
    assert realpath("secret.txt", str(tree.ws)) == str(tree.ws / "secret.txt")


def test_unresolvable_workspace_asks(tree: Tree) -> None:
    decision = decide(call("read", "src/a.py"), Path("bad\x00ws"), GuardianFlags())
    assert (decision.action, decision.rule) == ("ask", "unresolvable-path")


class ExplodingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        return iter(["kind"])

    def __len__(self) -> int:
        return 1


def test_decide_never_raises(tree: Tree) -> None:
    decision = decide(ExplodingMapping(), tree.ws, GuardianFlags(True, True, True))
    assert (decision.action, decision.rule) == ("ask", "malformed")


# --------------------------------------------------------------------------------------------
# realpath + within (what the guardian resolves with), describe_command, GuardianFlags.from_env


@pytest.mark.usefixtures("home_is_outside")
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/a.py", "{ws}/src/a.py"),
        ("{ws}", "{ws}"),
        ("{ws}/src/new/file.py", "{ws}/src/new/file.py"),
        ("link_in/pkg/c.py", "{ws}/src/pkg/c.py"),
        ("{out}/link_in/a.py", "{ws}/src/a.py"),
        ("{out}/link_ws", "{ws}"),
        ("{root}/ws_link/README.md", "{ws}/README.md"),
        ("src/a.py/", "{ws}/src/a.py"),
        ("..", None),
        ("{root}", None),
        ("{sib}/x.py", None),
        ("link_out", None),
        ("link_out/new", None),
        ("dangling_out", None),
        ("dangling_in", None),
        ("loop", None),
        ("~/.ssh", None),
        ("nope/../a", None),
        ("", None),
        ("a\x00b", None),
    ],
)
def test_realpath_inside(tree: Tree, path: str, expected: str | None) -> None:
    real = realpath(render(path, tree), str(tree.ws))
    result = real if real is not None and within(real, str(tree.ws)) else None
    assert result == (None if expected is None else render(expected, tree))


def test_realpath_rejects_non_strings(tree: Tree) -> None:
    bad: Any = 5
    assert realpath(bad, str(tree.ws)) is None
    assert realpath("src/a.py", None) is None  # a relative path needs somewhere to start from
    assert not within(str(tree.ws), None)


@pytest.mark.parametrize(
    ("raw_input", "expected"),
    [
        ({"command": ["git", "status"]}, "git status"),
        ({"command": ["bash", "-lc", "echo 'hi' && ls"]}, "bash -lc 'echo '\"'\"'hi'\"'\"' && ls'"),
        ({"command": ["echo", "a b", ""]}, "echo 'a b' ''"),
        ({"command": "ls -la | head"}, "ls -la | head"),
        ({"command": ["x", 5]}, "x 5"),
        ({"command": []}, None),
        ({"command": ""}, None),
        ({"command": None}, None),
        ({"command": 5}, None),
        ({"cwd": "/ws"}, None),
        ({}, None),
        (None, None),
        ("ls", None),
        (["ls"], None),
    ],
)
def test_describe_command(raw_input: Any, expected: str | None) -> None:
    assert describe_command(raw_input) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("On", True),
        ("\ton\n", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
        ("2", False),
        ("y", False),
        ("enabled", False),
        ("true!", False),
    ],
)
def test_flags_from_env(value: str, expected: bool) -> None:
    names = ("EXTERNAL_READS", "WRITES", "COMMANDS")
    for name in names:
        flags = GuardianFlags.from_env({f"CODEX_FUSION_ALLOW_{name}": value})
        got = (flags.allow_external_reads, flags.allow_writes, flags.allow_commands)
        assert got == tuple(expected and other == name for other in names)


def test_flags_default_off() -> None:
    assert GuardianFlags.from_env({}) == GuardianFlags(False, False, False)
    assert GuardianFlags.from_env({"ALLOW_WRITES": "1", "CODEX_FUSION_ALLOW_ALL": "1"}) == GuardianFlags()


# --------------------------------------------------------------------------------------------
# Property-based: nothing outside the workspace is ever auto-allowed unless a flag covers it

READ_KINDS = ("read", "search", "think")
WRITE_KINDS = ("edit", "delete", "move")
ALL_KINDS = (*READ_KINDS, *WRITE_KINDS, "execute", "fetch", "other", "switch_mode", "mystery", None)

# Names in the tree that lead back into the workspace from an outside directory.
LEADS_INSIDE = frozenset({"ws", "ws_link", "link_in", "link_ws"})

plain_names = st.text(
    alphabet=st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), min_size=1, max_size=12
).filter(lambda name: name not in {".", ".."} and name not in LEADS_INSIDE)
surrogate_names = st.text(
    alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
    min_size=1,
    max_size=3,
)
odd_names = st.sampled_from(["ü", "名前", "🐍", " ", "-rf", "~", "...", "\u202e", "a\\b", "x" * 300])
names = st.one_of(*[plain_names] * 4, odd_names)
flags_strategy = st.builds(GuardianFlags, st.booleans(), st.booleans(), st.booleans())
relative_prefixes = st.sampled_from(["", "./", "src/../", "src/pkg/../../", "link_in/../", "././"])


@st.composite
def outside_paths(draw: st.DrawFn, tree: Tree) -> str:
    """A path that is outside the workspace (or unresolvable) by construction."""
    absolute_bases = [
        str(tree.out),
        str(tree.sib),
        str(tree.home),
        str(tree.root),
        f"{tree.ws}/link_out",
        f"{tree.ws}/link_out_file",
        f"{tree.ws}/dangling_out",
        f"{tree.ws}/loop",
        f"{tree.ws}/../outside",
        f"{tree.ws}/src/../../ws-sibling",
        "/etc",
        "/usr/share",
    ]
    relative_bases = [
        "..",
        "../outside",
        "../ws-sibling",
        "link_out",
        "link_out_file",
        "dangling_out",
        "link_in/../..",
        "link_out/../outside",
        "src/pkg/../../..",
        "nope/../..",
        "../" * draw(st.integers(min_value=2, max_value=12)),
    ]
    kind = draw(st.sampled_from(["absolute", "relative", "tilde"]))
    if kind == "absolute":
        base = draw(st.sampled_from(absolute_bases))
    elif kind == "relative":
        base = draw(relative_prefixes) + draw(st.sampled_from(relative_bases))
    else:
        base = draw(st.sampled_from(["~", "~/.ssh", "~/../outside"]))
    suffix = draw(st.lists(names, max_size=3))
    if draw(st.integers(min_value=0, max_value=4)) == 3:  # 0 would be hypothesis' favourite
        suffix.append(draw(surrogate_names))
    path = "/".join([base.rstrip("/") or "/", *suffix]) if suffix else base
    path = path.replace("//", draw(st.sampled_from(["/", "//"])))
    path += draw(st.sampled_from(["", "", "/", "/."]))
    if draw(st.integers(min_value=0, max_value=9)) == 7:
        at = draw(st.integers(min_value=0, max_value=len(path)))
        path = path[:at] + "\x00" + path[at:]
    return path


def place(path: str, where: str, kind: Any, inside: str) -> dict[str, Any]:
    """A tool call that carries ``path`` in one of the places the guardian must look at."""
    tool_call: dict[str, Any] = {"toolCallId": "c", "title": "t"}
    if kind is not None:
        tool_call["kind"] = kind
    if where == "location":
        tool_call["locations"] = [{"path": inside}, {"path": path}]
    elif where == "only-location":
        tool_call["locations"] = [{"path": path}]
    elif where == "diff":
        tool_call["locations"] = [{"path": inside}]
        tool_call["content"] = [{"type": "diff", "path": path, "oldText": None, "newText": ""}]
    elif where == "changes":
        tool_call["locations"] = [{"path": inside}]
        tool_call["rawInput"] = {"changes": {path: {"type": "add", "content": ""}}}
    elif where == "move_path":
        tool_call["rawInput"] = {"changes": {inside: {"type": "update", "move_path": path}}}
    else:  # a rawInput field: cwd, path, paths, file_path, filePath, abs_path
        tool_call["locations"] = [{"path": inside}]
        tool_call["rawInput"] = {where: [path] if where == "paths" else path, "command": ["ls"]}
    return tool_call


PLACES = [
    "location",
    "only-location",
    "diff",
    "changes",
    "move_path",
    "cwd",
    "path",
    "paths",
    "file_path",
    "filePath",
    "abs_path",
]


def covered_by_flags(kind: Any, flags: GuardianFlags) -> set[str]:
    """Rules under which an outside path may legitimately be allowed."""
    if flags.allow_external_reads and kind in READ_KINDS:
        return {"read-outside-flag"}
    if flags.allow_external_reads and kind == "fetch":
        return {"fetch-flag"}
    return set()


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(ALL_KINDS), flags=flags_strategy, where=st.sampled_from(PLACES))
def test_outside_paths_are_never_auto_allowed(
    tree: Tree, data: st.DataObject, kind: Any, flags: GuardianFlags, where: str
) -> None:
    path = data.draw(outside_paths(tree))
    inside = data.draw(st.sampled_from(["src/a.py", f"{tree.ws}/README.md", "src/new.py"]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tree.home))
        decision = decide(place(path, where, kind, inside), tree.ws, flags)
        event(f"{decision.action} {decision.rule}")
        real = realpath(path, str(tree.ws))
        assert real is None or not within(real, str(tree.ws))  # outside by construction
    allowed_rules = covered_by_flags(kind, flags)
    if kind in READ_KINDS or kind in WRITE_KINDS or kind == "execute":
        ask_rules = {"outside-workspace"}
    elif kind == "fetch":
        ask_rules = {"fetch"}
    elif kind in ("other", "switch_mode"):
        ask_rules = {"other-kind"}
    else:
        ask_rules = {"unknown-kind"}
    if decision.action == "allow":
        assert decision.rule in allowed_rules, (path, where, decision)
    else:
        assert decision.rule in ask_rules | {"unresolvable-path"}, (path, where, decision)
    if not allowed_rules:
        assert decision.action == "ask", (path, where, decision)
    if "\x00" in path:
        assert (decision.action, decision.rule) == ("ask", "unresolvable-path")


# Components that exercise symlinks, "..", missing directories and odd names in any order.
soup_parts = st.one_of(
    st.sampled_from(
        [
            *(".", "..", "", "src", "pkg", "a.py", "c.py", "README.md", "link_out", "link_out_file"),
            *("link_in", "dangling_out", "dangling_in", "loop", "outside", "ws", "ws_link", "link_ws"),
            *("nope", "~"),
        ]
    ),
    names,
)
soup_starts = st.sampled_from(
    ["", "", "", "/", "~/", "{ws}/", "{ws}/", "{root}/", "{out}/", "{home}/", "{ws}/src/", "{ws}/src/"]
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), cwd=st.sampled_from([None, "", "src", "{ws}/src/pkg", "link_in", "{out}/link_in"]))
def test_what_the_guardian_allows_is_really_inside(tree: Tree, data: st.DataObject, cwd: str | None) -> None:
    """A read ``decide`` allows names a place the OS itself resolves inside the workspace, taken
    from the request's own cwd; and ``decide`` allows exactly what ``realpath`` + ``within`` put inside."""
    start = render(data.draw(soup_starts), tree)
    path = start + "/".join(data.draw(st.lists(soup_parts, min_size=0, max_size=6)))
    home = data.draw(st.sampled_from([tree.home, tree.ws, tree.out]))
    ws_real = os.path.realpath(tree.ws)
    tool_call: dict[str, Any] = {"kind": "read", "locations": [{"path": path}]}
    if cwd is not None:
        tool_call["rawInput"] = {"cwd": render(cwd, tree)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        decision = decide(tool_call, tree.ws, GuardianFlags())
        base = realpath(render(cwd, tree), ws_real) if cwd is not None else ws_real
        real = realpath(path, base) if base is not None else None
        cwd_inside = base is not None and within(base, ws_real)
        event(f"{decision.action} {decision.rule}")
        inside = real is not None and within(real, ws_real) and cwd_inside
        assert (decision.action == "allow") == inside, (path, cwd, real, decision)
        if decision.action != "allow":
            return
        assert decision.rule == "read-inside"
        # Independent oracle: the OS' own (non-strict) resolution lands on the same place.
        assert base is not None
        assert real is not None
        oracle = os.path.realpath(os.path.join(base, os.path.expanduser(path)))
        assert real == oracle
        assert Path(oracle).is_relative_to(ws_real)


# Field names the guardian knows, the ones an unknown tool might use, and made-up ones: a path in
# any of them is found. (Not here: the command fields, asked about as a command, and Codex's
# free-text reason, which is shown and not acted on.)
SKIPPED_FIELDS = {"cwd", "changes", "command", "cmd", "argv", "args", "script", "code", "shell", "program"}
SKIPPED_FIELDS |= {"executable", "commands", "parsed_cmd", "proposed_execpolicy_amendment"}
SKIPPED_FIELDS |= {"available_decisions", "reason", "justification", "explanation"}
field_names = st.one_of(
    st.sampled_from(
        [
            *("file", "target", "source", "include", "urls", "dir", "directory", "files", "glob", "pattern"),
            *("path", "paths", "destination", "dest", "to", "new_path", "newPath", "move_path", "from"),
            *("call_id", "turn_id", "process_id", "type", "kind", "query", "options", "input"),
        ]
    ),
    st.text(st.characters(codec="ascii", categories=["L", "N", "Pc"]), min_size=1, max_size=10),
).filter(lambda name: name not in SKIPPED_FIELDS)
shapes = st.sampled_from(["value", "list", "nested", "key", "deep-list"])


def nest(path: str, shape: str) -> Any:
    return {
        "value": path,
        "list": ["src/a.py", path],
        "nested": {"inner": path},
        "key": {path: {"mode": 1}},
        "deep-list": [{"entries": [path]}],
    }[shape]


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(ALL_KINDS),
    flags=flags_strategy,
    field=field_names,
    shape=shapes,
    cwd=st.sampled_from([None, "{ws}", "src", "{ws}/src/pkg"]),
)
def test_an_outside_path_in_any_field_is_never_auto_allowed(
    tree: Tree,
    data: st.DataObject,
    kind: Any,
    flags: GuardianFlags,
    field: str,
    shape: str,
    cwd: str | None,
) -> None:
    path = data.draw(outside_paths(tree))
    if not path.startswith(("/", "~")):  # outside from the workspace: as far up from the cwd
        path = {None: "", "{ws}": "", "src": "../", "{ws}/src/pkg": "../../"}[cwd] + path
    raw_input: dict[str, Any] = {field: nest(path, shape)}
    if cwd is not None:
        raw_input["cwd"] = render(cwd, tree)
    tool_call: dict[str, Any] = {"kind": kind, "locations": [{"path": "src/a.py"}], "rawInput": raw_input}
    if kind is None:
        del tool_call["kind"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tree.home))
        decision = decide(tool_call, tree.ws, flags)
        event(f"{decision.action} {decision.rule}")
        base = realpath(render(cwd, tree), str(tree.ws)) if cwd else str(tree.ws)
        real = realpath(path, base)
        assert real is None or not within(real, str(tree.ws))  # outside by construction
    if decision.action == "allow":
        assert decision.rule in covered_by_flags(kind, flags), (path, field, shape, decision)


WS_SYMLINKS = frozenset(
    {"link_out", "link_out_file", "link_in", "dangling_out", "dangling_in", "loop", "pkg_out"}
)
inside_names = st.text(
    alphabet=st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), min_size=1, max_size=30
).filter(lambda name: name not in {".", ".."} | WS_SYMLINKS and not name.startswith("~"))


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(ALL_KINDS),
    flags=flags_strategy,
    parts=st.lists(inside_names, min_size=1, max_size=4),
)
def test_inside_paths_follow_the_flags(
    tree: Tree, data: st.DataObject, kind: Any, flags: GuardianFlags, parts: list[str]
) -> None:
    base = data.draw(st.sampled_from(["src", f"{tree.ws}/src/pkg", "link_in", f"{tree.out}/link_in", ""]))
    path = "/".join([base, *parts]) if base else "/".join(parts)
    decision = decide({"kind": kind, "locations": [{"path": path}]}, tree.ws, flags)
    expected: Outcome
    if kind in READ_KINDS:
        expected = ("allow", "read-inside")
    elif kind in WRITE_KINDS:
        expected = ("allow", "write-inside-flag") if flags.allow_writes else ("ask", "write")
    elif kind == "execute":
        expected = ("ask", "no-command")  # locations but nothing to run that Claude could read
    elif kind == "fetch":
        expected = ("allow", "fetch-flag") if flags.allow_external_reads else ("ask", "fetch")
    elif kind in ("other", "switch_mode"):
        expected = ("ask", "other-kind")
    else:
        expected = ("ask", "unknown-kind")
    found = by_name([normalised(part) for part in path.split("/")])
    if kind in WRITE_KINDS and found is not None:  # names a tool runs: tested on their own below
        rule = "git-internals" if found.owner == "git" else "execution-bearing"
        expected = ("ask", rule)
    assert (decision.action, decision.rule) == expected, (path, decision)


@settings(max_examples=200, deadline=None)
@given(
    flags=flags_strategy,
    kind=st.sampled_from(ALL_KINDS),
    tool_call=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=12,
    ),
    locations=st.one_of(
        st.none(), st.text(max_size=5), st.lists(st.one_of(st.none(), st.integers()), max_size=2)
    ),
)
def test_garbage_never_raises_and_never_allows_writes(
    tree: Tree, flags: GuardianFlags, kind: Any, tool_call: Any, locations: Any
) -> None:
    if isinstance(tool_call, dict):
        tool_call = {**tool_call, "kind": kind, "locations": locations}
    decision = decide(tool_call, tree.ws, flags)
    assert decision.action in ("allow", "ask")
    assert "\n" not in decision.summary
    if not isinstance(tool_call, dict) or locations not in (None, []):
        assert (decision.action, decision.rule) == ("ask", "malformed")
    elif kind in (*READ_KINDS, *WRITE_KINDS) and {"rawInput", "raw_input", "content"}.isdisjoint(tool_call):
        assert (decision.action, decision.rule) == ("ask", "no-locations")
    if kind in WRITE_KINDS and not flags.allow_writes:
        assert decision.action == "ask"
    if kind == "execute" and not flags.allow_commands:
        assert decision.action == "ask"
    if kind not in (*READ_KINDS, *WRITE_KINDS, "execute", "fetch"):
        assert decision.action == "ask"


# --------------------------------------------------------------------------------------------
# What the real adapters send (tests/e2e/test_adapters_raw.py, E2E_WIRE_LOG): their metadata is not
# mistaken for paths, so finding paths in every field adds no pause to their ordinary requests.

RUST_EXEC = {
    "toolCallId": "call_1_0",
    "kind": "execute",
    "status": "pending",
    "title": "touch made.txt",
    "content": [
        {"type": "content", "content": {"type": "text", "text": "Needed\nProposed Amendment: touch"}}
    ],
    "rawInput": {
        "call_id": "call_1_0",
        "turn_id": "01a23c44-b0f2-7c51-bb05-1b878d6763eb",
        "started_at_ms": 1796307464649,
        "process_id": "3358",
        "source": "unified_exec_startup",
        "command": ["/bin/bash", "-lc", "touch made.txt"],
        "cwd": "{ws}",
        "reason": "Needed for the test",
        "proposed_execpolicy_amendment": ["touch", "made.txt"],
        "available_decisions": [
            "approved",
            {"approved_execpolicy_amendment": {"proposed_execpolicy_amendment": ["touch", "made.txt"]}},
            "abort",
        ],
        "parsed_cmd": [{"type": "unknown", "cmd": "touch made.txt"}],
    },
}
RUST_READ = {
    "toolCallId": "call_1_0",
    "kind": "read",
    "title": "Read README.md",
    "locations": [{"path": "{ws}/README.md"}],
    "rawInput": {
        "call_id": "call_1_0",
        "process_id": "38420",
        "turn_id": "01a23c44-98c9-7ba0-b7d8-6ebf93de004b",
        "started_at_ms": 1796307458476,
        "command": ["/bin/bash", "-lc", "cat README.md"],
        "cwd": "{ws}",
        "parsed_cmd": [{"type": "read", "cmd": "cat README.md", "name": "README.md", "path": "README.md"}],
        "source": "unified_exec_startup",
    },
}
RUST_EDIT = {
    "toolCallId": "call_3_0",
    "kind": "edit",
    "status": "pending",
    "title": "Edit {ws}/notes.txt",
    "content": [{"type": "diff", "path": "{ws}/notes.txt", "newText": "note\n"}],
    "locations": [{"path": "{ws}/notes.txt"}],
    "rawInput": {
        "call_id": "call_3_0",
        "turn_id": "01a23c44-90da-7862-addb-93f426e6c211",
        "started_at_ms": 1796307456320,
        "auto_approved": False,
        "changes": {"{ws}/notes.txt": {"type": "add", "content": "note\n"}},
    },
}
TS_EXEC = {
    "toolCallId": "call_1_0",
    "title": "touch made.txt",
    "kind": "execute",
    "status": "pending",
    "content": [{"type": "terminal", "terminalId": "call_1_0"}],
    "rawInput": {"command": "touch made.txt", "cwd": "{ws}"},
    "_meta": {"terminal_info": {"cwd": "{ws}", "terminal_id": "call_1_0"}},
}
TS_READ = {
    "toolCallId": "call_1_0",
    "name": "exec_command",
    "kind": "read",
    "title": "Read file '{ws}/README.md'",
    "status": "in_progress",
    "locations": [{"path": "{ws}/README.md"}],
}
TS_EDIT = {
    "toolCallId": "call_3_0",
    "title": "Edit files",
    "kind": "edit",
    "status": "pending",
    "locations": [{"path": "{ws}/notes.txt"}],
    "content": [
        {
            "type": "diff",
            "oldText": None,
            "newText": "note\n",
            "path": "{ws}/notes.txt",
            "_meta": {"kind": "add"},
        }
    ],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param(RUST_EXEC, ("allow", "execute-flag"), id="rust-exec"),
        pytest.param(RUST_READ, ("allow", "execute-flag"), id="rust-read-with-its-command"),
        pytest.param(RUST_EDIT, ("allow", "write-inside-flag"), id="rust-edit"),
        pytest.param(TS_EXEC, ("allow", "execute-flag"), id="ts-exec"),
        pytest.param(TS_READ, ("allow", "read-inside"), id="ts-read"),
        pytest.param(TS_EDIT, ("allow", "write-inside-flag"), id="ts-edit"),
    ],
)
def test_the_real_adapters_requests_are_decided_as_before(
    tree: Tree, template: dict[str, Any], expected: Outcome
) -> None:
    flags = GuardianFlags(allow_writes=True, allow_commands=True)
    decision = decide(render(template, tree), tree.ws, flags)
    assert (decision.action, decision.rule) == expected, decision


# --------------------------------------------------------------------------------------------
# Git directories found on disk: through gitfiles, commondir, their shape, and what their config
# names (core.hooksPath, core.fsmonitor). Each layout is its own workspace.

WRITES = GuardianFlags(allow_writes=True)


def layout(tmp_path: Path, files: dict[str, str], dirs: tuple[str, ...] = ()) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in dirs:
        (ws / name).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(text)
    return ws


def write_rule(ws: Path, path: str, kind: str = "edit") -> str:
    decision = decide({"kind": kind, "locations": [{"path": path}]}, ws, WRITES)
    return str(decision.rule)


def test_a_gitfile_makes_the_directory_it_names_git_internals(tmp_path: Path) -> None:
    ws = layout(tmp_path, {".git": "gitdir: vendor/gd\n", "vendor/gd/HEAD": "ref: x\n"}, ("vendor/gd/hooks",))
    assert write_rule(ws, "vendor/gd/hooks/pre-commit") == "git-internals"
    assert write_rule(ws, "vendor/gd/config") == "git-internals"
    assert write_rule(ws, "vendor/other.txt") == "write-inside-flag"


def test_commondir_is_git_internals_too(tmp_path: Path) -> None:
    files = {".git": "gitdir: meta/wt\n", "meta/wt/commondir": "../common\n"}
    ws = layout(tmp_path, files, ("meta/common/hooks",))
    assert write_rule(ws, "meta/common/hooks/post-checkout") == "git-internals"


def test_a_directory_shaped_like_a_git_dir_is_git_internals(tmp_path: Path) -> None:
    ws = layout(
        tmp_path, {"tools/bare/HEAD": "ref: refs/heads/main\n"}, ("tools/bare/objects", "tools/bare/refs")
    )
    assert write_rule(ws, "tools/bare/hooks/pre-commit") == "git-internals"
    assert write_rule(ws, "tools/notes.txt") == "write-inside-flag"


@pytest.mark.parametrize(
    ("config", "target"),
    [
        ("[core]\n\thooksPath = tools/hooks\n", "tools/hooks/pre-commit"),
        ('[CORE]\n  HooksPath = "tools/my hooks" ; a comment\n', "tools/my hooks/pre-push"),
        ("[core]\n\tfsmonitor = tools/fsmon.sh\n", "tools/fsmon.sh"),
        ("[include]\n\tpath = extra.config\n", "tools/hooks/pre-commit"),
        ("[core]\n\thooksPath = tools/hooks\n", "tools"),  # moving or deleting what holds the hooks
    ],
)
def test_what_the_git_config_names_is_git_internals(tmp_path: Path, config: str, target: str) -> None:
    files = {".git/config": config, ".git/extra.config": "[core]\nhooksPath=tools/hooks\n"}
    ws = layout(tmp_path, files, ("tools/hooks", "tools/my hooks"))
    assert write_rule(ws, target, "delete") == "git-internals"
    assert write_rule(ws, "tools/other.sh") == "write-inside-flag"


def test_a_dot_git_symlink_is_followed(tmp_path: Path) -> None:
    ws = layout(tmp_path, {}, ("meta/gitdir/hooks",))
    (ws / ".git").symlink_to(ws / "meta" / "gitdir", target_is_directory=True)
    assert write_rule(ws, "meta/gitdir/hooks/pre-commit") == "git-internals"


def test_a_fifo_where_a_gitfile_would_be_does_not_hang(tmp_path: Path) -> None:
    ws = layout(tmp_path, {}, ("src",))
    os.mkfifo(ws / ".git")
    os.mkfifo(ws / "src" / "commondir")
    assert write_rule(ws, "src/a.py") == "write-inside-flag"


def test_a_hostile_git_config_cannot_hang_or_loop(tmp_path: Path) -> None:
    config = "[include]\n\tpath = fifo\n[include]\n\tpath = config\n[core]\n\thooksPath = hooks\n"
    ws = layout(tmp_path, {".git/config": config + "x" * 200_000}, ("hooks",))
    os.mkfifo(ws / ".git" / "fifo")
    assert write_rule(ws, "hooks/pre-commit") == "git-internals"  # read up to 64 KiB, includes bounded
    assert write_rule(ws, "src/a.py") == "write-inside-flag"


def test_the_pause_says_why_a_write_is_asked(tree: Tree) -> None:
    decision = decide(call("edit", ".claude/settings.json"), tree.ws, WRITES)
    assert decision.detail is not None
    assert (
        ".claude/settings.json is under .claude (Claude Code's settings, hooks and commands)"
        in decision.detail
    )
    assert "CODEX_FUSION_ALLOW_WRITES does not cover it" in decision.detail
    decision = decide(call("edit", ".envrc"), tree.ws, WRITES)
    assert decision.detail is not None
    assert decision.detail.startswith(".envrc: direnv runs it when you enter the directory. Writing there")


# Names a tool runs or obeys on its own (an independent list, checked against docs/security.md's).
EXECUTION_BEARING = [".git", ".claude", ".mcp.json", ".codex", ".envrc", ".vscode", ".idea", ".husky"]
EXECUTION_BEARING += [".gemini", ".qwen", ".cursor", ".devcontainer", ".pre-commit-config.yaml", ".npmrc"]
EXECUTION_BEARING += [".env", "claude.md", "agents.md", "node_modules", ".venv", ".yarnrc.yml"]
disguises = st.sampled_from(["", ".", " ", "..", "\u200c", "\u200b", "\ufeff", "\u00ad", "::$DATA"])


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(EXECUTION_BEARING),
    upper=st.lists(st.booleans(), min_size=30, max_size=30),
    disguise=disguises,
    before=st.lists(st.sampled_from(["src", "pkg", "a b", "ü"]), max_size=2),
    after=st.lists(st.sampled_from(["hooks", "pre-commit", "settings.json", "x"]), max_size=2),
    kind=st.sampled_from(WRITE_KINDS),
)
def test_execution_bearing_names_are_never_auto_allowed(
    tree: Tree,
    name: str,
    upper: list[bool],
    disguise: str,
    before: list[str],
    after: list[str],
    kind: str,
) -> None:
    """However it is spelled for a case-insensitive or normalising filesystem."""
    spelled = "".join(ch.upper() if up else ch for ch, up in zip(name, upper, strict=False)) + disguise
    path = "/".join([*before, spelled, *after])
    decision = decide({"kind": kind, "locations": [{"path": path}]}, tree.ws, GuardianFlags(True, True, True))
    assert decision.action == "ask", (path, decision)
    assert decision.rule in ("git-internals", "execution-bearing"), (path, decision)


# Where a write runs code later, however the name is spelled, and the reason the pause gives for it.
_GIT_WHY = "git runs its hooks and the programs its config names"
_NOT_COVERED = ". Writing there runs code later, so CODEX_FUSION_ALLOW_WRITES does not cover it"
UNSAFE_WRITES = [
    pytest.param(".git", f".git: {_GIT_WHY}", id=".git"),
    pytest.param(".GIT", f".GIT: {_GIT_WHY}", id=".GIT"),
    pytest.param(".git.", f".git.: {_GIT_WHY}", id=".git."),
    pytest.param(
        ".GIT/hooks/pre-commit", f".GIT/hooks/pre-commit is under .git/ ({_GIT_WHY})", id=".GIT/hooks"
    ),
    pytest.param(".git./config", f".git./config is under .git/ ({_GIT_WHY})", id=".git./config"),
    pytest.param("src/.GIT./HEAD", f"src/.GIT./HEAD is under .git/ ({_GIT_WHY})", id="nested .GIT."),
]


@pytest.mark.parametrize(("path", "why"), UNSAFE_WRITES)
def test_a_write_into_a_git_directory_however_spelled_says_why_it_is_asked(
    tree: Tree, path: str, why: str
) -> None:
    for kind in WRITE_KINDS:
        decision = decide(call(kind, path), tree.ws, WRITES)
        assert (decision.action, decision.rule) == ("ask", "git-internals"), (kind, decision)
        assert decision.detail == why + _NOT_COVERED, (kind, decision.detail)
