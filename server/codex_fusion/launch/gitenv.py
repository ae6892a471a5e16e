"""The environment that switches off the workspace's git programs for an agent (ADR 0023).

Reads the workspace's git config once, at start, with git locked down (``hookside/gitlock.py``), and
returns the variables every agent gets on top of its own environment — so its own git and every git
its commands start run none of the repository's filters, drivers, hooks, fsmonitor, pager, editor,
ssh or credential programs — or, when the repository's config includes another file, why no agent
starts there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from codex_fusion.hookside import gitlock, gitsnap
from codex_fusion.launch.members import MemberSpec

#: How long reading the workspace's config may take (a FIFO named by an include would hang git).
READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AgentGit:
    """The git variables every agent gets, and the refusal when none may start."""

    env: dict[str, str] = field(default_factory=lambda: gitlock.lockdown(()).environment())
    refusal: str | None = None
    #: The command-scope settings, for the ``git`` wrapper (:func:`wrapper_text`).
    config: tuple[tuple[str, str], ...] = gitlock.lockdown(()).config


def for_workspace(workspace: Path | None) -> AgentGit:
    """What every agent working in ``workspace`` gets. Blocking (runs ``git config`` once)."""
    if workspace is None or not workspace.is_dir():
        return AgentGit()  # no workspace, no repository config (the workspace's own error says why)
    try:
        entries, modules = _read(str(workspace))
    except (OSError, subprocess.SubprocessError) as exc:
        # unread, its keys cannot be switched off: fail closed
        logging.getLogger(__name__).warning("cannot read the workspace's git config: %s", exc)
        return AgentGit(
            refusal=f"codex-fusion could not read the git config of {workspace} in {READ_TIMEOUT_S:g} s "
            "(does an include name a FIFO or a slow disk?); fix the repository's config, then restart"
        )
    lockdown = gitlock.lockdown(entries, modules)
    return AgentGit(lockdown.environment(), lockdown.refusal(str(workspace)), lockdown.config)


def _read(workspace: str) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """Every setting git sees in ``workspace`` and in its submodules' own config files (git passes
    our settings on to the git it runs there, so their drivers are switched off by name too), and
    the submodule names ``.gitmodules`` gives. Raises OSError or SubprocessError."""
    entries = gitlock.parse(gitlock.read_config(workspace, READ_TIMEOUT_S))
    where = ("rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir")
    top, _, common = os.fsdecode(gitlock.run_locked(workspace, where, READ_TIMEOUT_S)).strip().partition("\n")
    if not top:
        return entries, []
    modules = gitlock.submodule_names(gitlock.run_locked(top, gitlock.GITMODULES_QUERY, READ_TIMEOUT_S))
    for path in gitlock.submodule_configs(common.strip()):
        listing = gitlock.run_locked(top, (*gitlock.FILE_QUERY, path), READ_TIMEOUT_S)
        entries += gitlock.parse_file(listing)
    return entries, modules


def wrapper_text(git: str, config: tuple[tuple[str, str], ...]) -> str:
    """A ``git`` that is ``git`` with ``config`` on its command line (above every other scope). Each
    setting goes by ``--config-env`` (git splits it at the last ``=``; ``-c`` splits at the first, so a
    driver named ``a=b`` would escape ``-c``), its value in a variable set for that one exec."""
    values = " ".join(f"{_VAR}{index}={shlex.quote(value)}" for index, (_, value) in enumerate(config))
    args = " ".join(shlex.quote(f"--config-env={key}={_VAR}{index}") for index, (key, _) in enumerate(config))
    head = "#!/bin/sh\n# codex-fusion: the repository's git programs switched off (ADR 0023)\n"
    return f'{head}{values} exec {shlex.quote(git)} {args} "$@"\n'


#: The variables the wrapper passes each value in.
_VAR = "CODEX_FUSION_GIT_"


def write_wrapper(state_dir: Path, text: str) -> Path:
    """Write ``text`` as ``<state_dir>/bin/git-<hash>/git`` (0700); the directory to put on PATH."""
    from codex_fusion.hookside.private import write_files

    directory = state_dir / "bin" / ("git-" + hashlib.sha256(text.encode()).hexdigest()[:16])
    write_files(state_dir, directory, [("git", text.encode())])  # private dirs, atomic, no symlinks
    fd = os.open(directory / "git", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return directory


def applied(spec: MemberSpec, git: AgentGit, workspace: Path | None, state_dir: Path | None) -> MemberSpec:
    """``spec`` with the git variables over its environment and the refusal as its error. Claude Code
    drops ``GIT_CONFIG_*`` from the environment of the git it runs, so a member that is not Codex
    (whose sandbox could not run it) also gets a ``git`` first on its ``PATH`` that passes the same
    settings on the command line. Blocking (writes the wrapper)."""
    env = {**spec.env, **git.env}
    found = gitsnap.git_search(str(workspace or "/"), env.get("PATH", os.defpath))
    if state_dir is not None and found is not None and spec.error is None:
        try:
            directory = write_wrapper(state_dir, wrapper_text(found[0], git.config))
        except OSError as exc:
            return replace(spec, error=f"codex-fusion cannot write its git wrapper: {exc}")
        env["PATH"] = os.pathsep.join([str(directory), env.get("PATH", "")])
    elif spec.kind == "claude" and spec.error is None:
        why = "no private directory to write its git wrapper in (set CLAUDE_PLUGIN_DATA or HOME)"
        return replace(spec, env=env, error=f"Claude's own git would run the repository's programs: {why}")
    return replace(spec, env=env, error=spec.error or git.refusal)
