"""The repository's git configuration, switched off for every git an agent starts (ADR 0023).

An agent's own helpers (codex-acp's ``git status``, Claude's, the commands its model runs) run git in
the workspace with the environment codex-fusion gives the agent. git reads ``GIT_CONFIG_COUNT`` /
``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n`` in command scope, above the repository's own
``.git/config``, so each setting of the repository's that would make git run a program is set again
there: to the user's own value (system or global scope) when they have one, else to a value that runs
nothing. Keys whose names come from the repository (filter, diff and merge drivers) are found by
reading its config once, with git locked down (:func:`read_config`). An ``include`` or ``includeIf``
in the repository's config cannot be undone this way (its file can change after we read it), so it is
refused (:attr:`Lockdown.refused`). Some settings git takes from the environment over any config
(:data:`PROGRAM_ENV`). Standard library only, like the rest of ``hookside``.
"""

from __future__ import annotations

import os
import re
import subprocess

from codex_fusion.hookside import gitsnap

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Iterable, Sequence

#: Scopes the repository writes (an included file has the scope of the file that includes it).
REPOSITORY_SCOPES = ("local", "worktree")
USER_SCOPES = ("system", "global")

#: Environment git prefers to any config: no pager, editor or password program; no transport at all
#: (a fetch would run the repository's ssh command, proxy, upload-pack or remote helper).
PROGRAM_ENV = {
    "GIT_PAGER": "cat",  # beats core.pager and pager.<command>; "cat" means no pager
    "GIT_EDITOR": ":",  # beats core.editor; ":" means no editor
    "GIT_SEQUENCE_EDITOR": ":",  # beats sequence.editor
    "GIT_ASKPASS": "",  # beats core.askPass and SSH_ASKPASS (an empty one asks nobody)
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ALLOW_PROTOCOL": "",  # beats protocol.*.allow: no transport, so no ssh, proxy or helper
    "GIT_NO_LAZY_FETCH": "1",
}

#: An external diff that is git's own: what a repository's ``diff.<driver>.command`` or
#: ``diff.external`` is replaced with (git passes ``path old-file … new-file …``).
OWN_DIFF = 'f() { git diff --no-index --no-ext-diff --no-textconv -- "$2" "$5"; [ $? -le 1 ]; }; f'
#: A merge driver that is git's own three-way merge (``%A`` is the result).
OWN_MERGE = "git merge-file --marker-size=%L %A %O %B"

