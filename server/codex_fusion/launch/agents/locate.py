"""Which program a member runs: the configured command resolved to an absolute path, or the kind's
default (the pinned release ``scripts/provision-agents`` installed, else the agent on ``PATH``), never a
program from the workspace; and which kind of agent a command starts. Reads the filesystem (stat and
``package.json``), nothing else."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import codex_fusion.launch.agents.claude as claude
import codex_fusion.launch.agents.gemini as gemini
from codex_fusion.errors import ConfigError
from codex_fusion.launch.adapters import package_of
from codex_fusion.launch.agents.plan import MemberEntry, MemberKind, safe_path

#: Where ``scripts/provision-agents`` installs: <dir>/<prefix>/node_modules/<package>/<entry>.
PROVISIONED: dict[MemberKind, tuple[str, str, str]] = {
    "claude": (f"claude-{claude.TESTED_VERSION}", claude.PACKAGE, "dist/index.js"),
    "gemini": (f"gemini-{gemini.TESTED_VERSION}", gemini.PACKAGE, "bundle/gemini.js"),
}
#: The program an ``npm install -g`` of the package puts on PATH.
ON_PATH: dict[MemberKind, str] = {"claude": "claude-agent-acp", "gemini": "gemini"}
PACKAGES: dict[str, MemberKind] = {claude.PACKAGE: "claude", gemini.PACKAGE: "gemini"}
BUILT_IN: tuple[MemberKind, ...] = ("claude", "gemini")
INSTALL: dict[MemberKind, str] = {
    "claude": f"`npm install -g {claude.PACKAGE}`",
    "gemini": f"`npm install -g {gemini.PACKAGE}`",
}


def agents_dir(env: Mapping[str, str]) -> Path | None:
    value = env.get("CODEX_FUSION_AGENTS_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    home = env.get("HOME", "").strip()
    return Path(home) / ".cache" / "codex-fusion" / "agents" if home else None


def _which(name: str, env: Mapping[str, str], workspace: Path | None) -> str | None:
    found = shutil.which(name, path=safe_path(env.get("PATH", os.defpath), workspace))
    return os.path.abspath(found) if found else None


def default_command(
    kind: MemberKind, env: Mapping[str, str], workspace: Path | None
) -> tuple[str, ...] | None:
    """The built-in command for ``kind``, or None when it is not installed."""
    if kind not in PROVISIONED:
        return None
    root = agents_dir(env)
    node = _which("node", env, workspace)
    if root is not None and node is not None:
        prefix, package, entry = PROVISIONED[kind]
        script = root / prefix / "node_modules" / package / entry
        if script.is_file():
            return (node, str(script))
    program = _which(ON_PATH[kind], env, workspace)
    return (program,) if program else None


def resolve(
    member: MemberEntry, argv: list[str] | None, env: Mapping[str, str], workspace: Path | None
) -> tuple[str, ...]:
    """The member's argv with an absolute program: its ``command`` (``argv``, already split) or the
    default for a built-in name. A ConfigError says what to do when there is none."""
    if argv is None:
        kind = next((k for k in BUILT_IN if k == member.name), None)
        if kind is None:
            raise ConfigError(
                f"member {member.name!r} has no `command`: only the built-in members "
                f"({', '.join(('codex', *BUILT_IN))}) may leave it out"
            )
        default = default_command(kind, env, workspace)
        if default is None:
            raise ConfigError(
                f"member {member.name!r}: {ON_PATH[kind]} is not installed; install it with "
                f"{INSTALL[kind]}, or give the member a `command`"
            )
        return default
    if not argv:
        raise ConfigError(f"member {member.name!r}: `command` is empty")
    program = argv[0]
    if os.sep in program and not os.path.isabs(program):
        raise ConfigError(
            f"member {member.name!r}: `command` starts with the relative path {program!r}, which would run "
            "from the workspace; give an absolute path or a program on PATH"
        )
    found = (
        program if os.path.isabs(program) and os.access(program, os.X_OK) else _which(program, env, workspace)
    )
    if found is None:
        raise ConfigError(
            f"member {member.name!r}: cannot find {program!r} (not executable, or not on PATH outside the "
            "workspace); fix the member's `command`"
        )
    return (found, *argv[1:])


def detect(argv: tuple[str, ...]) -> MemberKind:
    """The kind of agent ``argv`` starts, from the npm package its program or script belongs to (a
    direct path, ``node <script>``, or ``npx <package>``); ``unknown`` for anything else."""
    if not argv:
        return "unknown"
    name = Path(argv[0]).name.lower()
    if name.startswith(("npx", "pnpm", "bunx")):
        for arg in argv[1:]:
            for package, kind in PACKAGES.items():
                if arg == package or arg.startswith(package + "@"):
                    return kind
        return "unknown"
    target = argv[0]
    if name.startswith("node"):
        script = next((arg for arg in argv[1:] if not arg.startswith("-")), None)
        if script is None or not os.path.isabs(script):
            return "unknown"
        target = script
    try:
        resolved = Path(target).resolve()
    except (OSError, RuntimeError):
        return "unknown"
    found = package_of(resolved)
    return PACKAGES.get(found[0], "unknown") if found else "unknown"
