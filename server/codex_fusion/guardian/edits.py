"""What an edit request changes: the diff Claude reads before it approves, whole or not at all.

Two sources, as the adapters send them (docs/adapter-behaviour.md):

- ``rawInput.changes`` — Codex's own FileChanges (the Rust adapter): ``{path: {"type": "add",
  "content"}}``, ``{"type": "delete", "content"}``, ``{"type": "update", "unified_diff", "move_path"}``
  (or the older ``{path: {"update": {...}}}``, or a list of changes with a ``path``). This is what
  ``apply_patch`` applies, so it wins for the paths it covers.
- ``content`` diff items (both adapters; the TypeScript one sends only these): ``{"type": "diff",
  "path", "oldText", "newText"}``, one per hunk; ``oldText`` null or absent is a new file, ``_meta.kind``
  ``"delete"`` (TS) or ``oldText == "[file deleted]"`` (Rust's stream) a deletion. A diff item's path is
  where the text ends up (for a move, the new name).

Each becomes a :class:`Change` with its diff as unified-diff lines (``@@``, ``-``, ``+``, context).
Nothing is cut: the guardian refuses a change too large to show whole. Computing a
diff is bounded (:data:`MAX_DIFF_LINES` per side with :mod:`difflib`, linear beyond it; inputs over
:data:`MAX_INPUT_CHARS` are not diffed at all and count as too large).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from codex_fusion.guardian.decision import Change, ChangeAction

__all__ = ["MAX_CHANGE_CHARS", "Change", "changes_in"]

#: Past this many characters of diff in one request, the change is refused instead of shown.
MAX_CHANGE_CHARS: Final = 20_000
#: difflib is quadratic on hostile input: past this many lines a side, the diff is the common head
#: and tail as context and everything between as removed and added (linear, never wrong).
MAX_DIFF_LINES: Final = 500
#: Texts longer than this are not diffed at all: the change is too large to show.
MAX_INPUT_CHARS: Final = 4 * MAX_CHANGE_CHARS
_CONTEXT: Final = 3
_DELETED_MARK: Final = "[file deleted]"  # Rust's stream tool_call for a DeleteFile hunk
#: A diff item is one hunk of unknown position (both adapters send hunks, not files): no line numbers.
_HUNK: Final = "@@ … @@"

Action = ChangeAction


def changes_in(tool_call: Mapping[str, Any]) -> tuple[list[Change], list[str]]:
    """Every change the tool call carries, and what could not be read (the guardian asks then)."""
    changes: list[Change] = []
    problems: list[str] = []
    for key in ("rawInput", "raw_input"):
        raw_input = tool_call.get(key)
        if isinstance(raw_input, Mapping) and raw_input.get("changes") is not None:
            _from_file_changes(raw_input["changes"], changes, problems)
    covered = {path for change in changes for path in change.paths}
    content = tool_call.get("content")
    if isinstance(content, list):
        for item in content:
            if not (isinstance(item, Mapping) and item.get("type") == "diff"):
                continue
            if isinstance(item.get("path"), str) and item["path"] not in covered:
                change = _from_diff_item(item, problems)
                if change is not None:
                    changes.append(change)
    return _merge_hunks(changes), problems


def _from_file_changes(value: object, out: list[Change], problems: list[str]) -> None:
    entries: list[tuple[object, object]] = []
    if isinstance(value, Mapping):
        entries = list(value.items())
    elif isinstance(value, list):
        entries = [(item.get("path"), item) for item in value if isinstance(item, Mapping)]
    for path, entry in entries:
        if not isinstance(path, str) or not isinstance(entry, Mapping):
            problems.append("a change without a path, or not an object")
            continue
        if "type" not in entry and len(entry) == 1:  # externally tagged: {"update": {...}}
            (tag, inner), *_ = entry.items()
            entry = {**inner, "type": tag} if isinstance(inner, Mapping) else {}
        change = _file_change(path, entry)
        if change is None:
            problems.append(f"a change of a shape codex-fusion cannot show ({entry.get('type')!r})")
        else:
            out.append(change)


def _file_change(path: str, entry: Mapping[Any, Any]) -> Change | None:
    kind = entry.get("type")
    if kind in ("add", "delete"):
        content = entry.get("content", "")
        if not isinstance(content, str):
            return None
        if kind == "delete":
            return Change("delete", path, lines=len(_lines(content)))
        return _added(path, content)
    if kind == "update":
        diff = entry.get("unified_diff", entry.get("unifiedDiff", ""))
        move = entry.get("move_path", entry.get("movePath"))
        if not isinstance(diff, str) or not (move is None or isinstance(move, str)):
            return None
        body = "\n".join(line for line in _lines(diff) if not line.startswith(("--- ", "+++ ")))
        return Change("move" if move else "update", path, body, dest=move or None)
    return None


def _lines(text: str) -> list[str]:
    """Lines as a file has them: split at line feeds only (``str.splitlines`` also splits at U+2028,
    U+001E, form feeds …, which would show breaks the file does not have)."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _added(path: str, content: str) -> Change:
    if len(content) > MAX_INPUT_CHARS:
        return Change("add", path, too_large=True)
    lines = _lines(content)
    return Change("add", path, "\n".join([f"@@ -0,0 +1,{len(lines)} @@", *(f"+{line}" for line in lines)]))


def _from_diff_item(item: Mapping[Any, Any], problems: list[str]) -> Change | None:
    path: str = item["path"]
    old, new = item.get("oldText"), item.get("newText")
    meta = item.get("_meta")
    meta_kind = meta.get("kind") if isinstance(meta, Mapping) else None
    if not (old is None or isinstance(old, str)) or not isinstance(new, str):
        problems.append("a diff whose texts are not strings")
        return None
    if meta_kind == "delete" or (old == _DELETED_MARK and new == ""):
        return Change("delete", path, lines=len(_lines(old or "")) if old != _DELETED_MARK else 0)
    if old is None or meta_kind == "add":
        return _added(path, new)
    if len(old) + len(new) > MAX_INPUT_CHARS:
        return Change("update", path, too_large=True)
    return Change("update", path, _diff(old, new))


def _diff(old: str, new: str) -> str:
    a, b = _lines(old), _lines(new)
    if len(a) <= MAX_DIFF_LINES and len(b) <= MAX_DIFF_LINES:
        lines = difflib.unified_diff(a, b, n=_CONTEXT, lineterm="")
        return "\n".join(_HUNK if line.startswith("@@ ") else line for line in list(lines)[2:])
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    before = a[max(head - _CONTEXT, 0) : head]
    after = a[len(a) - tail : len(a) - tail + _CONTEXT] if tail else []
    removed, added = a[head : len(a) - tail], b[head : len(b) - tail]
    body = [f" {x}" for x in before] + [f"-{x}" for x in removed] + [f"+{x}" for x in added]
    return "\n".join([_HUNK, *body, *(f" {x}" for x in after)])


def _merge_hunks(changes: list[Change]) -> list[Change]:
    """One change per path and action: the adapters send a diff item per hunk."""
    merged: list[Change] = []
    for change in changes:
        last = merged[-1] if merged else None
        if last is not None and (last.action, last.path, last.dest) == (
            change.action,
            change.path,
            change.dest,
        ):
            diff = "\n".join(part for part in (last.diff, change.diff) if part)
            merged[-1] = replace(last, diff=diff, too_large=last.too_large or change.too_large)
        else:
            merged.append(change)
    return merged
