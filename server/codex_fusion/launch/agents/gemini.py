"""The ``gemini`` member: Gemini CLI over ACP (``gemini --acp``), confined for codex-fusion's session.

Observed with Gemini CLI 0.61.0 (docs/agent-behaviour.md, ADR 0016). Its file tools refuse paths outside
the workspace (real paths: a symlink out is refused too), but its policy engine turns "ask" into "allow"
for shell commands it deems safe (``cat``, ``ls``, ``grep -R`` …), which follow symlinks out of the
workspace, and a folder the user once trusted brings its ``.gemini/`` settings (hooks, MCP servers,
policies) and ``GEMINI.md`` along. For codex-fusion's session only:

- ``GEMINI_CLI_TRUST_WORKSPACE=false`` — the workspace is untrusted whatever the user's
  ``trustedFolders.json`` says: its ``.gemini/`` settings, hooks, MCP servers, policies, extensions,
  ``.gemini/.env`` and ``GEMINI.md`` never apply (and no MCP server starts at all).
- ``--admin-policy <private file>`` — a policy in the admin tier, above the user's and the workspace's:
  every shell command asks (a rule with ``argsPattern`` turns the safe-command heuristic off), the
  read-only file tools are allowed (Gemini confines them itself), the tools that change the mode or start
  subagents are removed, and everything else asks. Gemini ignores it when the machine has its own system
  policies (``/etc/gemini-cli/policies/*.toml``); then the administrator's policy rules.
- ``--approval-mode default``, ``--extensions none``; no ``fs`` capability (Gemini's ``write_file``
  breaks on a client's ``fs/read_text_file`` for a new file).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from codex_fusion.launch.agents.plan import (
    CONFINED,
    NOT_CONFINED,
    Boundary,
    Knob,
    LaunchPlan,
    MemberEntry,
    ModeStep,
    member_env,
)

PACKAGE = "@google/gemini-cli"
TESTED_VERSION = "0.61.0"
AGENT_INFO_NAME = "gemini-cli"
MODE = "default"

#: How Gemini CLI logs in or reaches its model; passed when set.
LOGIN_VARS = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_GCA",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GEMINI_CLI_HOME",
)
#: Set unless the member's env says otherwise: Gemini CLI restarts itself with a larger heap by default,
#: which costs a second Node start-up (3-4 s of 5-9 s to `initialize` on a loaded 2-core machine).
DEFAULT_ENV = {"GEMINI_CLI_NO_RELAUNCH": "true"}
#: Set for every Gemini member; nothing in the member's configuration changes it.
FIXED_ENV = {"GEMINI_CLI_TRUST_WORKSPACE": "false", "NO_BROWSER": "1"}

#: Tools the policy allows without asking: read-only, and confined to the workspace by Gemini itself.
READ_TOOLS = (
    "read_file",
    "read_many_files",
    "list_directory",
    "glob",
    "grep_search",
    "write_todos",
    "update_topic",
    "list_background_processes",
    "read_background_output",
)
#: Tools the policy removes: mode changes and subagents (their own tool calls escape the prompt's turn).
DENIED_TOOLS = ("enter_plan_mode", "exit_plan_mode", "invoke_agent")


def _toml_list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{name}"' for name in names) + "]"


POLICY = f"""# Written by codex-fusion for its own Gemini CLI session (docs/security.md, ADR 0016).
# Safe to delete: codex-fusion writes it again.
# Admin tier: it outranks your ~/.gemini policies and the workspace's.

# Every shell command asks, the "known safe" ones included (an argsPattern turns that heuristic off).
[[rule]]
toolName = "run_shell_command"
argsPattern = ".*"
decision = "ask_user"
priority = 900

# Never: switching the approval mode, or starting subagents.
[[rule]]
toolName = {_toml_list(DENIED_TOOLS)}
decision = "deny"
priority = 900

# Reading inside the workspace (Gemini refuses paths outside it in these tools).
[[rule]]
toolName = {_toml_list(READ_TOOLS)}
decision = "allow"
priority = 800

