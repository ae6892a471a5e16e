"""Git with a hostile repository's programs switched off, and the review gate's workspace snapshots.

The workspace's ``.git/config`` and ``.gitattributes`` can make git run programs (an fsmonitor hook,
external diff drivers, textconv, clean/process filters, hooks, a pager, a lazy fetch): every git call
codex-fusion makes gets :data:`SAFE_ENV` and :data:`SAFE_CONFIG` (in command scope, which wins over
the repository's), and filters are overridden by name (:func:`filter_overrides`). ``diffs/git.py``
runs git with these from the server; this module also runs it from the hook, so it is standard
library only and importable on Python 3.9.

A *snapshot* is the tree object of the workspace as it is now, untracked files included (what
``.gitignore`` excludes is not): ``git add -A`` into a private index of ours (never the repository's
index, whose stat cache it starts from, so only changed files are hashed), then ``git write-tree``.
Blobs land in the repository's object store as ``git stash create`` would leave them: unreachable,
pruned by ``git gc``. Two snapshots that are the same tree mean nothing changed in between.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, keeps `typing` off the hook's start-up path
    from collections.abc import Mapping, Sequence

#: All git gets from our environment: where the user's own (trusted) config is; its PATH is made of
#: the absolute entries outside the workspace only (:func:`git_search`). Nothing else is inherited:
#: not GIT_DIR, GIT_COMMON_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY,
#: GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_CEILING_DIRECTORIES, GIT_EXTERNAL_DIFF, GIT_PAGER,
#: GIT_SSH(_COMMAND), GIT_PROXY_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT, …
#: which would point git at another repository or make it run programs.
INHERITED = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL")

SAFE_ENV = {
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
SAFE_CONFIG = (
    ("core.fsmonitor", "false"),  # the fsmonitor hook runs whenever git reads the index
    # git diff rewrites the index when it finds files whose stat data changed but not their content,
    # GIT_OPTIONAL_LOCKS notwithstanding, which runs the post-index-change hook; a review writes nothing
    ("diff.autoRefreshIndex", "false"),
    ("core.hooksPath", "/dev/null"),  # no hook should run on a read-only diff; none can
    ("core.quotePath", "false"),  # non-ASCII paths stay readable (control characters are still quoted)
    # a directory that is itself a git directory (a bare repository in the workspace, or above it)
    # is never used: its config could name any work tree (git ≥ 2.38; older gits are caught by
    # diffs/layout.py, which wants <top>/.git)
    ("safe.bareRepository", "explicit"),
)

#: What a clean or process filter is set to: empty means no filter, and not required, so the file is
#: compared as it is on disk. Filter names come from config, so each one found is overridden.
FILTER_OFF = (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false"))

GLOBAL_OPTIONS = ("--no-pager", "--literal-pathspecs")  # no pager; `*.py` means the file named so

#: ``git config`` arguments that list the filter names the config defines (it runs nothing itself).
FILTER_QUERY = ("config", "--null", "--name-only", "--get-regexp", r"^filter\.")


def filter_overrides(listing: bytes) -> tuple[tuple[str, str], ...]:
    """Config that switches off every filter named in ``git config`` output (:data:`FILTER_QUERY`)."""
    names = {key.rsplit(".", 1)[0] for key in os.fsdecode(listing).split("\0") if key}
    return tuple(
        (f"{name}.{option}", value)
        for name in sorted(names)
        if name.startswith("filter.")
        for option, value in FILTER_OFF
    )


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def git_search(workspace: str, path: str) -> tuple[str, str] | None:
    """The git to run and the PATH to give it, or None when there is none: only absolute ``path``
    entries whose real path is outside the workspace count, so a workspace cannot supply its own
    ``git`` (an empty or ``.`` entry would find ``./git`` once git runs in the workspace)."""
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
            runnable = (info.st_mode & 0o170000) == 0o100000 and os.access(candidate, os.X_OK)
            # the real path too: a link in an outside directory may lead back into the workspace
            if runnable and not _inside(os.path.realpath(candidate), root):
                return candidate, os.pathsep.join(entries)
    return None


def environment(
    config: Sequence[tuple[str, str]] = SAFE_CONFIG, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of one git call: the inherited basics, the safe settings, ``config``."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(SAFE_ENV)
    env.update(extra or {})
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


class SnapshotError(Exception):
    """A snapshot could not be taken; the message is one line saying why."""


class SnapshotTimeout(SnapshotError):
    """git did not finish within the snapshot's time limit (a huge tree, a slow disk)."""


