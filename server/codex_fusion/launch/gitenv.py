"""The environment that switches off the workspace's git programs for an agent (ADR 0023).

Reads the workspace's git config once, at start, with git locked down (``hookside/gitlock.py``), and
returns the variables every agent gets on top of its own environment — so its own git and every git
its commands start run none of the repository's filters, drivers, hooks, fsmonitor, pager, editor,
ssh or credential programs — or, when the repository's config includes another file, why no agent
starts there.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from codex_fusion.hookside import gitlock
from codex_fusion.launch.members import MemberSpec

#: How long reading the workspace's config may take (a FIFO named by an include would hang git).
READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AgentGit:
    """The git variables every agent gets, and the refusal when none may start."""

    env: dict[str, str] = field(default_factory=lambda: gitlock.lockdown(()).environment())
    refusal: str | None = None


def for_workspace(workspace: Path | None) -> AgentGit:
    """What every agent working in ``workspace`` gets. Blocking (runs ``git config`` once)."""
    if workspace is None:
        return AgentGit()
    try:
        listing = gitlock.read_config(str(workspace), READ_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        # unread, its keys cannot be switched off: fail closed
        logging.getLogger(__name__).warning("cannot read the workspace's git config: %s", exc)
        return AgentGit(
            refusal=f"codex-fusion could not read the git config of {workspace} in {READ_TIMEOUT_S:g} s "
            "(does an include name a FIFO or a slow disk?); fix the repository's config, then restart"
        )
    lockdown = gitlock.lockdown(gitlock.parse(listing))
    return AgentGit(lockdown.environment(), lockdown.refusal(str(workspace)))


def applied(spec: MemberSpec, git: AgentGit) -> MemberSpec:
    """``spec`` with the git variables over its environment, and the refusal as its error."""
    return replace(spec, env={**spec.env, **git.env}, error=spec.error or git.refusal)