# Everything else asks: edits, web fetches and searches, skills, MCP and discovered tools.
[[rule]]
toolName = "*"
decision = "ask_user"
priority = 100
"""

NOTE = (
    CONFINED + "Gemini reads inside the workspace on its own (its file tools refuse paths outside it); every "
    "shell command, edit and web access asks (codex-fusion's admin policy). The workspace's .gemini/ "
    "settings, hooks, MCP servers, policies and GEMINI.md do not apply (the folder is untrusted)."
)
NOTE_NO_POLICY = (
    NOT_CONFINED + "Gemini runs shell commands it deems safe (cat, ls, grep -R …) without asking, and they "
    "can read outside the workspace through symlinks: codex-fusion has no private directory to write its "
    "policy in (set CLAUDE_PLUGIN_DATA or HOME). Its file tools stay inside the workspace, and the "
    "workspace's .gemini/ settings do not apply."
)


def policy_path(state_dir: Path) -> Path:
    """Where the policy lives: named by its content, so a changed policy is a new file."""
    digest = hashlib.sha256(POLICY.encode()).hexdigest()[:16]
    return state_dir / "gemini" / f"policy-{digest}.toml"


def plan(
    source: Mapping[str, str],
    member: MemberEntry,
    argv: tuple[str, ...],
    *,
    workspace: Path | None,
    state_dir: Path | None,
) -> LaunchPlan:
    """The launch of a Gemini member. ``argv`` is the resolved command (``--acp`` is added if missing);
    ``state_dir`` is codex-fusion's private directory for the policy file (None: there is none)."""
    args = [*argv, *_missing_flags(argv)]
    widened = _widening_flags(argv)
    files: tuple[tuple[Path, str], ...] = ()
    if state_dir is not None:
        path = policy_path(state_dir)
        args += ["--admin-policy", str(path)]
        files = ((path, POLICY),)
    if member.model and not {"--model", "-m"} & {arg.partition("=")[0] for arg in argv}:
        args += ["--model", member.model]
    env = member_env(source, member, workspace, passed=LOGIN_VARS, defaults=DEFAULT_ENV, fixed=FIXED_ENV)
    return LaunchPlan(
        kind="gemini",
        argv=tuple(args),
        env=env,
        client_capabilities={},  # no fs: Gemini's write_file breaks on the client's reads
        session_meta=None,
        mode=ModeStep(MODE, via="launch"),
        model=Knob("model", member.model, "set_model"),
        effort=Knob("effort", None, None),  # Gemini CLI offers no effort over ACP
        boundary=_boundary(state_dir is not None, widened),
        files=files,
        tested_version=TESTED_VERSION,
    )


def _boundary(policy: bool, widened: list[str]) -> Boundary:
    if widened:
        return Boundary(
            False,
            NOT_CONFINED + f"the member's command carries {' '.join(widened)}, which lets Gemini act "
            "without asking; remove it from the command to confine it.",
        )
    return Boundary(True, NOTE) if policy else Boundary(False, NOTE_NO_POLICY)


def _widening_flags(argv: tuple[str, ...]) -> list[str]:
    """Flags in the user's command that undo the confinement (auto-approval, a trusted workspace)."""
    out: list[str] = []
    for index, arg in enumerate(argv):
        name, _, inline = arg.partition("=")
        if name in ("--yolo", "-y", "--skip-trust"):
            out.append(arg)
        elif name == "--approval-mode":
            value = inline or (argv[index + 1] if index + 1 < len(argv) else "")
            if value != MODE:
                out.append(f"--approval-mode {value}".strip())
    return out


def _missing_flags(argv: tuple[str, ...]) -> list[str]:
    """Codex-fusion's flags that ``argv`` does not already carry (each with its value)."""
    out: list[str] = []
    if "--acp" not in argv and "--experimental-acp" not in argv:
        out.append("--acp")
    present = {arg.partition("=")[0] for arg in argv}
    for flag, value in (("--approval-mode", MODE), ("--extensions", "none")):
        if flag not in present and not (flag == "--extensions" and "-e" in present):
            out += [flag, value]
    return out