class _Runner:
    """Blocking git calls in one workspace under one deadline (the hook has no event loop)."""

    def __init__(self, workspace: str, timeout: float) -> None:
        self.workspace = workspace
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.config: tuple[tuple[str, str], ...] = SAFE_CONFIG
        found = git_search(workspace, os.environ.get("PATH", os.defpath))
        if found is None:
            raise SnapshotError("no git in an absolute PATH entry outside the workspace")
        self.git, path = found
        self.extra: dict[str, str] = {}
        self._path = path

    def run(self, *args: str, check: bool = True) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SnapshotTimeout(f"git took longer than {self.timeout:g} s")
        try:
            process = subprocess.Popen(
                [self.git, *GLOBAL_OPTIONS, *args],
                cwd=self.workspace,
                env=environment(self.config, {"PATH": self._path, **self.extra}),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise SnapshotError(f"cannot run git: {exc.strerror or exc}") from None
        try:
            out, err = process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            raise SnapshotTimeout(f"git {args[0]} took longer than {self.timeout:g} s") from None
        finally:
            kill_group(process)
            process.wait()
        if check and process.returncode != 0:
            said = " ".join(err.decode("utf-8", "replace").split())[:200]
            raise SnapshotError(f"git {args[0]} failed (exit {process.returncode}): {said}")
        return out


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a child started with ``start_new_session`` and everything it started (the child alone
    where there are no process groups)."""
    killpg = getattr(os, "killpg", None)
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if killpg is not None:
            killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()


def snapshot(workspace: str, index: str, timeout: float = 10.0) -> str:
    """The tree of ``workspace`` as it is now (tracked and untracked files, not ignored ones), built
    in the private index file ``index`` (absolute; created from the repository's own on first use).
    Raises :class:`SnapshotError`."""
    git = _Runner(workspace, timeout)
    try:
        found = git.run("rev-parse", "--path-format=absolute", "--show-toplevel", "--git-path", "index")
    except SnapshotError as exc:
        if "not a git repository" in str(exc):
            raise SnapshotError("the workspace is not in a git repository") from None
        raise
    top, _, own_index = os.fsdecode(found).strip().partition("\n")
    real_top = os.path.realpath(top)
    real = os.path.realpath(workspace)
    if real != real_top and not real.startswith(real_top.rstrip(os.sep) + os.sep):
        raise SnapshotError(f"git's work tree {top} does not contain the workspace")
    _own_repository(real_top)
    git.config = SAFE_CONFIG + filter_overrides(git.run(*FILTER_QUERY, check=False))
    if not os.path.exists(index):
        _seed(own_index.strip(), index)
    git.extra = {"GIT_INDEX_FILE": index}
    git.run("add", "--all", "--", ".")
    return git.run("write-tree").decode("ascii", "replace").strip()


def _own_repository(top: str) -> None:
    """The repository's git directory is a real directory at ``<top>/.git`` whose objects are its own
    (no gitfile, symlink, ``commondir`` or alternates): a snapshot writes blobs into it, and must not
    write into another repository. ``diffs/layout.py`` checks the same, and more, before a review;
    ``CODEX_FUSION_ALLOW_FOREIGN_GITDIR=1`` accepts a git directory elsewhere, as it does there."""
    if os.environ.get("CODEX_FUSION_ALLOW_FOREIGN_GITDIR", "").strip().lower() in ("1", "true", "yes", "on"):
        return
    gitdir = os.path.join(top, ".git")
    try:
        info = os.lstat(gitdir)
    except OSError:
        raise SnapshotError("the repository has no .git directory of its own") from None
    if (info.st_mode & 0o170000) != 0o040000:
        raise SnapshotError("the repository's .git is not a directory (a gitfile or a symlink)")
    for name in ("commondir", os.path.join("objects", "info", "alternates")):
        if os.path.lexists(os.path.join(gitdir, name)):
            raise SnapshotError(f"the repository's .git has {name}: its objects live elsewhere")


def _seed(own: str, index: str) -> None:
    """Start the private index from the repository's (its stat cache saves hashing every file)."""
    try:
        if (os.lstat(own).st_mode & 0o170000) != 0o100000:
            return  # a FIFO or a device would hang the copy: build ours from nothing
        shutil.copyfile(own, index)
        os.chmod(index, 0o600)
    except OSError:
        pass  # no index yet (a fresh repository): git builds ours from nothing
