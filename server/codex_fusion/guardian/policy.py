"""The guardian: decide whether a Codex permission request may be auto-approved.

Codex (through ACP) sends ``session/request_permission`` with a ``toolCall`` object (an ACP
ToolCallUpdate, as raw wire JSON).  :func:`decide` maps that object, the workspace root and the
user's opt-in flags to a :class:`Decision`: ``allow`` (answer without bothering anyone) or ``ask``
(hand the request to Claude / the human).

The function is pure apart from resolving real paths (``lstat``/``realpath``) and reading the small
files that say where git's directories and hooks are (``autorun.py``), and it never raises: whatever
is missing, malformed or unclear leads to ``ask`` (fail closed).

Rule ids (``Decision.rule``):

allow
    ``read-inside``        read/search/think whose every location is inside the workspace
    ``read-outside-flag``  read/search/think touching paths outside, allowed by allow_external_reads
    ``fetch-flag``         fetch (network), allowed by allow_external_reads
    ``write-inside-flag``  edit/delete/move entirely inside the workspace, allowed by allow_writes
    ``execute-flag``       execute (cwd, if any, inside the workspace), allowed by allow_commands;
                           a read/search carrying ``rawInput.command`` is judged as an execute
ask
    ``malformed``          the request (or a path or command field in it) has the wrong shape, or a
                           command sits in a field or shape we do not recognise
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
    ``git-internals``      an edit/delete/move in a git directory (a ``.git`` component in any case,
                           one a gitfile or ``commondir`` names, one shaped like a git directory) or
                           in the hooks directory / fsmonitor program its config names: git runs it
                           later, so ALLOW_WRITES does not cover it
    ``execution-bearing``  an edit/delete/move of a file a tool runs or obeys on its own
                           (``.claude/``, ``.mcp.json``, ``.codex/``, ``.envrc``, ``.vscode/``, CI
                           definitions … — ``autorun.py``): ALLOW_WRITES does not cover it
    ``workspace-root``     an edit/delete/move of the workspace root itself (an ancestor is outside)
    ``no-command``         execute (or a read asking to run something) without a command we can show
refuse
    ``too-large-to-show``  a command over 10,000 characters, over 200 paths, or an edit whose change
                           is over 20,000 characters of diff: Claude could not judge it whole, so it
                           is denied with that reason instead of offered
other
    ``only-lasting-allow`` the request would be allowed, but the agent offered no allow-once option:
                           auto-approval never picks an option that persists a policy
                           (set by :meth:`Decision.escalated`, not by :func:`decide`)

:class:`Rule` lists them; the table above is the documentation of each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

from codex_fusion.guardian.autorun import Places, normalised
from codex_fusion.guardian.edits import MAX_CHANGE_CHARS, Change, changes_in
from codex_fusion.guardian.paths import real_workspace, realpath, within
from codex_fusion.guardian.toolcall import (
    Command,
    Target,
    all_shown,
    clean,
    collect,
    command_in,
    display_path,
    join_shown,
    raw_inputs,
)

__all__ = ["Decision", "GuardianFlags", "Rule", "decide"]

_TRUTHY: Final = frozenset({"1", "true", "yes", "on"})

READ_KINDS: Final = frozenset({"read", "search", "think"})
WRITE_KINDS: Final = frozenset({"edit", "delete", "move"})
OTHER_KINDS: Final = frozenset({"other", "switch_mode"})

#: Past these, a request is refused instead of shown: Claude must be able to read it whole.
MAX_COMMAND_CHARS: Final = 10_000
MAX_PATHS: Final = 200

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


# --------------------------------------------------------------------------------------------
# The decision


def _kind_of(tool_call: Mapping[str, Any]) -> tuple[str, bool]:
    """(the kind as given, whether a kind string was given at all). Made visible once, with the
    summary it goes into, or as ``Decision.kind``."""
    kind = tool_call.get("kind")
    if isinstance(kind, str) and kind:
        return kind, True
    return "other", False


def _title_of(tool_call: Mapping[str, Any]) -> str:
    title = tool_call.get("title")
    return title if isinstance(title, str) else ""


def _fetch_detail(tool_call: Mapping[str, Any], url: str | None) -> str:
    if url:
        return url
    for raw_input in raw_inputs(tool_call):
        query = raw_input.get("query")
        if isinstance(query, str) and query:
            return f"search: {query}"
    return _title_of(tool_call) or "(no details)"


def _runs_later(scoped: list[Target], workspace_real: str | None) -> tuple[Rule, str] | None:
    """The rule and the reason when a write touches the workspace root or a place that runs code."""
    if workspace_real is None:
        return None
    if any(t.real == workspace_real for t in scoped):
        return Rule.WORKSPACE_ROOT, "it moves, deletes or rewrites the workspace root itself"
    places = Places(workspace_real)
    for target in scoped:
        if target.real is None or not isinstance(target.raw, str):
            continue
        found = places.finding(target.raw, target.real)
        if found is not None:
            rule = Rule.GIT_INTERNALS if found.owner == "git" else Rule.EXECUTION_BEARING
            shown = target.shown(workspace_real)
            same = normalised(os.path.basename(shown)) == found.what.rstrip("/")
            where = f"{shown}: {found.why}" if same else f"{shown} is under {found.what} ({found.why})"
            return (
                rule,
                f"{where}. Writing there runs code later, so CODEX_FUSION_ALLOW_WRITES does not cover it",
            )
    return None


def _shown_changes(
    edits: list[Change], targets: list[Target], workspace_real: str | None, kind: str
) -> tuple[tuple[Change, ...], tuple[str, ...]]:
    """The changes with their paths as Claude should read them, and (for an edit) the paths Codex
    named but sent no change for."""
    shown: dict[str, str] = {}
    for target in targets:
        if target.scopes:
            shown.setdefault(display_path(target.raw), target.shown(workspace_real))
    changes = tuple(
        replace(
            change,
            path=shown.get(change.path, change.path),
            dest=None if change.dest is None else shown.get(change.dest, change.dest),
        )
        for change in edits
    )
    if kind != "edit":
        return changes, ()
    covered = {path for change in edits for path in change.paths}
    unshown = [shown[raw] for raw in shown if raw not in covered]
    return changes, tuple(dict.fromkeys(path for path in unshown if path not in {c.path for c in changes}))


def _resolved(found: list[Target], workspace_real: str | None) -> list[Target]:
    """Each target with its real path: a working directory from the workspace, any other relative
    path from its own request's working directory (unresolvable when that cannot be resolved)."""
    bases: dict[str, str | None] = {}
    targets: list[Target] = []
    seen: set[tuple[str, str, bool]] = set()
    for target in found:
        key = (display_path(target.raw), display_path(target.base), target.scopes)
        if key in seen:
            continue
        seen.add(key)
        base = workspace_real
        if isinstance(target.base, str):
            if target.base not in bases:
                bases[target.base] = realpath(target.base, workspace_real)
            base = bases[target.base]
        real = realpath(target.raw, base) if base is not None else None
        inside = real is not None and within(real, workspace_real)
        targets.append(replace(target, real=real, inside=inside))
    return targets


