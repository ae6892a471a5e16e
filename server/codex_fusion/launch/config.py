"""Configuration from the environment: one immutable object, read once at start-up.

Plain data: :func:`read` reads the settings, and ``planning.configure`` — what whoever starts
codex-fusion calls — plans the launches (and writes their files) before :func:`make` puts both
together in a :class:`Config`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from codex_fusion.errors import ConfigError
from codex_fusion.guardian.decision import GuardianFlags
from codex_fusion.hookside import nonce, options
from codex_fusion.launch import boundary, names
from codex_fusion.launch.members import Launching, MemberSpec
from codex_fusion.launch.models import ModelChoice

#: ``Config.agent_source`` when the agent command is npx's (``planning.resolve_agent_command``).
NPX_FALLBACK = "npx fallback"

DEFAULT_STARTUP_TIMEOUT_MS = 120_000
DEFAULT_TURN_TIMEOUT_MS = 300_000
DEFAULT_CANCEL_GRACE_MS = 1_500
RESETTABLE = ("clear", "compact")
DEFAULT_RESET_ON = frozenset(RESETTABLE)
#: About 8k tokens: under Claude Code's 10k-token warning for one tool result.
DEFAULT_MAX_ANSWER_CHARS = 32_000


@dataclass(frozen=True)
class Workspace:
    """The directory Codex works in, or why there is none."""

    path: Path | None
    error: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path | None = None) -> Workspace:
        for name in ("CODEX_FUSION_WORKSPACE", "CLAUDE_PROJECT_DIR"):
            value = env.get(name, "").strip()
            if value:
                source = name
                break
        else:
            value, source = str(cwd or Path.cwd()), "the current directory"
        try:
            path = Path(value).expanduser().resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            return cls(None, f"The workspace {value!r} (from {source}) cannot be resolved: {exc}.")
        if not path.is_dir():
            return cls(
                None,
                f"The workspace {value!r} (from {source}) is not an existing directory. "
                "Set CODEX_FUSION_WORKSPACE to the project directory.",
            )
        return cls(path)


def _ms(env: Mapping[str, str], name: str, default: int) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default / 1000
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of milliseconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {raw!r}")
    return value / 1000


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1000:
        raise ConfigError(f"{name} must be a whole number of at least 1000, not {raw!r}")
    return int(raw)


def _reset_on(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get("CODEX_FUSION_RESET_ON")
    if raw is None:
        return DEFAULT_RESET_ON
    events = {item.strip().lower() for item in raw.split(",") if item.strip()}
    unknown = events - set(RESETTABLE)
    if unknown:
        raise ConfigError(
            f"CODEX_FUSION_RESET_ON may list {' and '.join(RESETTABLE)} (comma-separated), not "
            f"{', '.join(sorted(unknown))}; empty means never reset automatically"
        )
    return frozenset(events)


def _model(given: Mapping[str, str]) -> ModelChoice:
    """Codex's default model and effort, with where they were set (for the error that refuses one)."""
    model, model_source = options.lookup(given, "model")
    effort, effort_source = options.lookup(given, "effort")
    default = "the default"
    model_from = options.origin("model", model_source) or default
    effort_from = options.origin("effort", effort_source) or default
    return ModelChoice.of(model, effort, model_from, effort_from)


def _state_dir(env: Mapping[str, str]) -> Path | None:
    try:
        return nonce.state_dir(env)
    except OSError:
        return None  # no HOME at all: features that keep files say so when used


#: The variables that set the host (host/identity.py): kept in the Config, read above this layer.
HOST_VARIABLES = ("CODEX_FUSION_HOST", "CODEX_FUSION_HANDLE_AFTER_S", "CODEX_FUSION_PAUSE_ASKS")