#: Settings set in command scope always: hooks (``.git/hooks`` is the repository's too) and fsmonitor.
#: A directory shaped like a git directory inside the workspace is never used as one (its config
#: could name any program): git ≥ 2.38 uses a bare repository only when told to.
#: Submodules' work trees are not looked into (their own config names drivers we cannot know; git
#: passes our settings on to the git it runs there, but cannot override a name it has not seen).
ALWAYS = (
    ("core.hookspath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("safe.barerepository", "explicit"),
    ("diff.ignoresubmodules", "dirty"),
)

#: Fixed-name settings that run a program (or make git run one), with what runs nothing.
PROGRAM_KEYS = {
    "core.sshcommand": "ssh",
    "core.gitproxy": "",
    "core.askpass": "",
    "core.pager": "cat",
    "core.editor": ":",
    "sequence.editor": ":",
    "core.alternaterefscommand": "",
    "diff.external": OWN_DIFF,
    "gpg.program": "gpg",
    "gpg.openpgp.program": "gpg",
    "gpg.x509.program": "gpgsm",
    "gpg.ssh.program": "ssh-keygen",
    "gpg.ssh.defaultkeycommand": "",
    "log.showsignature": "false",  # git log would run the gpg program on every signed commit
    "commit.gpgsign": "false",
    "tag.gpgsign": "false",
    "tag.forcesignannotated": "false",
}

#: Settings per name, found in the repository's config: ``section.<name>.key`` → what runs nothing.
DRIVER_KEYS = {
    "filter": {"clean": "", "smudge": "", "process": "", "required": "false"},
    "diff": {"command": OWN_DIFF, "textconv": "cat"},
    "merge": {"driver": OWN_MERGE},
    "remote": {"uploadpack": "git-upload-pack", "receivepack": "git-receive-pack", "vcs": ""},
    "submodule": {"update": "checkout", "ignore": "dirty"},  # .gitmodules' ignore beats diff.ignoreSubmodules
}
_CREDENTIAL = re.compile(r"credential(\..*)?\.helper")
_INCLUDE = re.compile(r"include(if\..*)?\.path")

#: ``git config`` arguments that list every setting with its scope, included files followed.
LIST_QUERY = ("config", "--list", "--show-scope", "--includes", "--null")


class Lockdown:
    """What a repository's config needs: the command-scope settings, and the include keys refused."""

    def __init__(self, config: Sequence[tuple[str, str]], refused: Sequence[str]) -> None:
        self.config = tuple(config)
        self.refused = tuple(refused)

    def environment(self) -> dict[str, str]:
        """The variables to give an agent (and so every git it starts)."""
        env = dict(PROGRAM_ENV)
        env["GIT_CONFIG_COUNT"] = str(len(self.config))
        for index, (key, value) in enumerate(self.config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def refusal(self, workspace: str) -> str | None:
        """One sentence naming the refused keys and what to do, or None."""
        if not self.refused:
            return None
        keys = ", ".join(sorted(set(self.refused)))
        return (
            f"the repository's git config in {workspace} includes another file ({keys}), whose settings "
            "could make the agents' git run its programs after codex-fusion checked them; copy what you need "
            "from that file into .git/config and remove the include, then restart"
        )


def parse(listing: bytes) -> list[tuple[str, str, str | None]]:
    """``(scope, key, value)`` from :data:`LIST_QUERY` output; the key as git prints it."""
    fields = os.fsdecode(listing).split("\0")
    entries: list[tuple[str, str, str | None]] = []
    for scope, item in zip(fields[0::2], fields[1::2], strict=False):
        key, newline, value = item.partition("\n")
        entries.append((scope, key, value if newline else None))
    return entries


def _driver(key: str) -> tuple[str, str, str] | None:
    section, _, rest = key.partition(".")
    name, dot, option = rest.rpartition(".")
    if not dot or not name or section.lower() not in DRIVER_KEYS:
        return None
    return section.lower(), name, option.lower()


def lockdown(entries: Iterable[tuple[str, str, str | None]], submodules: Iterable[str] = ()) -> Lockdown:
    """The command-scope settings that switch off every program the repository's config names;
    ``submodules`` are the names ``.gitmodules`` gives (:func:`submodule_names`)."""
    users: dict[str, str] = {}
    drivers: set[tuple[str, str]] = {("submodule", name) for name in submodules}
    fixed: set[str] = set()
    credential = False
    refused: list[str] = []
    for scope, key, value in entries:
        lower = key.lower()
        if scope in USER_SCOPES:
            if value is not None:
                users[lower] = value
            continue
        if scope not in REPOSITORY_SCOPES:
            continue
        found = _driver(key)
        if found is not None and found[2] in DRIVER_KEYS[found[0]]:
            drivers.add((found[0], found[1]))
        elif lower in PROGRAM_KEYS:
            fixed.add(lower)
        elif _CREDENTIAL.fullmatch(lower):
            credential = True
        elif _INCLUDE.fullmatch(lower):
            refused.append(key)
    config = [(key, users.get(key, value)) for key, value in ALWAYS]
    config += [(key, users.get(key, PROGRAM_KEYS[key])) for key in sorted(fixed)]
    for section, name in sorted(drivers):
        for option, value in DRIVER_KEYS[section].items():
            full = f"{section}.{name}.{option}"
            config.append((full, users.get(full.lower(), value)))
    if credential:
        config.append(("credential.helper", ""))  # an empty helper empties the list so far
    return Lockdown(config, refused)


#: ``git config`` arguments that list the submodule settings of the work tree's ``.gitmodules``.
GITMODULES_QUERY = (
    "config",
    "--file",
    ".gitmodules",
    "--null",
    "--name-only",
    "--get-regexp",
    r"^submodule\.",
)


#: ``git config`` arguments that list one config file (a submodule's), included files followed.
FILE_QUERY = ("config", "--includes", "--null", "--list", "--file")
#: At most this many submodule config files are read (each one git call).
MAX_SUBMODULE_CONFIGS = 64


def submodule_configs(common_dir: str) -> list[str]:
    """The config files of the submodules git keeps in ``<common dir>/modules`` (nested ones too),
    never following a symlink; at most :data:`MAX_SUBMODULE_CONFIGS`."""
    found: list[str] = []
    for root, dirs, files in os.walk(os.path.join(common_dir, "modules"), followlinks=False):
        if "config" in files and os.path.isfile(os.path.join(root, "config")):
            found.append(os.path.join(root, "config"))
        dirs.sort()
        if len(found) >= MAX_SUBMODULE_CONFIGS:
            break
    return found


def parse_file(listing: bytes, scope: str = "local") -> list[tuple[str, str, str | None]]:
    """:func:`parse` for :data:`FILE_QUERY` output (no scopes): every entry in ``scope``."""
    entries: list[tuple[str, str, str | None]] = []
    for item in os.fsdecode(listing).split("\0"):
        if item:
            key, newline, value = item.partition("\n")
            entries.append((scope, key, value if newline else None))
    return entries


def submodule_names(listing: bytes) -> list[str]:
    """The submodule names in :data:`GITMODULES_QUERY` output."""
    keys = [key for key in os.fsdecode(listing).split("\0") if key]
    return sorted(
        {found[1] for key in keys if (found := _driver(key)) is not None and found[0] == "submodule"}
    )


def read_config(workspace: str, timeout: float = 10.0) -> bytes:
    """The settings git sees in ``workspace`` (:data:`LIST_QUERY`), read with git locked down (no
    program runs; ``git config`` runs none anyway). Empty when there is no git or no repository.
    Raises ``subprocess.TimeoutExpired`` or OSError."""
    return run_locked(workspace, LIST_QUERY, timeout, system=True)


def run_locked(workspace: str, args: Sequence[str], timeout: float = 10.0, *, system: bool = False) -> bytes:
    """``git args`` in ``workspace`` with git locked down (``gitsnap``'s environment; the system-wide
    config too when ``system``): its output, empty when there is no git or it fails. Raises
    ``subprocess.TimeoutExpired`` or OSError."""
    found = gitsnap.git_search(workspace, os.environ.get("PATH", os.defpath))
    if found is None:
        return b""
    program, path = found
    env = gitsnap.environment(gitsnap.SAFE_CONFIG, {"PATH": path})
    if system:
        env.pop("GIT_CONFIG_NOSYSTEM", None)  # the user's system-wide values are theirs to keep
    process = subprocess.Popen(
        [program, *gitsnap.GLOBAL_OPTIONS, *args],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        gitsnap.kill_group(process)
        process.wait()
    return out if process.returncode == 0 else b""
