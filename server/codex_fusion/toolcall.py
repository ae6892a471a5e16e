"""Reading a permission request's tool call: the paths it names and the command it runs.

The guardian decides on what these functions find; they never decide anything themselves. A field
with the wrong shape is reported as a problem (the guardian then asks), never skipped: a command in a
field or shape we do not know (``cmd``, ``argv``, ``script``, a dict, a number) is a problem, not
"no command".
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .visible import one_line

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
# rawInput fields that carry something to execute. Only ``command`` (a string, or an argv list of
# strings) is understood; ``parsed_cmd`` is the adapters' own annotation of it.
_COMMAND_KEYS: Final = frozenset(
    {"command", "cmd", "argv", "args", "script", "code", "shell", "program", "executable", "commands"}
)
_UNDERSTOOD_COMMAND_KEYS: Final = frozenset({"command"})
_URL_KEYS: Final = ("url", "uri")
_SHELLS: Final = frozenset({"bash", "sh", "zsh", "dash"})

_SUMMARY_LIMIT: Final = 200
_MAX_LISTED_PATHS: Final = 3


def clean(text: str, limit: int = _SUMMARY_LIMIT) -> str:
    """One safe line for summaries: every hidden character as a visible token, cut with … at ``limit``."""
    return one_line(text, limit)


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


def command_in(inputs: list[Mapping[str, Any]]) -> tuple[Command | None, str | None]:
    """(the command the call runs, or None) and a problem when a command is there in a shape we do not
    understand — another field than ``command``, or a ``command`` that is not a string or a list of
    strings."""
    found: Command | None = None
    for raw_input in inputs:
        keys = _COMMAND_KEYS & set(raw_input)
        if not keys:
            if "parsed_cmd" in raw_input:
                return None, "a parsed command without the command itself"
            continue
        strange = sorted(keys - _UNDERSTOOD_COMMAND_KEYS)
        if strange:
            return None, f"a command in an unrecognised field ({', '.join(strange)})"
        command = raw_input["command"]
        if isinstance(command, str) and command.strip():
            found = Command(command)
        elif isinstance(command, list) and command and all(isinstance(part, str) for part in command):
            found = _unwrap(command)
        else:
            return None, f"a command of an unrecognised shape ({type(command).__name__})"
    return found, None


def _unwrap(argv: list[str]) -> Command:
    """``["/bin/bash", "-lc", script]`` shows as its script; any other argv joined shell-style."""
    if len(argv) == 3 and os.path.basename(argv[0]) in _SHELLS and argv[1] in ("-c", "-lc"):
        return Command(argv[2], via=f"{os.path.basename(argv[0])} {argv[1]}")
    return Command(shlex.join(argv))


def url_in(inputs: list[Mapping[str, Any]]) -> str | None:
    for raw_input in inputs:
        for key in _URL_KEYS:
            value = raw_input.get(key)
            if value is not None:
                return value if isinstance(value, str) else repr(value)
    return None


def display_path(raw: object) -> str:
    return raw if isinstance(raw, str) else repr(raw)


@dataclass(frozen=True)
class Target:
    raw: object
    scopes: bool  # names what the call acts on (False for a working directory)
    real: str | None = None
    inside: bool = False

    def shown(self, workspace_real: str | None) -> str:
        """The path as Claude should read it: relative inside the workspace, real outside it."""
        if self.real is None:
            return display_path(self.raw)
        if self.inside and workspace_real is not None:
            relative = os.path.relpath(self.real, workspace_real)
            return "the workspace root" if relative == "." else relative
        if isinstance(self.raw, str) and self.raw != self.real:
            return f"{self.raw} (→ {self.real})"
        return self.real


def all_shown(targets: list[Target], workspace_real: str | None) -> list[str]:
    """Every target as shown, once each, in order."""
    shown: list[str] = []
    for target in targets:
        text = target.shown(workspace_real)
        if text not in shown:
            shown.append(text)
    return shown


def join_shown(targets: list[Target], workspace_real: str | None) -> str:
    """A short list for one-line summaries; the pause shows every path (``all_shown``)."""
    shown = [clean(text, 300) for text in all_shown(targets, workspace_real)]
    listed = ", ".join(shown[:_MAX_LISTED_PATHS])
    if len(shown) > _MAX_LISTED_PATHS:
        listed += f" (+{len(shown) - _MAX_LISTED_PATHS} more)"
    return listed


def raw_inputs(tool_call: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for key in ("rawInput", "raw_input"):
        value = tool_call.get(key)
        if isinstance(value, Mapping):
            found.append(value)
    return found


def _add_path_value(value: object, scopes: bool, out: list[Target]) -> None:
    """A field that holds a path or a list of paths (None = absent; anything else is kept raw
    and later judged malformed)."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        out.extend(Target(item, scopes) for item in value)
    else:
        out.append(Target(value, scopes))


def collect(tool_call: Mapping[str, Any]) -> tuple[list[Target], list[str]]:
    targets: list[Target] = []
    problems: list[str] = []

    locations = tool_call.get("locations")
    if isinstance(locations, list):
        for location in locations:
            if isinstance(location, Mapping) and "path" in location:
                targets.append(Target(location["path"], True))
            else:
                problems.append("a location without a path")
    elif locations is not None:
        problems.append("locations is not a list")

    content = tool_call.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, Mapping) and item.get("type") == "diff":
                if "path" in item:
                    targets.append(Target(item["path"], True))
                else:
                    problems.append("a diff without a path")
    elif content is not None:
        problems.append("content is not a list")

    for raw_input in raw_inputs(tool_call):
        _add_path_value(raw_input.get("cwd"), False, targets)
        for key in _RAW_PATH_KEYS:
            _add_path_value(raw_input.get(key), True, targets)
        changes = raw_input.get("changes")
        if isinstance(changes, Mapping):
            for name, change in changes.items():
                targets.append(Target(name, True))
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


def _add_change_paths(change: object, out: list[Target]) -> None:
    """Paths inside one Codex FileChange: ``{"type": "update", "move_path": ...}`` or the older
    externally tagged ``{"update": {"move_path": ...}}``."""
    if not isinstance(change, Mapping):
        return
    candidates: list[Mapping[Any, Any]] = [change]
    candidates.extend(value for value in change.values() if isinstance(value, Mapping))
    for candidate in candidates:
        for key in _CHANGE_PATH_KEYS:
            _add_path_value(candidate.get(key), True, out)
