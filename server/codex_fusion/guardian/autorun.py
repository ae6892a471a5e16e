"""Paths a tool runs on its own: writing there is running code later, so ``ALLOW_WRITES`` never covers them.

Two kinds (each decided in docs/security.md, "Execution-bearing paths"):

- **git's own**: anything inside a git directory — a ``.git`` component, a directory shaped like one
  (``HEAD`` + ``objects/`` + ``refs/``, or a worktree's ``commondir``), the directory a ``.git`` file
  (gitfile) points to and its ``commondir``, wherever they are — and the hooks directory and fsmonitor
  program its ``config`` names (``core.hooksPath``, ``core.fsmonitor``). Git runs hooks on commit,
  checkout, merge …; its config names programs.
- **a tool's own**: a configuration that a tool reads and acts on when it starts or when you enter
  the directory (:data:`NAMES`, :data:`PREFIXES`, :data:`SEQUENCES`): Claude Code's and Codex's
  settings, hooks and MCP servers, agents' instruction files, editors' tasks, direnv, package
  managers' rc files, hook managers, CI definitions, virtual environments.

Names are matched the way a case-insensitive or normalising filesystem would see them, never by asking
the filesystem: Unicode-normalised (NFKC) and case-folded, invisible characters dropped (HFS+ ignores
them, CVE-2014-9390), trailing dots and spaces and an NTFS stream suffix (``:…``) removed, and DOS
short names (``GIT~1``) matched on their prefix. So ``.GIT/hooks``, ``.Git./config`` and
``.git\u200c/hooks`` are all git's.

Reading a gitfile or a git config opens it without blocking (a FIFO cannot hang the guardian), reads
regular files only, at most :data:`MAX_READ` bytes; whatever cannot be read adds nothing (the ``.git``
names and shapes still hold).
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Final

from codex_fusion.guardian.paths import realpath, within
from codex_fusion.hookside.visible import hidden

__all__ = ["NAMES", "PREFIXES", "SEQUENCES", "Finding", "Places", "by_name", "normalised"]

MAX_READ: Final = 64 * 1024
_MAX_INCLUDES: Final = 8

_GIT: Final = ".git"
#: One path component that makes everything under it (or the file itself) execution-bearing.
NAMES: Final = {
    # coding agents: settings, hooks, MCP servers, commands, instructions loaded into every session
    ".claude": "Claude Code's settings, hooks and commands",
    ".mcp.json": "Claude Code's project MCP servers",
    "claude.md": "instructions Claude Code loads into every session",
    "claude.local.md": "instructions Claude Code loads into every session",
    ".codex": "Codex's project config",
    "agents.md": "instructions Codex loads into every session",
    "agents.override.md": "instructions Codex loads into every session",
    ".gemini": "Gemini CLI's settings and MCP servers",
    "gemini.md": "instructions Gemini CLI loads into every session",
    ".qwen": "Qwen Code's settings and MCP servers",
    ".cursor": "Cursor's rules and MCP servers",
    ".cursorrules": "instructions Cursor loads",
    ".windsurf": "Windsurf's rules and workflows",
    ".windsurfrules": "instructions Windsurf loads",
    ".clinerules": "instructions Cline loads",
    ".roo": "Roo Code's rules and MCP servers",
    ".continue": "Continue's config and MCP servers",
    ".kiro": "Kiro's hooks and steering",
    ".amazonq": "Amazon Q's rules and MCP servers",
    # editors: tasks that run on folder open, launch configs, interpreter paths
    ".vscode": "VS Code's tasks (run on folder open) and settings",
    ".idea": "JetBrains run configurations and startup tasks",
    ".zed": "Zed's tasks and language-server settings",
    ".devcontainer": "devcontainer commands (initializeCommand runs on the host)",
    ".devcontainer.json": "devcontainer commands (initializeCommand runs on the host)",
    # entering the directory
    ".envrc": "direnv runs it when you enter the directory",
    ".env": "loaded into the environment by direnv and dotenv runners (NODE_OPTIONS, BASH_ENV …)",
    ".direnv": "direnv's layouts (virtual environments it activates)",
    ".mise.toml": "mise's hooks and environment, run when you enter the directory",
    "mise.toml": "mise's hooks and environment, run when you enter the directory",
    ".mise.local.toml": "mise's hooks and environment, run when you enter the directory",
    "mise.local.toml": "mise's hooks and environment, run when you enter the directory",
    ".mise": "mise's hooks and environment, run when you enter the directory",
    # package managers: programs and scripts they run themselves
    ".npmrc": "npm settings that name programs (script-shell, node-options, git)",
    ".yarnrc": "yarn settings",
    ".yarnrc.yml": "yarn settings (yarnPath runs a file as yarn itself)",
    ".pnpmfile.cjs": "pnpm hooks, run on every install",
    ".pnpmfile.mjs": "pnpm hooks, run on every install",
    "bunfig.toml": "bun settings (preload scripts)",
    ".cargo": "cargo settings (runner, rustc-wrapper), read by cargo and rust-analyzer",
    "node_modules": "installed packages, run by npm, npx and your code",
    ".venv": "the virtual environment (its .pth files run on every interpreter start)",
    # git hook managers: what the hooks run
    ".husky": "husky's git hooks",
    ".pre-commit-config.yaml": "pre-commit's hooks, run on every commit",
    ".pre-commit-config.yml": "pre-commit's hooks, run on every commit",
    "lefthook.yml": "lefthook's git hooks",
    "lefthook.yaml": "lefthook's git hooks",
    ".lefthook.yml": "lefthook's git hooks",
    ".lefthook.yaml": "lefthook's git hooks",
    "lefthook-local.yml": "lefthook's git hooks",
    ".lefthook": "lefthook's git hooks",
    ".overcommit.yml": "overcommit's git hooks",
    # CI: runs with the repository's secrets on the next push of any branch
    ".gitlab-ci.yml": "GitLab CI, run with its secrets on the next push",
    ".circleci": "CircleCI, run with its secrets on the next push",
    ".buildkite": "Buildkite, run with its secrets on the next push",
    "azure-pipelines.yml": "Azure Pipelines, run with its secrets on the next push",
    "bitbucket-pipelines.yml": "Bitbucket Pipelines, run with its secrets on the next push",
    "jenkinsfile": "Jenkins, run with its secrets on the next push",
    ".travis.yml": "Travis CI, run with its secrets on the next push",
}
#: Name prefixes (``.env.local``, ``.env.production`` …).
PREFIXES: Final = {".env.": "loaded into the environment by dotenv runners"}
#: Consecutive components.
SEQUENCES: Final = {
    (".github", "workflows"): "GitHub Actions, run with the repository's secrets on the next push",
    (".github", "actions"): "GitHub Actions, run with the repository's secrets on the next push",
}
#: A DOS short name (``GIT~1``, ``MCP~1.JSO``): NTFS may give one to any name that is not 8.3.
_SHORT_NAME: Final = re.compile(r"([^~.]{1,6})~[0-9]+(?:\.([^.]{1,3}))?")


@dataclass(frozen=True)
class Finding:
    """Why a path is execution-bearing: ``git`` (git's own) or ``tool`` (a tool's configuration)."""

    owner: str  # "git" | "tool"
    what: str  # the name or place, as Claude should read it
    why: str


def normalised(name: str) -> str:
    """A file name as a case-insensitive, normalising filesystem compares it."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", name) if not hidden(ch) or ch == " ")
    text = text.split(":", 1)[0].rstrip(" .")
    return unicodedata.normalize("NFKC", text.casefold())


