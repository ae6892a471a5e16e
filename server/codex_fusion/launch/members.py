"""Who sits on the council: each member's name, agent command, environment, mode and boundary.

A member is data (:class:`MemberSpec`); :class:`~codex_fusion.member.conversation.Member` is one member's
conversation, :class:`~codex_fusion.council.council.Council` the fan-out over several. Codex is always a
member and the default one. Others come only from the user: ``CODEX_FUSION_MEMBERS`` (or the plugin
option that sets it), a JSON object::

    {"<name>": {"command": "<shell syntax>", "env": {"K": "V"}, "model": "…", "effort": "…"}}

Built-in names (``codex``, ``claude``, ``gemini``) may omit ``command``. Never from a file in the
workspace: a hostile repository controls those. A member whose entry is unusable is kept with its
``error``, so the others still work and ``status`` says what to fix.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol

from codex_fusion.errors import ConfigError
from codex_fusion.launch.agents.plan import MemberEntry
from codex_fusion.launch.names import BUILT_IN, DISPLAY

if TYPE_CHECKING:
    from codex_fusion.launch.agents.plan import LaunchPlan


class Launching(Protocol):
    """What Codex's launcher (``confine.Launcher``) offers the rest, so that holding one needs neither
    the launcher nor the agent it checks: its environment, and the look at the started agent
    that ``StartOptions.check`` runs."""

    @property
    def env(self) -> dict[str, str]: ...

    async def check(self, agent: Any, /) -> Any: ...


_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_FIELDS: Final = frozenset({"command", "env", "model", "effort"})
#: Variables a member's ``env`` may not set: they decide codex-fusion's own boundary for that agent.
_RESERVED_ENV: Final = frozenset({"INITIAL_AGENT_MODE", "CODEX_PATH"})
MAX_MEMBERS: Final = 8


@dataclass(frozen=True)
class MemberSpec:
    """Everything needed to start and present one member's agent."""

    name: str
    kind: str  # "codex", "claude", "gemini" or "unknown": how the agent is confined and spoken to
    argv: tuple[str, ...]
    source: str  # where the command came from ("PATH", "CODEX_FUSION_MEMBERS", …)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    mode: str | None = None  # the session mode set after session/new (None: leave the agent's own)
    adapter: str = "unknown"  # which implementation: codex "ts"/"rust"; otherwise the kind
    boundary_enforced: bool = False
    boundary_note: str | None = None  # what Claude must know when it is not (fully) enforced
    model: str | None = None
    effort: str | None = None
    #: ``_meta`` for ``session/new`` (claude-agent-acp reads its SDK options there).
    session_meta: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: ``initialize``'s ``clientCapabilities`` (None: codex-fusion's default, ``fs.readTextFile``).
    capabilities: Mapping[str, Any] | None = None
    #: How a member other than Codex is launched, put in its mode and given model and effort
    #: (``agents/``); None for Codex, which ``boundary.py`` plans.
    launch: LaunchPlan | None = field(default=None, repr=False)
    #: Codex's: checks the started agent against its plan and plans again for what its handshake says
    #: it is (``confine.py``).
    launcher: Launching | None = field(default=None, repr=False, compare=False)
    #: Why this member cannot start (its configuration is unusable); None when it can.
    error: str | None = None

    @property
    def display(self) -> str:
        return DISPLAY.get(self.name, self.name)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def broken(self, why: str) -> MemberSpec:
        return replace(self, error=why)


def parse(raw: str | None) -> tuple[list[MemberEntry], list[tuple[str, str]]]:
    """The member entries of ``CODEX_FUSION_MEMBERS``, and (name, problem) for each unusable one.

    The variable as a whole being unreadable (not JSON, not an object) is a :class:`ConfigError`:
    nothing in it can be trusted to mean what the user meant."""
    if raw is None or not raw.strip():
        return [], []
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            f'CODEX_FUSION_MEMBERS is not valid JSON ({exc}); write an object such as {{"gemini": {{}}}}'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError('CODEX_FUSION_MEMBERS must be a JSON object such as {"gemini": {}}')
    if len(data) > MAX_MEMBERS:
        raise ConfigError(f"CODEX_FUSION_MEMBERS names {len(data)} members; at most {MAX_MEMBERS}")
    entries: list[MemberEntry] = []
    problems: list[tuple[str, str]] = []
    for name, body in data.items():
        try:
            entries.append(_entry(name, body))
        except ConfigError as exc:
            problems.append((str(name)[:40], str(exc)))
    return entries, problems


def _entry(name: object, body: object) -> MemberEntry:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"member name {str(name)[:40]!r}: use lower-case letters, digits, - or _ (≤ 32, letter first)"
        )
    if not isinstance(body, dict):
        raise ConfigError(f"member {name}: its entry must be an object, not {type(body).__name__}")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ConfigError(
            f"member {name}: unknown field(s) {', '.join(map(str, unknown))}; "
            f"use {', '.join(sorted(_FIELDS))}"
        )
    command = body.get("command")
    argv: tuple[str, ...] | None = None
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"member {name}: `command` must be a non-empty string (shell syntax)")
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise ConfigError(f"member {name}: `command` is not a valid command line: {exc}") from None
    elif name not in BUILT_IN:
        raise ConfigError(f"member {name}: needs a `command` (only {', '.join(BUILT_IN)} have defaults)")
    env = body.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ConfigError(f"member {name}: `env` must be an object of strings")
    reserved = sorted(set(env) & _RESERVED_ENV)
    if reserved:
        raise ConfigError(f"member {name}: `env` may not set {', '.join(reserved)} (codex-fusion sets them)")
    texts: dict[str, str | None] = {}
    for key in ("model", "effort"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"member {name}: `{key}` must be a non-empty string")
        texts[key] = value.strip() if isinstance(value, str) else None
    command = shlex.join(argv) if argv is not None else None  # checked: it splits back into ``argv``
    return MemberEntry(name, command, dict(env), texts["model"], texts["effort"])
