"""A repository whose own git configuration runs a marker program for every key class git runs
(ADR 0023): filters, textconv, diff and merge drivers, diff.external, hooks (its hooks directory and
``core.hooksPath``), fsmonitor, ssh, credential helper, pager, editor, askpass, gpg. Shared by the unit
tests and the e2e tests with the real agents."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from .gitrepo import git

#: Every class, by the marker file its program touches.
CLASSES = (
    "clean", "smudge", "process", "textconv", "diffcmd", "external", "merge", "ssh", "cred", "fsmonitor",
    "hook", "pager", "editor", "askpass", "gpg", "include",
)  # fmt: skip

HOOKS = ("pre-commit", "post-commit", "post-checkout", "post-index-change", "reference-transaction")


def _program(bin_dir: Path, markers: Path, name: str) -> Path:
    script = bin_dir / f"{name}.sh"
    # the marker says who ran it: the parent's command line and the GIT_CONFIG_COUNT it had
    who = "$GIT_CONFIG_COUNT $(tr '\\0' ' ' </proc/$PPID/cmdline 2>/dev/null)"
    script.write_text(f"#!/bin/sh\necho \"{who}\" >> '{markers / name}'\nexit 0\n")
    script.chmod(0o755)
    return script


def hostile_repository(root: Path, *, include: bool = False) -> tuple[Path, Path]:
    """``root/ws``: committed files with changes on top, whose ``.git/config`` and ``.gitattributes``
    name a marker program for every class; the markers land in ``root/markers`` (returned second)."""
    workspace, markers, bin_dir = root / "ws", root / "markers", root / "bin"
    for directory in (workspace, markers, bin_dir, bin_dir / "hooks"):
        directory.mkdir(parents=True)
    (workspace / "a.txt").write_text("line 1\n")
    (workspace / "same.txt").write_text("line 1\n")
    (workspace / "b.bin").write_text("x 1\n")
    git(workspace, "init", "-q")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "one")
    (workspace / "a.txt").write_text("line 2\n")
    git(workspace, "commit", "-q", "-am", "two")
    p = {name: _program(bin_dir, markers, name) for name in CLASSES}
    for hook in HOOKS:
        for where in (bin_dir / "hooks", workspace / ".git" / "hooks"):
            (where / hook).write_text(f"#!/bin/sh\ntouch '{markers / 'hook'}'\n")
            (where / hook).chmod(0o755)
    config = f"""
[filter "evil"]
\tclean = {p["clean"]}
\tsmudge = {p["smudge"]}
\trequired = true
[filter "Proc.x"]
\tprocess = {p["process"]}
[diff "evil"]
\ttextconv = {p["textconv"]}
\tcommand = {p["diffcmd"]}
[diff]
\texternal = {p["external"]}
[merge "evil"]
\tdriver = {p["merge"]} %O %A %B
[core]
\tsshCommand = {p["ssh"]}
\tfsmonitor = {p["fsmonitor"]}
\thooksPath = {bin_dir / "hooks"}
\tpager = {p["pager"]}
\teditor = {p["editor"]}
\taskPass = {p["askpass"]}
[pager]
\tlog = {p["pager"]}
[credential]
\thelper = {p["cred"]}
[gpg]
\tprogram = {p["gpg"]}
[log]
\tshowSignature = true
[commit]
\tgpgSign = true
[remote "origin"]
\turl = ssh://example.invalid/x
"""
    if include:
        (bin_dir / "inc.cfg").write_text(f'[filter "inc"]\n\tclean = {p["include"]}\n')
        config += f"[include]\n\tpath = {bin_dir / 'inc.cfg'}\n"
    with (workspace / ".git" / "config").open("a") as handle:
        handle.write(config)
    (workspace / ".gitattributes").write_text(
        "*.txt filter=evil diff=evil merge=evil\n*.bin filter=Proc.x\n*.md filter=inc\n"
    )
    # the same content with a new mtime: git status must hash it (through the clean filter) to know
    (workspace / "same.txt").write_text("line 1\n")
    stamp = (workspace / "same.txt").stat().st_mtime + 100
    os.utime(workspace / "same.txt", (stamp, stamp))
    (workspace / "a.txt").write_text("line 2\nchanged\n")
    (workspace / "b.bin").write_text("x 1\nchanged\n")
    (workspace / "c.md").write_text("doc\n")
    return workspace, markers


#: What an agent's git (and its model's commands) does in a workspace.
COMMANDS = (
    ("status", "--porcelain"),
    ("diff",),
    ("diff", "HEAD"),
    ("log", "-p", "-2"),
    ("show",),
    ("blame", "a.txt"),
    ("grep", "--textconv", "line"),
    ("add", "-A"),
    ("commit", "-q", "-m", "three"),
    ("checkout", "HEAD~1", "--", "a.txt"),
    ("fetch", "origin"),
    ("credential", "fill"),
    ("commit", "--amend"),
)


def run_commands(workspace: Path, env: dict[str, str]) -> None:
    """Each of :data:`COMMANDS` in ``workspace`` with ``env`` over a minimal environment."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workspace.parent), "LC_ALL": "C"}
    ident = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "T"}
    for args in COMMANDS:
        with contextlib.suppress(subprocess.TimeoutExpired):
            _run(workspace, args, {**base, **ident, "GIT_COMMITTER_EMAIL": "t@t.invalid", **env})


def _run(workspace: Path, args: tuple[str, ...], env: dict[str, str]) -> None:
    subprocess.run(
        ["git", *args],
        cwd=workspace,
        env=env,
        input=b"protocol=https\nhost=example.invalid\n\n",
        capture_output=True,
        timeout=20,
        check=False,
    )


def fired(markers: Path) -> list[str]:
    return sorted(os.listdir(markers))


def report(markers: Path) -> dict[str, str]:
    """Each marker that fired, with who ran it."""
    return {name: (markers / name).read_text() for name in fired(markers)}