def _matches(name: str, wanted: str) -> bool:
    if name == wanted:
        return True
    short = _SHORT_NAME.fullmatch(name)
    if short is None:
        return False
    stem, dot, ext = wanted.lstrip(".").rpartition(".")
    if not dot:
        stem, ext = ext, ""
    base, short_ext = short.group(1), short.group(2) or ""
    return stem.replace(".", "").startswith(base) and ext.startswith(short_ext)


def _components(path: str) -> list[str]:
    return [normalised(part) for part in re.split(r"[/\\]", path) if part not in ("", ".")]


def by_name(parts: list[str]) -> Finding | None:
    """The execution-bearing name among normalised path components, or None."""
    if any(_matches(part, _GIT) for part in parts):
        return Finding("git", ".git/", "git runs its hooks and the programs its config names")
    for part in parts:
        for name, why in NAMES.items():
            if _matches(part, name):
                return Finding("tool", name, why)
        for prefix, why in PREFIXES.items():
            if part.startswith(prefix):
                return Finding("tool", part, why)
    for sequence, why in SEQUENCES.items():
        size = len(sequence)
        for i in range(len(parts) - size + 1):
            if tuple(parts[i : i + size]) == sequence:
                return Finding("tool", "/".join(sequence) + "/", why)
    return None


