"""Configuration from the environment: one immutable object, read once at start-up."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from codex_fusion.errors import ConfigError
from codex_fusion.guardian.policy import GuardianFlags
from codex_fusion.hookside import nonce, options
from codex_fusion.launch import boundary, gitenv, installer, members
from codex_fusion.launch.confine import Launcher
from codex_fusion.launch.members import MemberSpec
from codex_fusion.launch.models import ModelChoice

#: The codex-acp major version codex-fusion is tested against (used for the npx fallback).
TESTED_ADAPTER = "@agentclientprotocol/codex-acp@2"
NPX_FALLBACK = "npx fallback"

DEFAULT_MODE = "read-only"
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
    sources = {
        options.origin(key, source) for key, source in (("model", model_source), ("effort", effort_source))
    }
    sources.discard(None)
    return ModelChoice.of(model, effort, " and ".join(sorted(s for s in sources if s)) or "the default")


def _state_dir(env: Mapping[str, str]) -> Path | None:
    try:
        return nonce.state_dir(env)
    except OSError:
        return None  # no HOME at all: features that keep files say so when used


def resolve_agent_command(
    env: Mapping[str, str], state: Path | None = None, workspace: Path | None = None
) -> tuple[list[str], str]:
    """The agent argv and where it came from: the env override, ``codex-acp`` on PATH, the pinned
    release installed in the data directory (``installer.py``), or npx. Programs are looked up only
    in absolute ``PATH`` entries outside the workspace (``boundary.search_path``), and the command
    always starts with an absolute path: a hostile workspace cannot plant the agent."""
    path = boundary.search_path(env.get("PATH", os.defpath), workspace)
    override = env.get("CODEX_FUSION_ACP_COMMAND", "").strip()
    if override:
        try:
            argv = shlex.split(override)
        except ValueError as exc:
            raise ConfigError(f"CODEX_FUSION_ACP_COMMAND is not a valid command line: {exc}") from None
        if not argv:
            raise ConfigError("CODEX_FUSION_ACP_COMMAND is empty: name the agent's program")
        return [_absolute(argv[0], path), *argv[1:]], "CODEX_FUSION_ACP_COMMAND"
    found = shutil.which("codex-acp", path=path)
    if found:
        return [os.path.abspath(found)], "PATH"
    pinned = installer.installed_command(state, path)
    if pinned is not None:
        return pinned, f"installed {installer.PACKAGE}@{installer.PINNED}"
    npx = shutil.which("npx", path=path)
    return [os.path.abspath(npx) if npx else "npx", "-y", TESTED_ADAPTER], NPX_FALLBACK


def _absolute(program: str, path: str) -> str:
    """``program`` as an absolute path: as written when it is one, else looked up in ``path``; a
    relative path is refused (it would run from the server's directory, the workspace)."""
    if os.path.isabs(program):
        return program
    if os.sep in program or (os.altsep and os.altsep in program):
        raise ConfigError(
            f"CODEX_FUSION_ACP_COMMAND starts with the relative path {program!r}: give the agent's program "
            "as an absolute path, or as a name found on PATH (a relative path would run from the workspace)"
        )
    found = shutil.which(program, path=path)
    if found is None:
        return program  # starting it fails with "command not found" (the agent's PATH is as safe)
    return os.path.abspath(found)


def _launch(
    source: Mapping[str, str],
    argv: list[str],
    flags: GuardianFlags,
    state: Path | None,
    workspace: Path | None,
    launch: boundary.Launch | None = None,
    *,
    writes: bool = False,
) -> tuple[boundary.Plan, dict[str, str]]:
    """The agent's launch with codex-fusion's sandbox profile, project isolation, command environment
    and login store (``boundary.plan``), and its environment; the TypeScript adapter's shim is written
    here. ``launch`` overrides what :func:`boundary.detect` finds from ``argv`` (the handshake's word)."""
    launch = launch or boundary.detect(argv, source, workspace)
    home = boundary.codex_home(source)

    def make(shim_ok: bool) -> boundary.Plan:
        return boundary.plan(
            source,
            argv,
            launch,
            mode=source.get("CODEX_FUSION_AGENT_MODE", "").strip() or None,
            external_reads=flags.allow_external_reads,
            logged_in=(home / "auth.json").is_file(),
            provider_key=boundary.provider_key_var(home),
            shim_ok=shim_ok,
            workspace=workspace,
            writes=writes,
        )

    plan = make(os.name == "posix" and state is not None)
    env = dict(plan.env)
    if plan.shim is not None and state is not None:
        try:
            env["CODEX_PATH"] = str(boundary.write_shim(state, plan.shim))
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write the Codex start-up shim: %s", exc)
            plan = make(False)
            env = dict(plan.env)
    return plan, env


def _member(
    entry: members.MemberConfig, source: Mapping[str, str], workspace: Path | None, state: Path | None
) -> MemberSpec:
    """A member other than Codex, from the user's entry and its kind's launch plan (``agents/``)."""
    from codex_fusion.launch import agents  # only when the council has other members

    wanted = agents.Member(
        entry.name,
        shlex.join(entry.command) if entry.command is not None else None,
        entry.env,
        entry.model,
        entry.effort,
    )
    source_label = "CODEX_FUSION_MEMBERS" if entry.command is not None else "built-in"
    try:
        plan = agents.plan_member(source, wanted, workspace=workspace, state_dir=state)
        if plan.files and state is not None:
            try:
                agents.write_files(plan, state)
            except OSError as exc:
                logging.getLogger(__name__).warning("cannot write %s's files: %s", entry.name, exc)
                plan = agents.plan_member(source, wanted, workspace=workspace, state_dir=None)
    except ConfigError as exc:
        return MemberSpec(entry.name, "unknown", entry.command or (), source_label, error=str(exc))
    return MemberSpec(
        name=entry.name,
        kind=plan.kind,
        argv=plan.argv,
        source=source_label,
        env=plan.env,
        adapter=plan.kind,
        boundary_enforced=plan.boundary.confined,
        boundary_note=None if plan.boundary.confined else plan.boundary.note,
        model=entry.model,
        effort=entry.effort,
        session_meta=plan.session_meta or {},
        capabilities=plan.client_capabilities,
        launch=plan,
    )


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
    #: Which codex-acp the agent command starts: ``ts``, ``rust`` or ``unknown`` (``boundary.detect``).
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
    #: Where each plugin option's value came from (``options.describe``), for ``status``.
    option_sources: dict[str, str] = field(default_factory=dict)
    #: Codex's launch for a delegated task in the given worktree (:meth:`task_member`).
    task_launcher: Callable[[Path], Launcher] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
        given = dict(os.environ if env is None else env)
        source = options.effective_env(given)  # env > plugin option > default (ADR 0018)
        state = _state_dir(source)
        workspace = Workspace.from_env(source, cwd)
        argv, where = resolve_agent_command(source, state, workspace.path)
        flags = GuardianFlags.from_env(source)
        entries, problems = members.parse(source.get("CODEX_FUSION_MEMBERS"))
        codex_entry = next((e for e in entries if e.name == members.CODEX), None)
        extra_env = dict(codex_entry.env) if codex_entry is not None else {}
        if codex_entry is not None and codex_entry.command is not None:
            # the member's command is checked like CODEX_FUSION_ACP_COMMAND (absolute, never the workspace's)
            named = {**source, "CODEX_FUSION_ACP_COMMAND": shlex.join(codex_entry.command)}
            argv, where = resolve_agent_command(named, state, workspace.path)[0], "CODEX_FUSION_MEMBERS"

        # the repository's git programs switched off for every agent (ADR 0023), over everything else
        agent_git = gitenv.for_workspace(workspace.path)

        def launch_for(launch: boundary.Launch | None = None) -> tuple[boundary.Plan, dict[str, str]]:
            plan, env = _launch(source, argv, flags, state, workspace.path, launch)
            return plan, {**env, **extra_env, **agent_git.env}  # the member's own, on top of the allowlist

        def task_launcher(worktree: Path) -> Launcher:
            # the copy has no .git of its own: its attributes are the workspace's, and so is the lockdown
            def replan(launch: boundary.Launch | None = None) -> tuple[boundary.Plan, dict[str, str]]:
                plan, env = _launch(source, argv, flags, state, worktree, launch, writes=True)
                return plan, {**env, **extra_env, **agent_git.env}

            plan, env = replan()
            return Launcher(
                plan,
                env,
                replan=replan,
                detect=lambda command: boundary.detect(command, source, worktree),
                external_reads=flags.allow_external_reads,
            )

        plan, agent_env = launch_for()
        launcher = Launcher(
            plan,
            agent_env,
            replan=launch_for,
            detect=lambda command: boundary.detect(command, source, workspace.path),
            external_reads=flags.allow_external_reads,
        )
        codex = MemberSpec(
            name=members.CODEX,
            kind="codex",
            argv=tuple(plan.argv),
            source=where,
            env=agent_env,
            mode=agent_env["INITIAL_AGENT_MODE"],
            adapter=plan.launch.adapter,
            boundary_enforced=plan.profile and plan.isolated and not flags.allow_external_reads,
            boundary_note=plan.note,
            model=codex_entry.model if codex_entry else None,
            effort=codex_entry.effort if codex_entry else None,
            launcher=launcher,
            error=agent_git.refusal,
        )
        council: dict[str, MemberSpec] = {members.CODEX: codex}
        for entry in entries:
            if entry.name != members.CODEX:
                council[entry.name] = gitenv.applied(
                    _member(entry, source, workspace.path, state), agent_git, workspace.path, state
                )
        for name, problem in problems:
            council.setdefault(name, MemberSpec(name, "unknown", (), "CODEX_FUSION_MEMBERS", error=problem))
        return cls(
            workspace=workspace,
            agent_argv=list(plan.argv),
            agent_source=where,
            # INITIAL_AGENT_MODE: the TypeScript adapter's default mode sends approvals to Codex's own
            # reviewer, never to us (ADR 0002); with the permission profile it is the profile's mode.
            agent_mode=agent_env["INITIAL_AGENT_MODE"],
            startup_timeout=_ms(source, "CODEX_FUSION_STARTUP_TIMEOUT_MS", DEFAULT_STARTUP_TIMEOUT_MS),
            agent_env=agent_env,
            flags=flags,
            turn_timeout=_ms(source, "CODEX_FUSION_TURN_TIMEOUT_MS", DEFAULT_TURN_TIMEOUT_MS),
            cancel_grace=_ms(source, "CODEX_FUSION_CANCEL_GRACE_MS", DEFAULT_CANCEL_GRACE_MS),
            state_dir=state,
            adapter=plan.launch.adapter,
            boundary_enforced=plan.profile and plan.isolated and not flags.allow_external_reads,
            boundary_note=plan.note,
            reset_on=_reset_on(source),
            members=council,
            claude_pid=nonce.parse_pid(source.get("CLAUDE_PID", "")),
            claude_session=source.get("CLAUDE_CODE_SESSION_ID", "").strip()[: nonce.MAX_TEXT_CHARS] or None,
            warm=source.get("CODEX_FUSION_WARM", "1").strip().lower() not in ("0", "false", "no", "off"),
            max_answer_chars=_count(source, "CODEX_FUSION_MAX_ANSWER_CHARS", DEFAULT_MAX_ANSWER_CHARS),
            allow_foreign_gitdir=source.get("CODEX_FUSION_ALLOW_FOREIGN_GITDIR", "").strip().lower()
            in ("1", "true", "yes", "on"),
            model=_model(given),
            option_sources=options.describe(given),
            review_gate=options.lookup(given, "review_gate")[0] == "1",
            task_launcher=task_launcher,
            log_path=Path(source["CODEX_FUSION_LOG"]).expanduser()
            if source.get("CODEX_FUSION_LOG")
            else None,
        )

    @property
    def launcher(self) -> Launcher | None:
        """Codex's launcher: checks the started agent against the plan, and plans again for what its
        handshake says it is (``confine.py``); ``Agent.confinement`` then says what is in force."""
        codex = self.members.get(members.CODEX)
        return codex.launcher if codex is not None else None

    @property
    def agent_command(self) -> str:
        return shlex.join(self.agent_argv)

    # -- delegated tasks (tasks/) ------------------------------------------------------------------

    def task_member(self, name: str, worktree: Path) -> MemberSpec:
        """Member ``name`` as it works on a delegated task whose root is ``worktree``.

        Codex: the same launch with its permission profile's workspace roots **writable** — the
        session's root is the worktree — and nothing else (no network); the worktree's own Codex
        configuration is switched off as the workspace's is. Claude and Gemini as configured: they
        are confined by asking, so their edits and commands come to the guardian. Raises
        :class:`ConfigError` when the member cannot be held to its worktree. Blocking (writes the
        shim): call it off the event loop."""
        spec = self.members.get(name)
        if spec is None:
            raise ConfigError(f"No council member {name!r}; configured: {', '.join(self.members)}.")
        if spec.error is not None:
            raise ConfigError(f"The council member {name} cannot start: {spec.error}")
        if spec.kind != members.CODEX:
            if spec.kind in ("claude", "gemini") and spec.boundary_enforced:
                return spec
            raise ConfigError(
                f"{spec.display} cannot take a task: codex-fusion cannot hold it to a worktree "
                f"({spec.boundary_note or 'its agent is not one codex-fusion knows how to confine'})."
            )
        if self.task_launcher is None or not spec.boundary_enforced:
            raise ConfigError(
                "Codex cannot take a task here: its sandbox must run codex-fusion's permission profile to "
                f"write only the task's worktree, and it does not ({spec.boundary_note or 'not planned'})."
            )
        launcher = self.task_launcher(worktree)
        plan, env = launcher.plan, launcher.env
        if not plan.profile:
            raise ConfigError(f"Codex cannot take a task here: {plan.note or 'its sandbox gets no profile'}")
        return replace(
            spec, argv=tuple(plan.argv), env=env, mode=env["INITIAL_AGENT_MODE"], launcher=launcher
        )
