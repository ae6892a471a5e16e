"""Running git on a repository that may be hostile: every call with a safe environment and config.

The workspace's ``.git/config`` and ``.gitattributes`` can make git run programs: an fsmonitor hook,
external diff drivers, textconv, clean/process filters, hooks run when git rewrites the index, a
pager, or a lazy fetch in a partial clone (``core.sshCommand``, ``core.gitProxy``,
``remote.*.uploadpack``, ``ext::`` URLs, remote helpers). :class:`Git` switches all of them off;
``tests/test_diffs.py`` proves it against repositories that set each one to ``touch <marker>``.

Which git runs is fixed too: the first ``git`` in an absolute ``PATH`` entry outside the workspace
(:func:`find_git`), never ``./git`` through an empty or relative entry, and git itself gets only
those entries as its ``PATH``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream

from ..errors import DiffError
from ..redact import redact
from .names import unhidden

#: All git gets from our environment: where the user's own (trusted) config is, and PATH (only its
#: absolute entries outside the workspace, see :func:`find_git`). Nothing else is inherited: not
#: GIT_DIR, GIT_COMMON_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY,
#: GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_CEILING_DIRECTORIES, GIT_EXTERNAL_DIFF, GIT_PAGER,
#: GIT_SSH(_COMMAND), GIT_PROXY_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT, …
#: which would point git at another repository or make it run programs.
_INHERITED = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL")

_SAFE_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",  # /etc/gitconfig is not needed to read a diff
    "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
    "GIT_OPTIONAL_LOCKS": "0",  # no opportunistic index refresh written back (git status and friends)
    # No transport at all, whatever protocol.*.allow says: a lazy fetch in a partial clone would run
    # core.sshCommand, remote.*.uploadpack, an ext:: command or a git-remote-* helper.
    "GIT_ALLOW_PROTOCOL": "",
    "GIT_NO_LAZY_FETCH": "1",  # and do not even try to fetch a missing object (git ≥ 2.39.4)
    "GIT_NO_REPLACE_OBJECTS": "1",  # show the objects as stored, not what refs/replace/ substitutes
    # nor the history info/grafts makes up (a path that cannot exist: git reads no grafts, silently)
    "GIT_GRAFT_FILE": "/dev/null/no-grafts",
    "LC_ALL": "C",  # git's messages in English: we recognise some and quote them in errors
}

#: Config in command scope (GIT_CONFIG_COUNT), which wins over the repository's own.
_SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),  # the fsmonitor hook runs whenever git reads the index
    # git diff rewrites the index when it finds files whose stat data changed but not their content,
    # GIT_OPTIONAL_LOCKS notwithstanding, which runs the post-index-change hook; a review writes nothing
    ("diff.autoRefreshIndex", "false"),
    ("core.hooksPath", "/dev/null"),  # no hook should run on a read-only diff; none can
    ("core.quotePath", "false"),  # non-ASCII paths stay readable (control characters are still quoted)
    # a directory that is itself a git directory (a bare repository in the workspace, or above it)
    # is never used: its config could name any work tree (git ≥ 2.38; older gits are caught by
    # layout.py, which wants <top>/.git)
    ("safe.bareRepository", "explicit"),
)

#: Settings of the repository's own config that make git open a file anywhere (a FIFO would hang
#: it); when the repository sets one, it is set to /dev/null. The user's own setting, in their
#: global config, is already overridden by the repository's, so nothing of theirs is lost.
_REPOSITORY_FILES = ("core.attributesfile", "core.excludesfile")

#: Config scopes the repository itself writes (an included file has the scope of its includer).
REPOSITORY_SCOPES = ("local", "worktree")

#: What a clean or process filter is set to: empty means no filter, and not required, so the file is
#: compared as it is on disk. Filter names come from config, so each one found is overridden.
_FILTER_OFF = (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false"))

_GLOBAL_OPTIONS = ("--no-pager", "--literal-pathspecs")  # no pager; `*.py` means the file named so

DIFF_OPTIONS = (
    "--no-ext-diff",  # diff.external, diff.<driver>.command, GIT_EXTERNAL_DIFF
    "--no-textconv",  # diff.<driver>.textconv
    "--ignore-submodules=dirty",  # finding whether a submodule is dirty runs git in it, under its config
    "--submodule=short",  # diff.submodule=log|diff would run git in the submodule too
    "-O/dev/null",  # diff.orderFile could name a FIFO
    "--no-color",
    "--relative",  # a workspace below the repository's top: its own changes, paths relative to it
    "-M",  # renames shown as renames
    "--src-prefix=a/",  # the headers we parse, whatever diff.noprefix or diff.mnemonicPrefix say
    "--dst-prefix=b/",
)

ADVICE = "Pass the diff text to review_diff yourself, or fix the repository and try again."


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: str


@dataclass(frozen=True)
class ConfigEntry:
    """One setting as ``git config --list --show-scope`` reports it (the key in git's lower case)."""

    scope: str  # system, global, local, worktree, command
    key: str
    value: str | None  # None for a key given without ``=``


@dataclass(frozen=True)
class Git:
    """Runs git in one workspace, every call with the safe environment, bounded by one deadline."""

    cwd: Path
    timeout: float
    deadline: float
    program: str = "git"  # an absolute path from find_git
    search_path: str = ""  # PATH for git itself: absolute entries outside the workspace
    config: tuple[tuple[str, str], ...] = _SAFE_CONFIG

    @classmethod
    async def open(cls, workspace: Path, timeout: float) -> Git:
        """A runner for ``workspace`` using the git :func:`find_git` finds; the deadline starts now."""
        deadline = anyio.current_time() + timeout
        path = os.environ.get("PATH", os.defpath)
        program, search_path = await anyio.to_thread.run_sync(find_git, workspace, path)
        return cls(workspace, timeout, deadline, program, search_path)

    async def read_config(self) -> tuple[ConfigEntry, ...]:
        """Every setting git sees here, with its scope (``git config`` itself runs nothing)."""
        result = await self.run("config", "--list", "--show-scope", "--null")
        fields = os.fsdecode(result.stdout).split("\0")
        entries = []
        for scope, item in zip(fields[0::2], fields[1::2], strict=False):
            key, newline, value = item.partition("\n")
            entries.append(ConfigEntry(scope, key.lower(), value if newline else None))
        return tuple(entries)

    def locked_down(self, settings: Sequence[ConfigEntry]) -> Git:
        """This runner with the programs and files ``settings`` name switched off: every
        clean/smudge/process filter defined (in any scope: the user's own git-lfs would run on the
        repository's files too), and the files of :data:`_REPOSITORY_FILES` the repository sets.

        Git runs the clean filter of a working-tree file whose stat data changed, to compare it; an
        empty command is no filter.
        """
        filters = {entry.key.rsplit(".", 1)[0] for entry in settings if entry.key.startswith("filter.")}
        extra = [(f"{name}.{option}", value) for name in sorted(filters) for option, value in _FILTER_OFF]
        files = {
            entry.key
            for entry in settings
            if entry.scope in REPOSITORY_SCOPES and entry.key in _REPOSITORY_FILES
        }
        extra += [(key, "/dev/null") for key in sorted(files)]
        return replace(self, config=self.config + tuple(extra))

    def environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env["PATH"] = self.search_path
        env.update(_SAFE_ENV)
        env["GIT_CONFIG_COUNT"] = str(len(self.config))
        for index, (key, value) in enumerate(self.config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    async def run(
        self, *args: str, sink: Callable[[bytes], None] | None = None, check: bool = True
    ) -> Result:
        """Run ``git <args>``; stdout goes to ``sink`` as it arrives, or into the result.

        Git runs in its own process group, killed whenever we stop waiting (done, timed out or
        cancelled), so nothing it started outlives the call.
        """
        try:
            process = await anyio.open_process(
                [self.program, *_GLOBAL_OPTIONS, *args],
                cwd=self.cwd,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise DiffError(
                f"Cannot run {self.program} ({exc.strerror or exc}). Check the git installation, or "
                "pass the diff text to review_diff yourself."
            ) from None
        stdout, stderr = bytearray(), bytearray()
        try:
            with anyio.CancelScope(deadline=self.deadline) as scope:
                assert process.stdout is not None
                assert process.stderr is not None
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_drain, process.stderr, _bounded(stderr, 16 * 1024))
                    await _drain(process.stdout, sink or stdout.extend)
                await process.wait()
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await process.aclose()
        if scope.cancelled_caught:
            raise DiffError(
                f"git {args[0]} did not finish within {self.timeout:g} s: the repository or the change "
                "may be very large. Pass `paths` to narrow the review, or pass the diff text yourself."
            )
        code = process.returncode if process.returncode is not None else -1
        result = Result(code, bytes(stdout), _short(bytes(stderr)))
        if check and result.returncode != 0:
            raise failure(args[0], result)
        return result


def find_git(workspace: Path, path: str) -> tuple[str, str]:
    """The git to run, and the PATH to give it: only absolute ``path`` entries whose real path is
    outside the workspace count, so a workspace cannot supply its own ``git`` (an empty or ``.``
    entry would find ``./git`` once git runs in the workspace). Blocking: call it in a thread."""
    root = os.path.realpath(workspace)
    entries: list[str] = []
    for entry in path.split(os.pathsep):
        outside = entry and os.path.isabs(entry) and not _inside(os.path.realpath(entry), root)
        if outside and entry not in entries:
            entries.append(entry)
    for entry in entries:
        candidate = os.path.join(entry, "git")
        with contextlib.suppress(OSError):
            info = os.stat(candidate)
            runnable = stat.S_ISREG(info.st_mode) and os.access(candidate, os.X_OK)
            # the real path too: a link in an outside directory may lead back into the workspace
            if runnable and not _inside(os.path.realpath(candidate), root):
                return candidate, os.pathsep.join(entries)
    raise DiffError(
        "Cannot run git: git is not installed or not on PATH — no `git` in an absolute PATH entry "
        "outside the workspace (empty, relative and in-workspace entries are skipped, so the "
        "repository cannot supply its own git). Install git, or pass the diff text to review_diff "
        "yourself."
    )


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


async def _drain(stream: ByteReceiveStream, feed: Callable[[bytes], object]) -> None:
    async for chunk in stream:
        feed(chunk)


def _bounded(buffer: bytearray, limit: int) -> Callable[[bytes], None]:
    """A feed that keeps the first ``limit`` bytes: git's first lines say what went wrong."""

    def feed(chunk: bytes) -> None:
        buffer.extend(chunk[: max(0, limit - len(buffer))])

    return feed


def _short(stderr: bytes) -> str:
    """Git's message in one short line, errors before warnings, secrets redacted."""
    decoded = stderr.decode("utf-8", "surrogateescape")
    lines = [unhidden(line.strip()) for line in decoded.splitlines() if line.strip()]
    lines.sort(key=lambda line: line.startswith("warning:"))  # stable: each kind keeps its order
    text = " ".join(lines[:4])
    return redact(text if len(text) <= 400 else text[:399] + "…")


def failure(command: str, result: Result) -> DiffError:
    said = f": {result.stderr}" if result.stderr else ""
    return DiffError(f"git {command} failed (exit {result.returncode}){said}. {ADVICE}")