class Places:
    """Execution-bearing places for one workspace, for one decision (what it reads from disk is
    read once)."""

    def __init__(self, workspace_real: str) -> None:
        self._workspace = workspace_real
        self._git_dirs: dict[str, list[str]] = {}
        self._programs: dict[tuple[str, str], list[str]] = {}
        self._shaped: dict[str, bool] = {}

    def finding(self, raw: str, real: str) -> Finding | None:
        """Why writing to ``real`` (inside the workspace, given as ``raw``) runs code later, or None.
        Names are matched below the workspace only (the real path's part, and a relative ``raw``)."""
        relative = os.path.relpath(real, self._workspace)
        found = by_name(_components(relative) if relative != "." else [])
        if found is None and not os.path.isabs(raw) and not raw.startswith("~"):
            found = by_name(_components(raw))
        return found or self._git_place(real)

    def _git_place(self, real: str) -> Finding | None:
        """``real`` in (or containing) a git directory or a program git runs, found on disk: from
        ``real`` and every ancestor up to the filesystem root, its ``.git`` (directory or gitfile),
        what that names, and any directory inside the workspace shaped like a git directory."""
        path = PurePath(real)
        for ancestor in (path, *path.parents):
            directory = str(ancestor)
            if within(directory, self._workspace) and self._shaped_like_git_dir(directory):
                return Finding("git", self._shown(directory) + "/", "a git directory")
            for git_dir in self._dirs_of(directory):
                if within(real, git_dir) or within(git_dir, real):
                    return Finding(
                        "git", self._shown(git_dir) + "/", "a git directory (named by a .git file)"
                    )
                for program in self._programs_of(git_dir, directory):
                    if within(real, program) or within(program, real):
                        why = "git runs it (core.hooksPath or core.fsmonitor)"
                        return Finding("git", self._shown(program), why)
        return None

    def _shown(self, path: str) -> str:
        return os.path.relpath(path, self._workspace) if within(path, self._workspace) else path

    def _shaped_like_git_dir(self, directory: str) -> bool:
        if directory not in self._shaped:
            self._shaped[directory] = _shaped_like_git_dir(directory)
        return self._shaped[directory]

    def _dirs_of(self, worktree: str) -> list[str]:
        if worktree not in self._git_dirs:
            self._git_dirs[worktree] = _git_dirs(worktree)
        return self._git_dirs[worktree]

    def _programs_of(self, git_dir: str, worktree: str) -> list[str]:
        key = (git_dir, worktree)
        if key not in self._programs:
            self._programs[key] = _programs(git_dir, worktree)
        return self._programs[key]


# -- git directories on disk --------------------------------------------------------------------


def _read_small(path: str) -> str | None:
    """A small regular file's text, without blocking or following a FIFO; None if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, MAX_READ).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _shaped_like_git_dir(directory: str) -> bool:
    join = os.path.join
    if os.path.isfile(join(directory, "commondir")) and os.path.isfile(join(directory, "HEAD")):
        return True
    return (
        os.path.isfile(join(directory, "HEAD"))
        and os.path.isdir(join(directory, "objects"))
        and os.path.isdir(join(directory, "refs"))
    )


def _pointed(text: str | None, prefix: str, base: str) -> str | None:
    """The path a gitfile (``gitdir: X``) or ``commondir`` file names, real, from ``base``."""
    if text is None:
        return None
    first = text.splitlines()[0].strip() if text.strip() else ""
    if prefix:
        if not first.startswith(prefix):
            return None
        first = first[len(prefix) :].strip()
    return realpath(first, base) if first else None


def _git_dirs(worktree: str) -> list[str]:
    """The git directories of the worktree rooted at ``worktree``: its ``.git`` (or what a gitfile
    names) and that directory's ``commondir``."""
    dot_git = os.path.join(worktree, _GIT)
    if os.path.isdir(dot_git):
        found = [os.path.realpath(dot_git)]
    else:
        named = _pointed(_read_small(dot_git), "gitdir:", worktree)
        found = [named] if named else []
    for directory in list(found):
        common = _pointed(_read_small(os.path.join(directory, "commondir")), "", directory)
        if common:
            found.append(common)
    return found


def _config_lines(path: str, seen: set[str]) -> Iterable[tuple[str, str, str]]:
    """(section, key, value) of a git config file and the files it includes (all of them, conditions
    ignored: a superset is the safe side)."""
    if path in seen or len(seen) >= _MAX_INCLUDES:
        return
    seen.add(path)
    text = _read_small(path)
    if text is None:
        return
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            end = line.find("]")
            header = line[1:end] if end > 0 else ""
            section = header.split(None, 1)[0].lower() if header.strip() else ""
            line = line[end + 1 :].strip() if end > 0 else ""
            if not line:
                continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        yield section, key.strip().lower(), _config_value(value)
        if section in ("include", "includeif") and key.strip().lower() == "path":
            included = os.path.join(os.path.dirname(path), os.path.expanduser(_config_value(value)))
            yield from _config_lines(included, seen)


def _config_value(value: str) -> str:
    out: list[str] = []
    quoted = False
    i = 0
    value = value.strip()
    while i < len(value):
        char = value[i]
        if char == '"':
            quoted = not quoted
        elif char == "\\" and i + 1 < len(value):
            i += 1
            out.append({"n": "\n", "t": "\t"}.get(value[i], value[i]))
        elif char in "#;" and not quoted:
            break
        else:
            out.append(char)
        i += 1
    return "".join(out).strip()


def _programs(git_dir: str, worktree: str) -> list[str]:
    """The hooks directory and fsmonitor program a git directory's config names, real."""
    found: list[str] = []
    seen: set[str] = set()
    for name in ("config", "config.worktree"):
        for section, key, value in _config_lines(os.path.join(git_dir, name), seen):
            if section != "core" or not value:
                continue
            if key == "hookspath" or (key == "fsmonitor" and value.lower() not in _BOOLEANS):
                real = realpath(value, worktree)
                if real:
                    found.append(real)
    return found


_BOOLEANS: Final = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})