@dataclass(frozen=True)
class Config:
    workspace: Workspace
    agent_argv: list[str]
    agent_source: str
    agent_mode: str
    startup_timeout: float
    agent_env: dict[str, str] = field(repr=False)
    flags: GuardianFlags = field(default_factory=GuardianFlags)
    turn_timeout: float = DEFAULT_TURN_TIMEOUT_MS / 1000
    cancel_grace: float = DEFAULT_CANCEL_GRACE_MS / 1000
    log_path: Path | None = None
    #: The plugin's private data directory (see :func:`codex_fusion.hookside.nonce.state_dir`), if any.
    state_dir: Path | None = None
    #: Longest answer returned whole; longer ones are cut and saved in full (see ``overflow.py``).
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS
    #: Which codex-acp the agent command starts: ``ts``, ``rust`` or ``unknown`` (``adapters.detect``).
    adapter: str = "unknown"
    #: Codex's sandbox is held to the workspace by codex-fusion's permission profile (docs/security.md).
    boundary_enforced: bool = False
    #: What Claude must be told when it is not (fully): "Codex can read outside the workspace …".
    boundary_note: str | None = None
    #: Which of Claude's events reset Codex's session (``CODEX_FUSION_RESET_ON``).
    reset_on: frozenset[str] = DEFAULT_RESET_ON
    #: Start the agent and open the session as soon as the server starts (``CODEX_FUSION_WARM``).
    warm: bool = True
    #: The Claude Code process the server belongs to, as the environment says (``CLAUDE_PID``).
    claude_pid: int | None = None
    #: The Claude conversation the server was started in (``CLAUDE_CODE_SESSION_ID``; Claude Code
    #: sets it for MCP servers). The hook's records are authoritative once one is seen.
    claude_session: str | None = None
    #: The council: every member by name, Codex first (``members.py``; ``CODEX_FUSION_MEMBERS``).
    members: Mapping[str, MemberSpec] = field(default_factory=dict)
    #: review_diff may diff a repository whose git directory is elsewhere: a linked worktree or a
    #: submodule (``CODEX_FUSION_ALLOW_FOREIGN_GITDIR``; see ``diffs/layout.py``).
    allow_foreign_gitdir: bool = False
    #: Codex's default model and effort (options ``model``/``effort``, ``CODEX_FUSION_MODEL``/``_EFFORT``).
    model: ModelChoice = field(default_factory=ModelChoice)
    #: The review gate is on (``review_gate``): the server opens its socket for the Stop hook.
    review_gate: bool = False
    #: The user's prices per model (``model_prices``), raw; ``council/usage.py`` parses them.
    model_prices: str | None = None
    #: Where each plugin option's value came from (``options.describe``), for ``status``.
    option_sources: dict[str, str] = field(default_factory=dict)
    #: The host settings the user gave (``CODEX_FUSION_HOST``, ``_HANDLE_AFTER_S``, ``_PAUSE_ASKS``), read
    #: by :mod:`codex_fusion.host.identity`.
    host_env: Mapping[str, str] = field(default_factory=dict)
    #: Codex's launch for a delegated task in the given worktree (:meth:`task_member`).
    task_launcher: Callable[[Path], Launching] | None = field(default=None, repr=False, compare=False)

    @property
    def launcher(self) -> Launching | None:
        """Codex's launcher: checks the started agent against the plan, and plans again for what its
        handshake says it is (``confine.py``); ``Agent.confinement`` then says what is in force."""
        codex = self.members.get(names.CODEX)
        return codex.launcher if codex is not None else None

    @property
    def agent_command(self) -> str:
        return shlex.join(self.agent_argv)


@dataclass(frozen=True)
class Settings:
    """What the environment and the plugin's options say, before any launch is planned."""

    given: Mapping[str, str]  # the environment as given (where each option came from)
    source: Mapping[str, str]  # the effective environment: env > plugin option > default (ADR 0018)
    state: Path | None
    workspace: Workspace
    flags: GuardianFlags


@dataclass(frozen=True)
class Launched:
    """The launches planned for some :class:`Settings` (``planning.py``)."""

    plan: boundary.Plan  # Codex's
    agent_env: dict[str, str]
    agent_source: str  # where Codex's command came from
    members: Mapping[str, MemberSpec]  # the council, Codex first
    task_launcher: Callable[[Path], Launching]


def read(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """The settings in ``env`` (default: this process's environment) and the plugin's options."""
    given = dict(os.environ if env is None else env)
    source = options.effective_env(given)
    return Settings(
        given, source, _state_dir(source), Workspace.from_env(source, cwd), GuardianFlags.from_env(source)
    )


def make(settings: Settings, launched: Launched) -> Config:
    """The configuration: ``settings`` and the launches planned for them."""
    source, given, flags, plan, agent_env = (
        settings.source,
        settings.given,
        settings.flags,
        launched.plan,
        launched.agent_env,
    )
    return Config(
        workspace=settings.workspace,
        agent_argv=list(plan.argv),
        agent_source=launched.agent_source,
        # INITIAL_AGENT_MODE: the TypeScript adapter's default mode sends approvals to Codex's own
        # reviewer, never to us (ADR 0002); with the permission profile it is the profile's mode.
        agent_mode=agent_env["INITIAL_AGENT_MODE"],
        startup_timeout=_ms(source, "CODEX_FUSION_STARTUP_TIMEOUT_MS", DEFAULT_STARTUP_TIMEOUT_MS),
        agent_env=agent_env,
        flags=flags,
        turn_timeout=_ms(source, "CODEX_FUSION_TURN_TIMEOUT_MS", DEFAULT_TURN_TIMEOUT_MS),
        cancel_grace=_ms(source, "CODEX_FUSION_CANCEL_GRACE_MS", DEFAULT_CANCEL_GRACE_MS),
        state_dir=settings.state,
        adapter=plan.launch.adapter,
        boundary_enforced=plan.profile and plan.isolated and not flags.allow_external_reads,
        boundary_note=plan.note,
        reset_on=_reset_on(source),
        members=launched.members,
        claude_pid=nonce.parse_pid(source.get("CLAUDE_PID", "")),
        claude_session=source.get("CLAUDE_CODE_SESSION_ID", "").strip()[: nonce.MAX_TEXT_CHARS] or None,
        warm=source.get("CODEX_FUSION_WARM", "1").strip().lower() not in ("0", "false", "no", "off"),
        max_answer_chars=_count(source, "CODEX_FUSION_MAX_ANSWER_CHARS", DEFAULT_MAX_ANSWER_CHARS),
        allow_foreign_gitdir=source.get("CODEX_FUSION_ALLOW_FOREIGN_GITDIR", "").strip().lower()
        in ("1", "true", "yes", "on"),
        model=_model(given),
        option_sources=options.describe(given),
        review_gate=options.lookup(given, "review_gate")[0] == "1",
        model_prices=options.lookup(given, "model_prices")[0],
        task_launcher=launched.task_launcher,
        host_env={k: v for k, v in source.items() if k in HOST_VARIABLES},
        log_path=Path(source["CODEX_FUSION_LOG"]).expanduser() if source.get("CODEX_FUSION_LOG") else None,
    )
