"""Planning the launches a configuration describes, and writing their files: Codex's command (never
one from the workspace), its launch behind codex-fusion's boundary (``boundary.plan``, the TypeScript
adapter's shim), the council's other members (``agents/``, their private files), and Codex's launch
for a delegated task. :func:`configure` is what whoever starts codex-fusion calls; blocking (stat,
package files, writes in the data directory): call it off the event loop.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from codex_fusion.errors import ConfigError
from codex_fusion.guardian.decision import GuardianFlags
from codex_fusion.launch import adapters, allowlist, boundary, config, gitenv, installer, members, names
from codex_fusion.launch.agents.plan import MemberEntry
from codex_fusion.launch.config import NPX_FALLBACK, Config, Launched, Settings
from codex_fusion.launch.confine import Launcher
from codex_fusion.launch.members import MemberSpec

#: The codex-acp major version codex-fusion is tested against (used for the npx fallback).
TESTED_ADAPTER = "@agentclientprotocol/codex-acp@2"


def configure(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    """The configuration in ``env`` (default: this process's environment), its launches planned."""
    settings = config.read(env, cwd)
    return config.make(settings, plan_launches(settings))


def plan_launches(settings: Settings) -> Launched:
    """Codex's launch (from ``CODEX_FUSION_MEMBERS``' ``codex`` entry when it has one) and every other
    member's; a member that cannot start is kept with its error."""
    source, state, workspace = settings.source, settings.state, settings.workspace.path
    entries, problems = members.parse(source.get("CODEX_FUSION_MEMBERS"))
    codex_entry = next((e for e in entries if e.name == names.CODEX), None)
    argv, where = _codex_argv(settings, codex_entry)
    # the repository's git programs switched off for every agent (ADR 0023), over everything else
    agent_git = gitenv.for_workspace(workspace)
    codex, launcher = _codex(settings, codex_entry, argv, where, agent_git)
    council: dict[str, MemberSpec] = {names.CODEX: codex}
    for entry in entries:
        if entry.name != names.CODEX:
            council[entry.name] = gitenv.applied(
                _member(entry, source, workspace, state), agent_git, workspace, state
            )
    for name, problem in problems:
        council.setdefault(name, MemberSpec(name, "unknown", (), "CODEX_FUSION_MEMBERS", error=problem))
    task_launcher = _task_launcher(settings, codex_entry, argv, agent_git)
    return Launched(launcher.plan, launcher.env, where, council, task_launcher)


def _codex_argv(settings: Settings, codex_entry: MemberEntry | None) -> tuple[list[str], str]:
    """Codex's agent command and where it came from; the member's command is checked like
    CODEX_FUSION_ACP_COMMAND (absolute, never the workspace's)."""
    source, state, workspace = settings.source, settings.state, settings.workspace.path
    argv, where = resolve_agent_command(source, state, workspace)
    if codex_entry is not None and codex_entry.command is not None:
        named = {**source, "CODEX_FUSION_ACP_COMMAND": codex_entry.command}
        argv, where = resolve_agent_command(named, state, workspace)[0], "CODEX_FUSION_MEMBERS"
    return argv, where


def _codex(
    settings: Settings,
    codex_entry: MemberEntry | None,
    argv: list[str],
    where: str,
    agent_git: gitenv.AgentGit,
) -> tuple[MemberSpec, Launcher]:
    """Codex as a member running ``argv`` (from ``where``), and its launcher."""
    source, state, workspace, flags = settings.source, settings.state, settings.workspace.path, settings.flags
    extra_env = dict(codex_entry.env) if codex_entry is not None else {}

    def launch_for(launch: adapters.Launch | None = None) -> tuple[boundary.Plan, dict[str, str]]:
        plan, env = _launch(source, argv, flags, state, workspace, launch, command_env=agent_git.env)
        return plan, {**env, **extra_env, **agent_git.env}  # the member's own, on top of the allowlist

    plan, agent_env = launch_for()
    launcher = Launcher(
        plan,
        agent_env,
        replan=launch_for,
        detect=lambda command: adapters.detect(command, source, workspace),
        external_reads=flags.allow_external_reads,
    )
    codex = MemberSpec(
        name=names.CODEX,
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
    return codex, launcher


def _task_launcher(
    settings: Settings,
    codex_entry: MemberEntry | None,
    argv: list[str],
    agent_git: gitenv.AgentGit,
) -> Callable[[Path], Launcher]:
    """Codex's launch for a delegated task in a worktree (``argv``): its profile's roots writable.
    The copy has no .git of its own: its attributes are the workspace's, and so is the lockdown."""
    source, state, flags = settings.source, settings.state, settings.flags
    extra_env = dict(codex_entry.env) if codex_entry is not None else {}

    def task_launcher(worktree: Path) -> Launcher:
        def replan(launch: adapters.Launch | None = None) -> tuple[boundary.Plan, dict[str, str]]:
            plan, env = _launch(
                source, argv, flags, state, worktree, launch, writes=True, command_env=agent_git.env
            )
            return plan, {**env, **extra_env, **agent_git.env}

        plan, env = replan()
        return Launcher(
            plan,
            env,
            replan=replan,
            detect=lambda command: adapters.detect(command, source, worktree),
            external_reads=flags.allow_external_reads,
        )

    return task_launcher


def task_member(config: Config, name: str, worktree: Path) -> MemberSpec:
    """Member ``name`` as it works on a delegated task whose root is ``worktree``.

    Codex: the same launch with its permission profile's workspace roots **writable** — the
    session's root is the worktree — and nothing else (no network); the worktree's own Codex
    configuration is switched off as the workspace's is. Claude and Gemini as configured: they
    are confined by asking, so their edits and commands come to the guardian. Raises
    :class:`ConfigError` when the member cannot be held to its worktree. Blocking (writes the
    shim): call it off the event loop."""
    spec = config.members.get(name)
    if spec is None:
        raise ConfigError(f"No council member {name!r}; configured: {', '.join(config.members)}.")
    if spec.error is not None:
        raise ConfigError(f"The council member {name} cannot start: {spec.error}")
    if spec.kind != names.CODEX:
        if spec.kind in ("claude", "gemini") and spec.boundary_enforced:
            return spec
        raise ConfigError(
            f"{spec.display} cannot take a task: codex-fusion cannot hold it to a worktree "
            f"({spec.boundary_note or 'its agent is not one codex-fusion knows how to confine'})."
        )
    if config.task_launcher is None or not spec.boundary_enforced:
        raise ConfigError(
            "Codex cannot take a task here: its sandbox must run codex-fusion's permission profile to "
            f"write only the task's worktree, and it does not ({spec.boundary_note or 'not planned'})."
        )
    launcher = config.task_launcher(worktree)
    assert isinstance(launcher, Launcher)  # the configuration holds what _task_launcher made
    plan, env = launcher.plan, launcher.env
    if not plan.profile:
        raise ConfigError(f"Codex cannot take a task here: {plan.note or 'its sandbox gets no profile'}")
    return replace(spec, argv=tuple(plan.argv), env=env, mode=env["INITIAL_AGENT_MODE"], launcher=launcher)


def resolve_agent_command(
    env: Mapping[str, str], state: Path | None = None, workspace: Path | None = None
) -> tuple[list[str], str]:
    """The agent argv and where it came from: the env override, ``codex-acp`` on PATH, the pinned
    release installed in the data directory (``installer.py``), or npx. Programs are looked up only
    in absolute ``PATH`` entries outside the workspace (``allowlist.search_path``), and the command
    always starts with an absolute path: a hostile workspace cannot plant the agent."""
    path = allowlist.search_path(env.get("PATH", os.defpath), workspace)
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
    launch: adapters.Launch | None = None,
    *,
    writes: bool = False,
    command_env: Mapping[str, str] | None = None,
) -> tuple[boundary.Plan, dict[str, str]]:
    """The agent's launch with codex-fusion's sandbox profile, project isolation, command environment
    and login store (``boundary.plan``), and its environment; the TypeScript adapter's shim is written
    here. ``launch`` overrides what :func:`adapters.detect` finds from ``argv`` (the handshake's word)."""
    launch = launch or adapters.detect(argv, source, workspace)
    home = allowlist.codex_home(source)

    def make(shim_ok: bool) -> boundary.Plan:
        return boundary.plan(
            source,
            argv,
            launch,
            mode=source.get("CODEX_FUSION_AGENT_MODE", "").strip() or None,
            external_reads=flags.allow_external_reads,
            logged_in=(home / "auth.json").is_file(),
            provider_key=allowlist.provider_key_var(home),
            shim_ok=shim_ok,
            workspace=workspace,
            writes=writes,
            command_env=command_env,
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
    entry: MemberEntry, source: Mapping[str, str], workspace: Path | None, state: Path | None
) -> MemberSpec:
    """A member other than Codex, from the user's entry and its kind's launch plan (``agents/``)."""
    # only when the council has other members
    from codex_fusion.launch.agents import kinds

    wanted = entry
    source_label = "CODEX_FUSION_MEMBERS" if entry.command is not None else "built-in"
    try:
        plan = kinds.plan_member(source, wanted, workspace=workspace, state_dir=state)
        if plan.files and state is not None:
            try:
                kinds.write_files(plan, state)
            except OSError as exc:
                logging.getLogger(__name__).warning("cannot write %s's files: %s", entry.name, exc)
                plan = kinds.plan_member(source, wanted, workspace=workspace, state_dir=None)
    except ConfigError as exc:
        return MemberSpec(
            entry.name, "unknown", tuple(shlex.split(entry.command or "")), source_label, error=str(exc)
        )
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
