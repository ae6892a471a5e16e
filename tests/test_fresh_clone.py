"""The README's test command on a machine where nothing is provisioned: the end-to-end tiers skip
with the reason (what to run), outside CI; under ``CI=true`` they fail.

The e2e finders look for the real programs through ``CODEX_FUSION_ADAPTERS_DIR`` and
``CODEX_FUSION_CLAUDE_DIR`` and ``CODEX_FUSION_AGENTS_DIR`` (defaults under ``~/.cache/codex-fusion``);
pointing them at a missing
directory and HOME at an empty one is a fresh clone on a fresh machine, as far as they can tell.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run_e2e(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        CODEX_FUSION_ADAPTERS_DIR=str(tmp_path / "no-adapters"),
        CODEX_FUSION_CLAUDE_DIR=str(tmp_path / "no-claude"),
        CODEX_FUSION_AGENTS_DIR=str(tmp_path / "no-agents"),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/e2e"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_without_provisioning_the_e2e_tiers_skip_with_the_reason(tmp_path: Path) -> None:
    done = _run_e2e(tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    reasons = re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", done.stdout, flags=re.M)
    assert reasons, done.stdout[-3000:]
    for reason in reasons:
        assert re.search(r"provision-(adapters|claude|agents)", reason), reason


def test_under_ci_missing_programs_fail(tmp_path: Path) -> None:
    done = _run_e2e(tmp_path, CI="true")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "prerequisites missing on CI" in done.stdout or "unavailable on CI" in done.stdout
