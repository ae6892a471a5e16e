"""git for the tests: run in a repository with an isolated configuration (none of the user's or the
system's, no inherited GIT_* variable, a fixed author)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def isolated_env(**extra: str) -> dict[str, str]:
    """Our environment without any GIT_* variable, plus the isolating ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k not in ("PAGER",)}
    return {**env, **GIT_ENV, **extra}


def git(repo: Path, *args: str, check: bool = True, **env: str) -> str:
    """Run git in ``repo`` with an isolated configuration; stdout as text."""
    result = subprocess.run(
        ["git", *args], cwd=repo, env=isolated_env(**env), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout
