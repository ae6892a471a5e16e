"""The guardian: decide whether a Codex permission request may be auto-approved.

Codex (through ACP) sends ``session/request_permission`` with a ``toolCall`` object (an ACP
ToolCallUpdate, as raw wire JSON).  :func:`decide` maps that object, the workspace root and the
user's opt-in flags to a :class:`Decision`: ``allow`` (answer without bothering anyone) or ``ask``
(hand the request to Claude / the human).

The function is pure apart from resolving real paths (``lstat``/``realpath``) and it never raises:
whatever is missing, malformed or unclear leads to ``ask`` (fail closed).

Rule ids (``Decision.rule``):

allow
    ``read-inside``        read/search/think whose every location is inside the workspace
    ``read-outside-flag``  read/search/think touching paths outside, allowed by allow_external_reads
    ``fetch-flag``         fetch (network), allowed by allow_external_reads
    ``write-inside-flag``  edit/delete/move entirely inside the workspace, allowed by allow_writes
    ``execute-flag``       execute (cwd, if any, inside the workspace), allowed by allow_commands;
                           a read/search carrying ``rawInput.command`` is judged as an execute
ask
    ``malformed``          the request (or a path field in it) has the wrong shape
    ``unresolvable-path``  a path string that cannot be resolved (NUL, empty, too long, dangling
                           symlink, ``..`` after a missing component, OS error ...)
    ``no-locations``       read/search/think/edit/delete/move without any target path
    ``outside-workspace``  a path outside the workspace that no flag covers (writes: always)
    ``write``              edit/delete/move inside the workspace, allow_writes is off
    ``execute``            execute — or a read/search that asks to run a shell command
                           (``rawInput.command``) — and allow_commands is off
    ``fetch``              fetch, allow_external_reads is off
    ``other-kind``         kind ``other`` / ``switch_mode``
    ``unknown-kind``       kind missing, not a string, or not an ACP ToolKind
    ``only-lasting-allow`` the request would be allowed, but the agent offered no allow-once option:
                           auto-approval never picks an option that persists a policy
                           (set by :meth:`Decision.escalated`, not by :func:`decide`)

:class:`Rule` lists them; the table above is the documentation of each.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

__all__ = ["Decision", "GuardianFlags", "Rule", "decide", "describe_command", "resolve_inside"]

_TRUTHY: Final = frozenset({"1", "true", "yes", "on"})

READ_KINDS: Final = frozenset({"read", "search", "think"})
WRITE_KINDS: Final = frozenset({"edit", "delete", "move"})
OTHER_KINDS: Final = frozenset({"other", "switch_mode"})

# rawInput fields that name the files/directories a tool call targets.
_RAW_PATH_KEYS: Final = (
    "path",
    "paths",
    "file_path",
    "filePath",
    "abs_path",
    "absPath",
    "move_path",
    "movePath",
    "grant_root",
    "grantRoot",
)
# Fields of a ``changes`` entry (Codex FileChange) that name a second path.
_CHANGE_PATH_KEYS: Final = ("move_path", "movePath", "path")

_MAX_PATH_CHARS: Final = 4096
_SUMMARY_LIMIT: Final = 200
_MAX_LISTED_PATHS: Final = 3

_VERBS: Final = {
    "read": "read",
    "search": "search",
    "think": "think about",
    "edit": "edit",
    "delete": "delete",
    "move": "move",
    "execute": "run",
    "fetch": "fetch",
}

# Line breaks, other control characters, and invisible/bidi formatting characters that could
# disguise what a summary says.
_UNSAFE_CHARS: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


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


@dataclass(frozen=True)
class Decision:
    """The guardian's verdict on one permission request."""

    action: Literal["allow", "ask"]
    rule: Rule
    kind: str
    summary: str
    paths: tuple[str, ...]

    def escalated(self, rule: Rule) -> Decision:
        """The same request, handed to Claude for ``rule`` instead of allowed."""
        return replace(self, action="ask", rule=rule)


# --------------------------------------------------------------------------------------------
# Paths