def decide(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> Decision:
    """Decide one ``session/request_permission`` tool call; never raises, asks when unsure."""
    try:
        return _decide(tool_call, workspace, flags)
    except Exception:  # defensive: a guardian bug must never turn into an approval
        return Decision("ask", Rule.MALFORMED, "other", "unreadable permission request")


def _decide(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> Decision:
    if not isinstance(tool_call, Mapping):
        return Decision("ask", Rule.MALFORMED, "other", "malformed permission request (not an object)")

    kind, kind_given = _kind_of(tool_call)
    title = _title_of(tool_call)
    workspace_real = real_workspace(workspace)
    found = collect(tool_call)
    problems = found.problems
    command, command_problem = command_in(raw_inputs(tool_call))
    if command_problem:
        problems.append(command_problem)
    url = found.urls[0] if found.urls else None
    edits, edit_problems = changes_in(tool_call)
    problems.extend(edit_problems)

    targets = _resolved(found.targets, workspace_real)
    cwds = [t for t in targets if not t.scopes]
    paths = tuple(dict.fromkeys(display_path(t.raw) for t in targets))
    resolved = tuple(all_shown([t for t in targets if t.scopes], workspace_real))
    cwd = cwds[0].shown(workspace_real) if cwds else None
    changes, unshown = _shown_changes(edits, targets, workspace_real, kind)

    def verdict(action: Action, rule: Rule, summary: str, detail: str | None = None) -> Decision:
        return Decision(
            action,
            rule,
            clean(kind, 40),
            clean(summary),
            paths,
            resolved,
            command,
            cwd,
            url,
            detail,
            changes,
            unshown,
            tuple(dict.fromkeys(found.urls)),
        )

    label = f"{kind}: {title}" if title else kind
    if problems:
        return verdict("ask", Rule.MALFORMED, f"{label} (malformed request: {problems[0]})")
    size = len(command.text) if command else 0
    if size > MAX_COMMAND_CHARS or len(targets) > MAX_PATHS:
        what = f"a {size}-character command" if size > MAX_COMMAND_CHARS else f"{len(targets)} paths"
        return verdict("refuse", Rule.TOO_LARGE, f"{label} — too large to show Claude ({what})")

    unresolvable = [t for t in targets if t.real is None]
    if unresolvable:
        head = f"{_VERBS[kind]} " if kind in _VERBS else f"{label} — "
        return verdict(
            "ask",
            Rule.UNRESOLVABLE_PATH,
            f"{head}{join_shown(unresolvable, workspace_real)} — path cannot be resolved",
        )

    outside = [t for t in targets if not t.inside]
    scoped = [t for t in targets if t.scopes]
    outside_note = " — outside the workspace" if outside else ""
    # A "read" or "search" that asks permission to run a shell command is a command: the adapters
    # classify commands like `sed -n '1e …' file` as reads, and a permission request means Codex
    # wants to run it outside its sandbox. One that names a URL is a fetch.
    as_command = kind in READ_KINDS and command is not None
    as_fetch = kind in READ_KINDS and not as_command and url is not None

    if (kind in READ_KINDS and not (as_command or as_fetch)) or kind in WRITE_KINDS:
        if not scoped:
            return verdict("ask", Rule.NO_LOCATIONS, f"{label} (no locations given)")
        summary = f"{_VERBS[kind]} {join_shown(scoped, workspace_real)}"
        outside_cwds = [t for t in cwds if not t.inside]
        if outside_cwds:
            summary += f" (cwd {join_shown(outside_cwds, workspace_real)})"
        summary += outside_note
        if kind in READ_KINDS:
            if not outside:
                return verdict("allow", Rule.READ_INSIDE, summary)
            if flags.allow_external_reads:
                return verdict("allow", Rule.READ_OUTSIDE_FLAG, summary)
            return verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
        runs_later = _runs_later([t for t in scoped if t.inside], workspace_real)
        if not outside and runs_later is None and flags.allow_writes:
            return verdict("allow", Rule.WRITE_INSIDE_FLAG, summary)
        written = sum(len(change.diff) for change in changes)
        if written > MAX_CHANGE_CHARS or any(change.too_large for change in changes):
            what = (
                f"a {written}-character change"
                if written > MAX_CHANGE_CHARS
                else "a change too large to diff"
            )
            return verdict("refuse", Rule.TOO_LARGE, f"{summary} — too large to show Claude ({what})")
        if outside:
            return verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
        if runs_later is not None:
            return verdict("ask", runs_later[0], summary, runs_later[1])
        return verdict("ask", Rule.WRITE, summary)

    if kind == "execute" or as_command:
        summary = f"run `{command.text}`" if command else f"run {title or '(unknown command)'}"
        if cwds:
            where = join_shown(cwds, workspace_real)
            summary += " (in the workspace root)" if where == "the workspace root" else f" (cwd {where})"
        others = [t for t in scoped if not t.inside]
        if others:
            summary += f" (touches {join_shown(others, workspace_real)})"
        summary += outside_note
        if outside:
            return verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
        if command is None:
            return verdict("ask", Rule.NO_COMMAND, summary)
        if flags.allow_commands:
            return verdict("allow", Rule.EXECUTE_FLAG, summary)
        return verdict("ask", Rule.EXECUTE, summary)

    if kind == "fetch" or as_fetch:
        summary = f"fetch {_fetch_detail(tool_call, url)}"
        if flags.allow_external_reads:
            return verdict("allow", Rule.FETCH_FLAG, summary)
        return verdict("ask", Rule.FETCH, summary)

    if targets:
        label += f" ({join_shown(targets, workspace_real)})"
    if kind_given and kind in OTHER_KINDS:
        return verdict("ask", Rule.OTHER_KIND, label)
    unknown = label if kind_given else f"unknown kind: {title or '(no title)'}"
    return verdict("ask", Rule.UNKNOWN_KIND, unknown)
