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
import select
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream, Process

from codex_fusion.errors import DiffError
from codex_fusion.hookside.gitsnap import (
    FILTER_OFF,
    GLOBAL_OPTIONS,
    SAFE_CONFIG,
    environment,
    git_search,
)
from codex_fusion.review.diffs.names import unhidden
from codex_fusion.text.redact import redact

#: The locked-down settings every git call here runs with (``gitsnap.py``'s: the hook's snapshots run
#: git the same way). All git gets from our environment is where the user's own (trusted) config is,
#: and PATH (only its absolute entries outside the workspace, see :func:`find_git`).
_SAFE_CONFIG = SAFE_CONFIG
_GLOBAL_OPTIONS = GLOBAL_OPTIONS

#: Settings of the repository's own config that make git open a file anywhere (a FIFO would hang
#: it); when the repository sets one, it is set to /dev/null. The user's own setting, in their
#: global config, is already overridden by the repository's, so nothing of theirs is lost.
_REPOSITORY_FILES = ("core.attributesfile", "core.excludesfile")

#: Config scopes the repository itself writes (an included file has the scope of its includer).
REPOSITORY_SCOPES = ("local", "worktree")

_FILTER_OFF = FILTER_OFF

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
        return environment(self.config, {"PATH": self.search_path})

    async def run(
        self,
        *args: str,
        sink: Callable[[bytes], None] | None = None,
        check: bool = True,
        input: bytes | None = None,
    ) -> Result:
        """Run ``git <args>``; stdout goes to ``sink`` as it arrives, or into the result; ``input``,
        when given, is its standard input.

        A ``sink`` is called in a worker thread, which reads git's output from a pipe of our own in
        1 MiB steps: the event loop stays free, and a large diff costs a fraction of what reading it
        through the loop's pipe transport does (ADR 0030). Git runs in its own process group, killed
        whenever we stop waiting (done, timed out or cancelled), so nothing it started outlives the
        call, and the reading thread then ends at the pipe's end.
        """
        reader, writer = os.pipe() if sink is not None else (None, subprocess.PIPE)
        try:
            process = await self._spawn(args, writer, input is not None)
        except BaseException:
            if reader is not None:
                os.close(reader)
            raise
        finally:
            if reader is not None:
                os.close(writer)  # git holds the write end now: its exit is the pipe's end
        stdout, stderr = bytearray(), bytearray()
        try:
            with anyio.CancelScope(deadline=self.deadline) as scope:
                assert process.stderr is not None
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_drain, process.stderr, _bounded(stderr, 16 * 1024))
                    if input is not None:
                        tg.start_soon(_feed, process, input)
                    if reader is None:
                        assert process.stdout is not None
                        await _drain(process.stdout, stdout.extend)
                    else:
                        assert sink is not None
                        await _pumped(reader, sink, process.pid)
                await process.wait()
        finally:
            if reader is not None:
                os.close(reader)
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

    async def _spawn(self, args: Sequence[str], stdout: int, stdin: bool) -> Process:
        try:
            return await anyio.open_process(
                [self.program, *_GLOBAL_OPTIONS, *args],
                cwd=self.cwd,
                env=self.environment(),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise DiffError(
                f"Cannot run {self.program} ({exc.strerror or exc}). Check the git installation, or "
                "pass the diff text to review_diff yourself."
            ) from None


#: How much the reading thread asks of the pipe at once, and the pipe's size where Linux lets us set
#: it (the default is 64 KiB): git writes ahead while the thread parses, and wakes it less often.
_READ_STEP = 1 << 20
_PIPE_SIZE = 1 << 20


async def _pumped(reader: int, sink: Callable[[bytes], None], pgid: int) -> None:
    """Git's output from ``reader`` to ``sink``, in a worker thread. The thread cannot be cancelled,
    so a cancellation (the deadline, or the caller's) kills git's group and wakes the thread through
    a pipe of its own: it returns even if something outside the group still holds git's output."""
    finished = False
    wake_reader, wake_writer = os.pipe()

    async def stop_when_cancelled() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            if not finished:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                os.write(wake_writer, b"x")

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_cancelled)
            try:
                await anyio.to_thread.run_sync(_pump, reader, sink, wake_reader)
            finally:
                finished = True
                tg.cancel_scope.cancel()
    finally:
        os.close(wake_reader)
        os.close(wake_writer)
    await anyio.lowlevel.checkpoint_if_cancelled()  # the thread ended because git was stopped: say so


def _pump(reader: int, sink: Callable[[bytes], None], wake: int) -> None:
    """Blocking: read until the pipe's end, or until ``wake`` is readable. Runs in a worker thread."""
    try:
        import fcntl

        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):  # not Linux, or over the system's limit: as it is
        pass
    poller = select.poll()
    poller.register(reader, select.POLLIN)
    poller.register(wake, select.POLLIN)
    while True:
        if any(fd == wake for fd, _ in poller.poll()):
            return
        chunk = os.read(reader, _READ_STEP)
        if not chunk:
            return
        sink(chunk)


async def _feed(process: Process, data: bytes) -> None:
    assert process.stdin is not None
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        for start in range(0, len(data), 1 << 16):
            await process.stdin.send(data[start : start + (1 << 16)])
    await process.stdin.aclose()


def find_git(workspace: Path, path: str) -> tuple[str, str]:
    """The git to run, and the PATH to give it (``gitsnap.git_search``: never the workspace's own).
    Blocking: call it in a thread."""
    found = git_search(str(workspace), path)
    if found is None:
        raise DiffError(
            "Cannot run git: git is not installed or not on PATH — no `git` in an absolute PATH entry "
            "outside the workspace (empty, relative and in-workspace entries are skipped, so the "
            "repository cannot supply its own git). Install git, or pass the diff text to review_diff "
            "yourself."
        )
    return found


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
