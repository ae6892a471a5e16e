"""Which codex-acp really runs, and whether it got codex-fusion's boundary (ADR 0009).

The launch plan (``boundary.plan``) is made from the agent command's path. A command wrapped in
anything (a shell script, ``env``, ``nix run``, a tap) hides the adapter from it, so after the ACP
handshake codex-fusion looks again, by what the agent says (``agentInfo.name``):

- it says it is codex-acp and the plan agrees: the boundary is read back from the running processes
  (Linux ``/proc``): the Rust adapter's command line carries the overrides, the TypeScript adapter's
  environment carries the shim and the relay's instructions;
- it says it is codex-acp but the plan did not know: the adapter's program is found among the agent's
  processes, and the agent is started again with the plan for it (the same command; the overrides
  appended for Rust, the environment for TypeScript), then read back as above;
- it cannot be given the boundary (its program is not found, a wrapper drops the arguments or the
  environment): the start is refused with what was found and what to do.

The result is a :class:`Confinement`: what is in force for the agent that runs, and how codex-fusion
knows. ``status`` shows it. The TypeScript adapter is checked once more when a session opens: its modes
must offer codex-fusion's profile (a name made for this start), which only the relay's Codex can know.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from codex_fusion.acp.agent import Agent, StartOptions
from codex_fusion.acp.schema import InitializeResult
from codex_fusion.errors import AgentError
from codex_fusion.launch import adapters, boundary
from codex_fusion.text.redact import redact_credentials

#: What each adapter calls itself in ``initialize`` (reference §8.2).
NAMES = {adapters.TS_PACKAGE: "ts", "codex-acp": "rust"}
#: The releases whose configuration loader the end-to-end tests prove honours the overrides.
TESTED = {"ts": "2.", "rust": "0.16."}


@dataclass(frozen=True)
class Confinement:
    """What is in force for the running agent, and how codex-fusion knows."""

    adapter: str  # what the agent said it is: "ts" | "rust" | "unknown"
    agent: str  # its name and version, as it said them
    profile: str | None  # codex-fusion's permission profile, when Codex got it
    isolated: bool  # the workspace's own Codex configuration is switched off
    evidence: str  # how that was verified
    note: str | None  # for Claude when the boundary is not (fully) enforced
    relaunched: bool = False  # started a second time once the handshake said which adapter it is
    mode: str | None = None  # the session mode its plan asks for (``INITIAL_AGENT_MODE``)

    @property
    def enforced(self) -> bool:
        return self.profile is not None and self.isolated and self.note is None


@dataclass(frozen=True)
class Relaunch:
    """Start the agent again with this plan."""

    plan: boundary.Plan
    env: dict[str, str]


@dataclass(frozen=True)
class Proc:
    """One process below the agent's reaper: its program, command line and environment."""

    exe: str
    argv: tuple[str, ...]
    env: Mapping[str, str]


#: Lists the processes below a pid (the default reads ``/proc``; tests pass their own).
Inspect = Callable[[int], list[Proc] | None]


def said(info: InitializeResult) -> tuple[str, str]:
    """Which adapter the handshake names, and its name and version as said."""
    agent = info.agent_info
    if agent is None:
        return "unknown", "an agent that gave no name"
    version = f" {agent.version}" if agent.version else ""
    return NAMES.get(agent.name, "unknown"), f"{agent.name}{version}"


