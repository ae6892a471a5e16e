"""Reading a permission request's tool call: the paths it names, the URLs, and the command it runs.

The guardian decides on what these functions find; they never decide anything themselves. A field
with the wrong shape is reported as a problem (the guardian then asks), never skipped: a command in a
field or shape we do not know (``cmd``, ``argv``, ``script``, a dict, a number) is a problem, not
"no command".

Paths are found by exclusion, not by field name: every string anywhere in ``rawInput`` (values,
nested values, and the keys of nested objects) is a path the call may act on, or a URL, unless it sits
in a field whose meaning is known not to be a path (:data:`_COMMAND_FIELDS`, :data:`_TEXT_FIELDS`,
:data:`_METADATA_FIELDS` with an identifier-like value). A string that is not meant as a path costs
nothing when it resolves inside the workspace; one that resolves outside, or cannot be resolved, makes
the guardian ask: an unknown field (``file``, ``target``, ``include``, ``urls`` …) fails closed.
Relative paths in a ``rawInput`` are taken from that ``rawInput``'s own ``cwd``.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from codex_fusion.guardian.decision import Command
from codex_fusion.hookside.visible import one_line

# rawInput fields that hold a path or a list of paths: anything else there (a number, an object) is
# malformed. Other fields are searched for paths too (see the module docstring); these are the ones
# where only a path can be meant, move targets included.
_PATH_FIELDS: Final = frozenset(
    {
        *("path", "paths", "file_path", "filePath", "abs_path", "absPath", "file", "files"),
        *("move_path", "movePath", "destination", "dest", "dst", "to", "target", "new_path", "newPath"),
        *("source", "src", "from", "old_path", "oldPath", "dir", "directory", "grant_root", "grantRoot"),
    }
)
# rawInput fields that carry something to execute. Only ``command`` (a string, or an argv list of
# strings) is understood; the others are refused by :func:`command_in`.
_COMMAND_KEYS: Final = frozenset(
    {"command", "cmd", "argv", "args", "script", "code", "shell", "program", "executable", "commands"}
)
_UNDERSTOOD_COMMAND_KEYS: Final = frozenset({"command"})
# Not searched for paths: the command (shown whole and asked about as a command) and the adapters'
# annotations of it (Rust: ``parsed_cmd``, ``proposed_execpolicy_amendment``, ``available_decisions``).
_COMMAND_FIELDS: Final = _COMMAND_KEYS | {
    "parsed_cmd",
    "proposed_execpolicy_amendment",
    "available_decisions",
}
# Not searched for paths: Codex's free-text justification, shown to Claude as "Codex's reason".
_TEXT_FIELDS: Final = frozenset({"reason", "justification", "explanation"})
# Not searched for paths while their value is a number, a boolean or an identifier (the adapters'
# ids, timestamps and enums); any other value is searched like an unknown field.
_METADATA_FIELDS: Final = frozenset(
    {"call_id", "turn_id", "process_id", "started_at_ms", "source", "auto_approved", "type", "kind"}
)
_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9_-]{0,128}")
# A string that names a URL rather than a path: a scheme and ``//``, or the schemes without it.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|(?:file|data|javascript|mailto):", re.IGNORECASE)
# Fields of a Codex FileChange that hold file contents, not paths.
_CHANGE_TEXT_FIELDS: Final = frozenset({"content", "unified_diff", "unifiedDiff", "diff", "type", "kind"})
#: Nesting beyond this in rawInput is malformed (a real request is two or three levels deep).
MAX_DEPTH: Final = 8
_SHELLS: Final = frozenset({"bash", "sh", "zsh", "dash"})

_SUMMARY_LIMIT: Final = 200
_MAX_LISTED_PATHS: Final = 3


def clean(text: str, limit: int = _SUMMARY_LIMIT) -> str:
    """One safe line for summaries: every hidden character as a visible token, cut with … at ``limit``."""
    return one_line(text, limit)


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


def display_path(raw: object) -> str:
    return raw if isinstance(raw, str) else repr(raw)


@dataclass(frozen=True)
class Target:
    raw: object
    scopes: bool  # names what the call acts on (False for a working directory)
    base: object = None  # the rawInput ``cwd`` a relative path is taken from (None: the workspace)
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
    # cut only: the summary these go into is made visible once, as a whole (``clean``)
    shown = [text if len(text) <= 300 else text[:299] + "…" for text in all_shown(targets, workspace_real)]
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


@dataclass
class Found:
    """What a tool call names: the paths it may act on, the URLs, and what could not be read."""

    targets: list[Target]
    urls: list[str]
    problems: list[str]


def collect(tool_call: Mapping[str, Any]) -> Found:
    found = Found([], [], [])
    inputs = raw_inputs(tool_call)
    cwds = [raw_input["cwd"] for raw_input in inputs if raw_input.get("cwd") is not None]
    # Paths outside rawInput (locations, diffs) are taken from every cwd the request gives: inside
    # only if inside from each.
    bases: list[object] = cwds or [None]

    def top_level(raw: object) -> None:
        found.targets.extend(Target(raw, True, base) for base in bases)

    locations = tool_call.get("locations")
    if isinstance(locations, list):
        for location in locations:
            if isinstance(location, Mapping) and "path" in location:
                top_level(location["path"])
            else:
                found.problems.append("a location without a path")
    elif locations is not None:
        found.problems.append("locations is not a list")

    content = tool_call.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, Mapping) and item.get("type") == "diff":
                if "path" in item:
                    top_level(item["path"])
                else:
                    found.problems.append("a diff without a path")
    elif content is not None:
        found.problems.append("content is not a list")

    for key in ("rawInput", "raw_input"):
        value = tool_call.get(key)
        if isinstance(value, Mapping):
            _search_input(value, found)
        elif value is not None:
            _search(value, None, found, 1)

    for target in found.targets:
        if not isinstance(target.raw, str):
            found.problems.append(f"a path that is not a string ({type(target.raw).__name__})")
            break
    return found


def _search_input(raw_input: Mapping[Any, Any], found: Found) -> None:
    """One rawInput object: its cwd, then every field by what it is known (or not known) to hold."""
    cwd = raw_input.get("cwd")
    if cwd is not None:
        found.targets.append(Target(cwd, False))
    base = cwd if isinstance(cwd, str) else None
    for key, value in raw_input.items():
        if key == "cwd" or value is None:
            continue
        if key in _COMMAND_FIELDS or (key in _TEXT_FIELDS and isinstance(value, str)):
            continue
        if key in _METADATA_FIELDS and _is_metadata(value):
            continue
        if key in _PATH_FIELDS:
            _add_paths(value, base, found)
        elif key == "changes":
            _search_changes(value, base, found)
        else:
            _search(value, base, found, 1)


def _is_metadata(value: object) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def _add_paths(value: object, base: object, found: Found) -> None:
    """A field that holds a path or a list of paths: anything else is kept raw, judged malformed."""
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if isinstance(item, str) and _URL.match(item):
            found.urls.append(item)
        else:
            found.targets.append(Target(item, True, base))


def _search(value: object, base: object, found: Found, depth: int) -> None:
    """Every string in ``value`` (nested values and object keys too) as a path or a URL."""
    if depth > MAX_DEPTH:
        found.problems.append(f"rawInput nested deeper than {MAX_DEPTH} levels")
        return
    if isinstance(value, str):
        _add_paths(value, base, found)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _search(key, base, found, depth + 1)
            _search(item, base, found, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _search(item, base, found, depth + 1)


def _search_changes(changes: object, base: object, found: Found) -> None:
    """Codex FileChanges: ``{path: {"type": "update", "move_path": ...}}`` (or the older externally
    tagged ``{path: {"update": {"move_path": ...}}}``), or a list of changes with a ``path``."""
    if isinstance(changes, Mapping):
        for name, change in changes.items():
            found.targets.append(Target(name, True, base))
            _search_change(change, base, found, 2)
    elif isinstance(changes, list):
        for change in changes:
            if isinstance(change, Mapping):
                _search_change(change, base, found, 2)
            else:
                found.problems.append("a change that is not an object")
    else:
        found.problems.append("changes is neither an object nor a list")


def _search_change(change: object, base: object, found: Found, depth: int) -> None:
    if not isinstance(change, Mapping):
        if change is not None:
            found.problems.append("a change that is not an object")
        return
    if depth > MAX_DEPTH:
        found.problems.append(f"rawInput nested deeper than {MAX_DEPTH} levels")
        return
    for key, value in change.items():
        if value is None or key in _CHANGE_TEXT_FIELDS:
            continue
        if key in _PATH_FIELDS:
            _add_paths(value, base, found)
        elif isinstance(value, Mapping):  # {"update": {...}}: the change itself, one level down
            _search_change(value, base, found, depth + 1)
        else:
            _search(value, base, found, depth + 1)


def merged(reported: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """A permission request's tool call with what the stream already said about it.

    The request's own fields win, except that nothing the stream reported is lost from ``locations``
    and the ``content`` diffs: the TypeScript adapter's request carries only the paths, its diffs
    came in the ``tool_call`` before it. A diff the stream sent for a path the request has its own
    diff for is left out (the request's is the one being approved); every other reported path is
    kept, so the guardian judges the union, never less.
    """
    tool_call = {**reported, **request}
    locations, reported_locations = request.get("locations"), reported.get("locations")
    if isinstance(locations, list) and isinstance(reported_locations, list):
        tool_call["locations"] = locations + [item for item in reported_locations if item not in locations]
    content, reported_content = request.get("content"), reported.get("content")
    if isinstance(content, list) and isinstance(reported_content, list):
        own = {
            item.get("path") for item in content if isinstance(item, Mapping) and item.get("type") == "diff"
        }
        tool_call["content"] = content + [
            item
            for item in reported_content
            if isinstance(item, Mapping) and item.get("type") == "diff" and item.get("path") not in own
        ]
    return tool_call