def _real_workspace(workspace: Path | str) -> str | None:
    try:
        text = os.fspath(workspace)
        if not isinstance(text, str) or not text or "\x00" in text:
            return None
        return os.path.realpath(os.path.abspath(os.path.expanduser(text)))
    except (OSError, ValueError, TypeError, RuntimeError):
        return None


def _realpath(raw: object, workspace_real: str | None) -> str | None:
    """Absolute real path of ``raw`` (relative paths are taken from the workspace), or None.

    Existing prefixes are resolved with ``realpath(strict=True)``; components that do not exist
    yet are appended verbatim.  ``None`` (unresolvable) for non-strings, empty strings, NUL bytes,
    over-long paths, ``~`` that does not expand, dangling or looping symlinks, a ``..`` after a
    missing component, and any OS error.
    """
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_PATH_CHARS or "\x00" in raw:
        return None
    try:
        expanded = os.path.expanduser(raw)
        if expanded.startswith("~"):
            return None  # ~user that does not exist: refuse to guess
        if not os.path.isabs(expanded):
            if workspace_real is None:
                return None
            expanded = os.path.join(workspace_real, expanded)
        head = expanded
        tail: list[str] = []
        while True:
            try:
                os.lstat(head)
            except (FileNotFoundError, NotADirectoryError):
                parent, name = os.path.split(head)
                if parent == head:
                    return None
                tail.append(name)
                head = parent
                continue
            # ``head`` exists (possibly as a dangling/looping symlink, which raises here).
            real = os.path.realpath(head, strict=True)
            break
    except (OSError, ValueError, RuntimeError):
        return None
    rest: list[str] = []
    for part in reversed(tail):
        if part == "..":
            return None  # ".." after a component that does not exist: do not guess
        if part not in ("", "."):
            rest.append(part)
    return os.path.join(real, *rest) if rest else real


def _within(real: str, workspace_real: str | None) -> bool:
    if workspace_real is None:
        return False
    return Path(real).is_relative_to(workspace_real)


def resolve_inside(path: str, workspace: Path) -> Path | None:
    """Real path of `path` if it is inside the (real) workspace, else None. Used for fs/read_text_file too.

    Relative paths are taken relative to the workspace (not the process cwd); ``~`` is expanded;
    symlinks and ``..`` are resolved.  The workspace root itself counts as inside.  Anything that
    cannot be resolved is treated as outside (None).
    """
    workspace_real = _real_workspace(workspace)
    if workspace_real is None:
        return None
    real = _realpath(path, workspace_real)
    if real is None or not _within(real, workspace_real):
        return None
    return Path(real)


# --------------------------------------------------------------------------------------------
# Display helpers


def _clean(text: str, limit: int = _SUMMARY_LIMIT) -> str:
    text = _UNSAFE_CHARS.sub(lambda m: "⏎" if m.group() in "\r\n" else " ", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


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


def _command_for_display(raw_input: Any) -> str | None:
    """Like describe_command, but shows just the script of ``bash -lc <script>`` wrappers."""
    if isinstance(raw_input, Mapping):
        command = raw_input.get("command")
        if (
            isinstance(command, list)
            and len(command) == 3
            and all(isinstance(part, str) for part in command)
            and os.path.basename(command[0]) in ("bash", "sh", "zsh")
            and command[1] in ("-c", "-lc")
        ):
            script: str = command[2]
            return script if script.strip() else None
    return describe_command(raw_input)


def _display_path(raw: object) -> str:
    if isinstance(raw, str):
        return _clean(raw, 300)
    return _clean(repr(raw), 100)


@dataclass(frozen=True)
class _Target:
    raw: object
    scopes: bool  # names what the call acts on (False for a working directory)
    real: str | None = None
    inside: bool = False

    def shown(self, workspace_real: str | None) -> str:
        if self.real is None:
            return _display_path(self.raw)
        if self.inside and workspace_real is not None:
            relative = os.path.relpath(self.real, workspace_real)
            return "the workspace root" if relative == "." else relative
        if isinstance(self.raw, str) and self.raw != self.real:
            return f"{self.raw} (→ {self.real})"
        return self.real


def _join_shown(targets: list[_Target], workspace_real: str | None) -> str:
    shown: list[str] = []
    for target in targets:
        text = target.shown(workspace_real)
        if text not in shown:
            shown.append(text)
    listed = ", ".join(shown[:_MAX_LISTED_PATHS])
    if len(shown) > _MAX_LISTED_PATHS:
        listed += f" (+{len(shown) - _MAX_LISTED_PATHS} more)"
    return listed


# --------------------------------------------------------------------------------------------
# Extracting the paths of a tool call


def _raw_inputs(tool_call: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for key in ("rawInput", "raw_input"):
        value = tool_call.get(key)
        if isinstance(value, Mapping):
            found.append(value)
    return found


def _add_path_value(value: object, scopes: bool, out: list[_Target]) -> None:
    """A field that holds a path or a list of paths (None = absent; anything else is kept raw
    and later judged malformed)."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        out.extend(_Target(item, scopes) for item in value)
    else:
        out.append(_Target(value, scopes))


def _collect(tool_call: Mapping[str, Any]) -> tuple[list[_Target], list[str]]:
    targets: list[_Target] = []
    problems: list[str] = []

    locations = tool_call.get("locations")
    if isinstance(locations, list):
        for location in locations:
            if isinstance(location, Mapping) and "path" in location:
                targets.append(_Target(location["path"], True))
            else:
                problems.append("a location without a path")
    elif locations is not None:
        problems.append("locations is not a list")

    content = tool_call.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, Mapping) and item.get("type") == "diff":
                if "path" in item:
                    targets.append(_Target(item["path"], True))
                else:
                    problems.append("a diff without a path")
    elif content is not None:
        problems.append("content is not a list")

    for raw_input in _raw_inputs(tool_call):
        _add_path_value(raw_input.get("cwd"), False, targets)
        for key in _RAW_PATH_KEYS:
            _add_path_value(raw_input.get(key), True, targets)
        changes = raw_input.get("changes")
        if isinstance(changes, Mapping):
            for name, change in changes.items():
                targets.append(_Target(name, True))
                _add_change_paths(change, targets)
        elif isinstance(changes, list):
            for change in changes:
                if isinstance(change, Mapping):
                    _add_change_paths(change, targets)
                else:
                    problems.append("a change that is not an object")
        elif changes is not None:
            problems.append("changes is neither an object nor a list")

    for target in targets:
        if not isinstance(target.raw, str):
            problems.append(f"a path that is not a string ({type(target.raw).__name__})")
            break
    return targets, problems


def _add_change_paths(change: object, out: list[_Target]) -> None:
    """Paths inside one Codex FileChange: ``{"type": "update", "move_path": ...}`` or the older
    externally tagged ``{"update": {"move_path": ...}}``."""
    if not isinstance(change, Mapping):
        return
    candidates: list[Mapping[Any, Any]] = [change]
    candidates.extend(value for value in change.values() if isinstance(value, Mapping))
    for candidate in candidates:
        for key in _CHANGE_PATH_KEYS:
            _add_path_value(candidate.get(key), True, out)


# --------------------------------------------------------------------------------------------
# The decision


def _kind_of(tool_call: Mapping[str, Any]) -> tuple[str, bool]:
    """(kind for display, whether a kind string was given at all)."""
    kind = tool_call.get("kind")
    if isinstance(kind, str) and kind:
        return _clean(kind, 40), True
    return "other", False


def _title_of(tool_call: Mapping[str, Any]) -> str:
    title = tool_call.get("title")
    return title if isinstance(title, str) else ""


def _fetch_detail(tool_call: Mapping[str, Any]) -> str:
    for raw_input in _raw_inputs(tool_call):
        for key in ("url", "uri"):
            value = raw_input.get(key)
            if isinstance(value, str) and value:
                return value
        query = raw_input.get("query")
        if isinstance(query, str) and query:
            return f"search: {query}"
    return _title_of(tool_call) or "(no details)"


def decide(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> Decision:
    """Decide one ``session/request_permission`` tool call; never raises, asks when unsure."""
    try:
        return _decide(tool_call, workspace, flags)
    except Exception:  # defensive: a guardian bug must never turn into an approval
        return Decision("ask", Rule.MALFORMED, "other", "unreadable permission request", ())


def _decide(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> Decision:
    if not isinstance(tool_call, Mapping):
        return Decision("ask", Rule.MALFORMED, "other", "malformed permission request (not an object)", ())

    kind, kind_given = _kind_of(tool_call)
    title = _title_of(tool_call)
    workspace_real = _real_workspace(workspace)
    collected, problems = _collect(tool_call)

    paths: list[str] = []
    for target in collected:
        shown = _display_path(target.raw)
        if shown not in paths:
            paths.append(shown)
    paths_tuple = tuple(paths)

    def verdict(action: Literal["allow", "ask"], rule: Rule, summary: str) -> Decision:
        return Decision(action, rule, kind, _clean(summary), paths_tuple)

    label = f"{kind}: {title}" if title else kind
    if problems:
        return verdict("ask", Rule.MALFORMED, f"{label} (malformed request: {problems[0]})")

    targets: list[_Target] = []
    for target in collected:
        real = _realpath(target.raw, workspace_real)
        inside = real is not None and _within(real, workspace_real)
        targets.append(_Target(target.raw, target.scopes, real, inside))
    unresolvable = [t for t in targets if t.real is None]
    if unresolvable:
        head = f"{_VERBS[kind]} " if kind in _VERBS else f"{label} — "
        return verdict(
            "ask",
            Rule.UNRESOLVABLE_PATH,
            f"{head}{_join_shown(unresolvable, workspace_real)} — path cannot be resolved",
        )

    outside = [t for t in targets if not t.inside]
    scoped = [t for t in targets if t.scopes]
    cwds = [t for t in targets if not t.scopes]
    outside_note = " — outside the workspace" if outside else ""

    raw_inputs = _raw_inputs(tool_call)
    command = _command_for_display(raw_inputs[0]) if raw_inputs else None
    # A "read" or "search" that asks permission to run a shell command is a command: the adapters
    # classify commands like `sed -n '1e …' file` as reads, and a permission request means Codex
    # wants to run it outside its sandbox. Judge it as a command (Claude decides unless the
    # commands flag is on).
    as_command = kind in READ_KINDS and command is not None

    if (kind in READ_KINDS and not as_command) or kind in WRITE_KINDS:
        if not scoped:
            return verdict("ask", Rule.NO_LOCATIONS, f"{label} (no locations given)")
        summary = f"{_VERBS[kind]} {_join_shown(scoped, workspace_real)}"
        outside_cwds = [t for t in cwds if not t.inside]
        if outside_cwds:
            summary += f" (cwd {_join_shown(outside_cwds, workspace_real)})"
        summary += outside_note
        if kind in READ_KINDS:
            if not outside:
                return verdict("allow", Rule.READ_INSIDE, summary)
            if flags.allow_external_reads:
                return verdict("allow", Rule.READ_OUTSIDE_FLAG, summary)
            return verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
        if outside:
            return verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
        if flags.allow_writes:
            return verdict("allow", Rule.WRITE_INSIDE_FLAG, summary)
        return verdict("ask", Rule.WRITE, summary)

    if kind == "execute" or as_command:
        summary = f"run `{command}`" if command else f"run {title or '(unknown command)'}"
        if cwds:
            where = _join_shown(cwds, workspace_real)
            summary += " (in the workspace root)" if where == "the workspace root" else f" (cwd {where})"
        others = [t for t in scoped if not t.inside]
        if others:
            summary += f" (touches {_join_shown(others, workspace_real)})"
        summary += outside_note
        if outside:
            return verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
        if flags.allow_commands:
            return verdict("allow", Rule.EXECUTE_FLAG, summary)
        return verdict("ask", Rule.EXECUTE, summary)

    if kind == "fetch":
        summary = f"fetch {_fetch_detail(tool_call)}"
        if flags.allow_external_reads:
            return verdict("allow", Rule.FETCH_FLAG, summary)
        return verdict("ask", Rule.FETCH, summary)

    if targets:
        label += f" ({_join_shown(targets, workspace_real)})"
    if kind_given and kind in OTHER_KINDS:
        return verdict("ask", Rule.OTHER_KIND, label)
    unknown = label if kind_given else f"unknown kind: {title or '(no title)'}"
    return verdict("ask", Rule.UNKNOWN_KIND, unknown)