def processes_below(pid: int) -> list[Proc] | None:
    """Every process below ``pid``, from ``/proc``; None where there is no ``/proc`` to read."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: list[Proc] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        todo.extend(children.get(child, []))
        try:
            exe = os.readlink(proc / str(child) / "exe")
            argv = (proc / str(child) / "cmdline").read_bytes().split(b"\0")[:-1]
            raw = (proc / str(child) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        env = dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)
        found.append(Proc(exe, tuple(a.decode(errors="replace") for a in argv), env))
    return found


def _carries(argv: Sequence[str], args: Sequence[str]) -> bool:
    """``args`` appear in ``argv`` in order, together."""
    n = len(args)
    return n == 0 or any(tuple(argv[i : i + n]) == tuple(args) for i in range(len(argv) - n + 1))


@dataclass(frozen=True)
class Launcher:
    """The agent's launch plan and what codex-fusion does once the agent has said what it is."""

    plan: boundary.Plan
    env: dict[str, str]
    #: The plan for a command whose adapter the handshake named (``planning._launch``).
    replan: Callable[[adapters.Launch], tuple[boundary.Plan, dict[str, str]]]
    #: What ``adapters.detect`` makes of a command line (with the server's environment).
    detect: Callable[[Sequence[str]], adapters.Launch]
    external_reads: bool = False
    inspect: Inspect = processes_below

    async def check(self, agent: Agent) -> StartOptions | None:
        """``run_agent``'s look after the first handshake: None (the agent's ``confinement`` is set), or
        the options to start it again with."""
        return await self._check(agent, self.plan, self.env, relaunched=False)

    async def _check(
        self, agent: Agent, plan: boundary.Plan, env: dict[str, str], *, relaunched: bool
    ) -> StartOptions | None:
        verdict = await self.examine(agent.info, agent.process.pid, plan, env, relaunched=relaunched)
        if isinstance(verdict, Relaunch):
            again = functools.partial(self._check, plan=verdict.plan, env=verdict.env, relaunched=True)
            return dataclasses.replace(agent.options, argv=verdict.plan.argv, env=verdict.env, check=again)
        agent.confinement = verdict
        return None

    async def examine(
        self,
        info: InitializeResult,
        pid: int,
        plan: boundary.Plan | None = None,
        env: Mapping[str, str] | None = None,
        *,
        relaunched: bool = False,
    ) -> Confinement | Relaunch:
        """What the started agent (``pid``, the reaper's) is and has, or how to start it again.

        Raises AgentError when it says it is codex-acp but cannot be given the boundary."""
        plan = plan or self.plan
        env = self.env if env is None else env
        adapter, agent = said(info)
        planned = plan.launch.adapter
        if adapter == "unknown":
            note = plan.note
            if planned != "unknown":
                note = (
                    f"Codex can read outside the workspace with this agent: `{_command(plan)}` looks like "
                    f"codex-acp, but it says it is {agent}, so codex-fusion cannot tell what boundary it has."
                )
            why = "the agent does not say it is codex-acp"
            return Confinement("unknown", agent, None, False, why, note, mode=env.get("INITIAL_AGENT_MODE"))
        if adapter != planned:
            if relaunched:
                raise self._refuse(plan, agent, "it said something else the second time it started")
            found = await anyio.to_thread.run_sync(self._find, pid, adapter)
            if found is None:
                raise self._refuse(plan, agent, "its program cannot be found among the processes it started")
            again, again_env = self.replan(found)
            return Relaunch(again, again_env)
        read_back = functools.partial(self._read_back, pid, plan, env, adapter)
        evidence: str | None = await anyio.to_thread.run_sync(read_back)
        if evidence is None:
            what = "its command line" if adapter == "rust" else "its environment"
            raise self._refuse(
                plan, agent, f"the running adapter did not get codex-fusion's settings in {what}"
            )
        tested = TESTED[adapter]
        version = (info.agent_info.version or "") if info.agent_info else ""
        if plan.isolated and not version.startswith(tested):
            evidence += (
                f"; codex-fusion's tests cover codex-acp {tested}x, this one is {version or 'unversioned'}"
            )
        return Confinement(
            adapter,
            agent,
            plan.profile_name,
            plan.isolated,
            evidence,
            plan.note,
            relaunched=relaunched,
            mode=env.get("INITIAL_AGENT_MODE"),
        )

    def _find(self, pid: int, adapter: str) -> adapters.Launch | None:
        for proc in self.inspect(pid) or []:
            launch = self.detect(proc.argv)
            if launch.adapter == adapter:
                return launch
        return None

    def _read_back(self, pid: int, plan: boundary.Plan, env: Mapping[str, str], adapter: str) -> str | None:
        """How the running adapter shows it has the plan's settings; None when it does not."""
        if not plan.overrides:
            return "the plan gives this adapter no overrides"
        found = self.inspect(pid)
        if found is None:  # no /proc: only a command codex-fusion recognised by its path gets here
            return "given on the adapter's own command line (not read back: no /proc here)"
        if adapter == "rust":
            binaries = [p for p in found if Path(p.exe).name == "codex-acp"]
            if any(_carries(p.argv, plan.overrides) for p in binaries):
                return "read back from the running codex-acp's command line"
            return None
        wanted = {name: env.get(name) for name in (boundary.RELAY_SPEC, "CODEX_PATH")}
        for proc in found:
            if self.detect(proc.argv).adapter != "ts":
                continue
            if all(proc.env.get(name) == value for name, value in wanted.items()):
                return (
                    "read back from the running adapter's environment; its Codex starts behind the relay, "
                    "which checks the app-server's own configuration before each session"
                )
        return None

    def _refuse(self, plan: boundary.Plan, agent: str, why: str) -> AgentError:
        agent = redact_credentials(agent)  # what the agent said of itself
        return AgentError(
            f"codex-fusion refused to start the agent: `{_command(plan)}` says it is {agent}, but {why}, so "
            "codex-fusion cannot give Codex its permission profile or keep the workspace's own Codex "
            "configuration out. Set CODEX_FUSION_ACP_COMMAND to the codex-acp program itself (a wrapper "
            "must pass its arguments and environment through), or unset it to use the one codex-fusion "
            "installs."
        )


def _command(plan: boundary.Plan) -> str:
    extra = len(plan.overrides) if plan.launch.adapter == "rust" else 0
    return shlex.join(plan.argv[: len(plan.argv) - extra] if extra else plan.argv)
