"""The guardian's verdicts as values: why it decided (:class:`Rule`, each documented in ``policy.py``),
what the user opted in to (:class:`GuardianFlags`), and the :class:`Decision` itself — what the
member's turn, its notes, the status and the configuration read without the decider — and what a
decision carries: the command a request runs (:class:`Command`) and the change an edit makes
(:class:`Change`)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final, Literal

__all__ = [
    "Action",
    "Change",
    "ChangeAction",
    "Command",
    "Decision",
    "GuardianFlags",
    "Rule",
    "describe_command",
]

_TRUTHY: Final = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class Command:
    """What a tool call runs: ``text`` exactly (a shell wrapper's script, or argv joined shell-style)."""

    text: str
    via: str | None = None  # "bash -lc" when ``text`` is the script of a shell wrapper


def describe_command(raw_input: Any) -> str | None:
    """The command from ``rawInput.command`` as one display string, or None if absent.

    An argv list is joined shell-style (:func:`shlex.join`); a string is returned as is.
    """
    if not isinstance(raw_input, Mapping):
        return None
    command = raw_input.get("command")
    if isinstance(command, str):
        return command if command.strip() else None
    if isinstance(command, list | tuple) and command:
        return shlex.join(part if isinstance(part, str) else str(part) for part in command)
    return None


#: What one file's change does (an edit's kind).
ChangeAction = Literal["add", "update", "delete", "move"]


@dataclass(frozen=True)
class Change:
    """One file's change: ``diff`` is unified-diff lines (no file headers); ``path`` and ``dest`` are
    the raw paths as Codex gave them (``dest`` for a move); ``lines`` counts a deleted file's lines."""

    action: ChangeAction
    path: str
    diff: str = ""
    dest: str | None = None
    lines: int = 0
    too_large: bool = False  # the texts were too large to diff

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,) if self.dest is None else (self.path, self.dest)


class Rule(StrEnum):
    """Why the guardian decided as it did (see the module docstring for each)."""

    READ_INSIDE = "read-inside"
    READ_OUTSIDE_FLAG = "read-outside-flag"
    FETCH_FLAG = "fetch-flag"
    WRITE_INSIDE_FLAG = "write-inside-flag"
    EXECUTE_FLAG = "execute-flag"
    MALFORMED = "malformed"
    UNRESOLVABLE_PATH = "unresolvable-path"
    NO_LOCATIONS = "no-locations"
    OUTSIDE_WORKSPACE = "outside-workspace"
    WRITE = "write"
    EXECUTE = "execute"
    FETCH = "fetch"
    OTHER_KIND = "other-kind"
    UNKNOWN_KIND = "unknown-kind"
    ONLY_LASTING_ALLOW = "only-lasting-allow"
    GIT_INTERNALS = "git-internals"
    EXECUTION_BEARING = "execution-bearing"
    WORKSPACE_ROOT = "workspace-root"
    NO_COMMAND = "no-command"
    TOO_LARGE = "too-large-to-show"


@dataclass(frozen=True)
class GuardianFlags:
    """What the user opted in to auto-approving (everything else is asked)."""

    allow_external_reads: bool = False
    allow_writes: bool = False
    allow_commands: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GuardianFlags:
        """Read ``CODEX_FUSION_ALLOW_{EXTERNAL_READS,WRITES,COMMANDS}``; 1/true/yes/on are true."""

        def flag(name: str) -> bool:
            value = env.get(name)
            return isinstance(value, str) and value.strip().lower() in _TRUTHY

        return cls(
            allow_external_reads=flag("CODEX_FUSION_ALLOW_EXTERNAL_READS"),
            allow_writes=flag("CODEX_FUSION_ALLOW_WRITES"),
            allow_commands=flag("CODEX_FUSION_ALLOW_COMMANDS"),
        )


Action = Literal["allow", "ask", "refuse"]


@dataclass(frozen=True)
class Decision:
    """The guardian's verdict on one permission request, and what Claude must see to judge it."""

    action: Action
    rule: Rule
    kind: str
    summary: str  # one safe line (≤ 200 characters) for notes, logs and status
    paths: tuple[str, ...] = ()  # every path the request names, exactly as given
    resolved: tuple[str, ...] = ()  # the paths it acts on, as Claude should read them (relative/real)
    command: Command | None = None  # what it runs, exactly
    cwd: str | None = None
    url: str | None = None
    detail: str | None = None  # why Claude is asked, when the rule alone does not say it
    changes: tuple[Change, ...] = ()  # what an edit writes, paths as Claude should read them
    unshown: tuple[str, ...] = ()  # paths of an edit for which Codex sent no change
    urls: tuple[str, ...] = ()  # every URL the request names (``url`` is the first)

    def escalated(self, rule: Rule) -> Decision:
        """The same request, handed to Claude for ``rule`` instead of allowed."""
        return replace(self, action="ask", rule=rule)
