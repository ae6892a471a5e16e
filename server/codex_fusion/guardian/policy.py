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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from codex_fusion.guardian.autorun import Places, normalised
from codex_fusion.guardian.decision import Action, Change, Command, Decision, GuardianFlags, Rule
from codex_fusion.guardian.edits import MAX_CHANGE_CHARS, changes_in
from codex_fusion.guardian.paths import real_workspace
from codex_fusion.guardian.targets import resolved, shown_changes
from codex_fusion.guardian.toolcall import (
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


def decide(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> Decision:
    """Decide one ``session/request_permission`` tool call; never raises, asks when unsure."""
    try:
        return _decide(tool_call, workspace, flags)
    except Exception:  # defensive: a guardian bug must never turn into an approval
        return Decision("ask", Rule.MALFORMED, "other", "unreadable permission request")


@dataclass(frozen=True)
class _Request:
    """One permission request, read: what every decider looks at."""

    tool_call: Mapping[str, Any]
    flags: GuardianFlags
    kind: str
    kind_given: bool
    title: str
    workspace_real: str | None
    targets: list[Target]
    command: Command | None
    url: str | None
    urls: tuple[str, ...]
    changes: tuple[Change, ...]
    unshown: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.kind}: {self.title}" if self.title else self.kind

    @property
    def cwds(self) -> list[Target]:
        return [t for t in self.targets if not t.scopes]

    @property
    def scoped(self) -> list[Target]:
        return [t for t in self.targets if t.scopes]

    @property
    def outside(self) -> list[Target]:
        return [t for t in self.targets if not t.inside]

    def shown(self, targets: list[Target]) -> str:
        return join_shown(targets, self.workspace_real)

    def verdict(self, action: Action, rule: Rule, summary: str, detail: str | None = None) -> Decision:
        cwds = self.cwds
        return Decision(
            action,
            rule,
            clean(self.kind, 40),
            clean(summary),
            tuple(dict.fromkeys(display_path(t.raw) for t in self.targets)),
            tuple(all_shown(self.scoped, self.workspace_real)),
            self.command,
            cwds[0].shown(self.workspace_real) if cwds else None,
            self.url,
            detail,
            self.changes,
            self.unshown,
            self.urls,
        )


def _read(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> tuple[_Request, list[str]]:
    """The request as the deciders see it, and what is malformed in it."""
    kind, kind_given = _kind_of(tool_call)
    workspace_real = real_workspace(workspace)
    found = collect(tool_call)
    problems = found.problems
    command, command_problem = command_in(raw_inputs(tool_call))
    if command_problem:
        problems.append(command_problem)
    edits, edit_problems = changes_in(tool_call)
    problems.extend(edit_problems)
    targets = resolved(found.targets, workspace_real)
    changes, unshown = shown_changes(edits, targets, workspace_real, kind)
    request = _Request(
        tool_call,
        flags,
        kind,
        kind_given,
        _title_of(tool_call),
        workspace_real,
        targets,
        command,
        found.urls[0] if found.urls else None,
        tuple(dict.fromkeys(found.urls)),
        changes,
        unshown,
    )
    return request, problems


def _decide(tool_call: Mapping[str, Any], workspace: Path, flags: GuardianFlags) -> Decision:
    if not isinstance(tool_call, Mapping):
        return Decision("ask", Rule.MALFORMED, "other", "malformed permission request (not an object)")
    request, problems = _read(tool_call, workspace, flags)
    kind, label, command, targets = request.kind, request.label, request.command, request.targets
    if problems:
        return request.verdict("ask", Rule.MALFORMED, f"{label} (malformed request: {problems[0]})")
    size = len(command.text) if command else 0
    if size > MAX_COMMAND_CHARS or len(targets) > MAX_PATHS:
        what = f"a {size}-character command" if size > MAX_COMMAND_CHARS else f"{len(targets)} paths"
        return request.verdict("refuse", Rule.TOO_LARGE, f"{label} — too large to show Claude ({what})")
    unresolvable = [t for t in targets if t.real is None]
    if unresolvable:
        head = f"{_VERBS[kind]} " if kind in _VERBS else f"{label} — "
        summary = f"{head}{request.shown(unresolvable)} — path cannot be resolved"
        return request.verdict("ask", Rule.UNRESOLVABLE_PATH, summary)
    # A "read" or "search" that asks permission to run a shell command is a command: the adapters
    # classify commands like `sed -n '1e …' file` as reads, and a permission request means Codex
    # wants to run it outside its sandbox. One that names a URL is a fetch.
    as_command = kind in READ_KINDS and command is not None
    as_fetch = kind in READ_KINDS and not as_command and request.url is not None
    if (kind in READ_KINDS and not (as_command or as_fetch)) or kind in WRITE_KINDS:
        return _decide_paths(request)
    if kind == "execute" or as_command:
        return _decide_execute(request)
    if kind == "fetch" or as_fetch:
        return _decide_fetch(request)
    return _decide_other(request)


def _decide_paths(request: _Request) -> Decision:
    """A read, search or think, or an edit, delete or move: by where its paths are."""
    scoped, outside = request.scoped, request.outside
    if not scoped:
        return request.verdict("ask", Rule.NO_LOCATIONS, f"{request.label} (no locations given)")
    summary = f"{_VERBS[request.kind]} {request.shown(scoped)}"
    outside_cwds = [t for t in request.cwds if not t.inside]
    if outside_cwds:
        summary += f" (cwd {request.shown(outside_cwds)})"
    summary += " — outside the workspace" if outside else ""
    if request.kind in READ_KINDS:
        if not outside:
            return request.verdict("allow", Rule.READ_INSIDE, summary)
        if request.flags.allow_external_reads:
            return request.verdict("allow", Rule.READ_OUTSIDE_FLAG, summary)
        return request.verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
    return _decide_write(request, summary)


def _decide_write(request: _Request, summary: str) -> Decision:
    """An edit, delete or move: allowed only inside, with the flag, where nothing runs it later."""
    outside = request.outside
    runs_later = _runs_later([t for t in request.scoped if t.inside], request.workspace_real)
    if not outside and runs_later is None and request.flags.allow_writes:
        return request.verdict("allow", Rule.WRITE_INSIDE_FLAG, summary)
    written = sum(len(change.diff) for change in request.changes)
    if written > MAX_CHANGE_CHARS or any(change.too_large for change in request.changes):
        what = f"a {written}-character change" if written > MAX_CHANGE_CHARS else "a change too large to diff"
        return request.verdict("refuse", Rule.TOO_LARGE, f"{summary} — too large to show Claude ({what})")
    if outside:
        return request.verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
    if runs_later is not None:
        return request.verdict("ask", runs_later[0], summary, runs_later[1])
    return request.verdict("ask", Rule.WRITE, summary)


def _decide_execute(request: _Request) -> Decision:
    """A command (or a read asking to run one): allowed only with a command to show, inside, with the flag."""
    command, cwds, outside = request.command, request.cwds, request.outside
    summary = f"run `{command.text}`" if command else f"run {request.title or '(unknown command)'}"
    if cwds:
        where = request.shown(cwds)
        summary += " (in the workspace root)" if where == "the workspace root" else f" (cwd {where})"
    others = [t for t in request.scoped if not t.inside]
    if others:
        summary += f" (touches {request.shown(others)})"
    summary += " — outside the workspace" if outside else ""
    if outside:
        return request.verdict("ask", Rule.OUTSIDE_WORKSPACE, summary)
    if command is None:
        return request.verdict("ask", Rule.NO_COMMAND, summary)
    if request.flags.allow_commands:
        return request.verdict("allow", Rule.EXECUTE_FLAG, summary)
    return request.verdict("ask", Rule.EXECUTE, summary)


def _decide_fetch(request: _Request) -> Decision:
    """A fetch (or a read naming a URL): allowed only with the external-reads flag."""
    summary = f"fetch {_fetch_detail(request.tool_call, request.url)}"
    if request.flags.allow_external_reads:
        return request.verdict("allow", Rule.FETCH_FLAG, summary)
    return request.verdict("ask", Rule.FETCH, summary)


def _decide_other(request: _Request) -> Decision:
    """Any other kind, given or not: always asked."""
    label = request.label
    if request.targets:
        label += f" ({request.shown(request.targets)})"
    if request.kind_given and request.kind in OTHER_KINDS:
        return request.verdict("ask", Rule.OTHER_KIND, label)
    unknown = label if request.kind_given else f"unknown kind: {request.title or '(no title)'}"
    return request.verdict("ask", Rule.UNKNOWN_KIND, unknown)
