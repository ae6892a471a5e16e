"""Running git on a repository that may be hostile: every call with a safe environment and config.

The workspace's ``.git/config`` and ``.gitattributes`` can make git run programs: an fsmonitor hook,
external diff drivers, textconv, clean/process filters, hooks run when git rewrites the index, a
pager, or a lazy fetch in a partial clone (``core.sshCommand``, ``remote.*.uploadpack``, ``ext::``
URLs). :class:`Git` switches all of them off; ``tests/test_diffs.py`` proves it against repositories
that set each one to ``touch <marker>``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream

from ..errors import DiffError
from ..gitsnap import FILTER_QUERY, GLOBAL_OPTIONS, SAFE_CONFIG, SAFE_ENV, environment, filter_overrides
from ..redact import redact

# The settings are shared with the hook's snapshots (gitsnap.py); the same objects, not copies.
_GLOBAL_OPTIONS = GLOBAL_OPTIONS
_SAFE_CONFIG = SAFE_CONFIG
_SAFE_ENV = SAFE_ENV

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
class Git:
    """Runs git in one workspace, every call with the safe environment, bounded by one deadline."""

    cwd: Path
    timeout: float
    deadline: float
    config: tuple[tuple[str, str], ...] = _SAFE_CONFIG

    async def without_filters(self) -> Git:
        """This runner with every clean/smudge/process filter the config defines switched off.

        Git runs the clean filter of a working-tree file whose stat data changed, to compare it; an
        empty command is no filter. ``git config`` itself runs nothing.
        """
        result = await self.run(*FILTER_QUERY, check=False)
        return replace(self, config=self.config + filter_overrides(result.stdout))

    def environment(self) -> dict[str, str]:
        return environment(self.config)

    async def run(
        self, *args: str, sink: Callable[[bytes], None] | None = None, check: bool = True
    ) -> Result:
        """Run ``git <args>``; stdout goes to ``sink`` as it arrives, or into the result.

        Git runs in its own process group, killed whenever we stop waiting (done, timed out or
        cancelled), so nothing it started outlives the call.
        """
        try:
            process = await anyio.open_process(
                ["git", *_GLOBAL_OPTIONS, *args],
                cwd=self.cwd,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise DiffError(
                f"Cannot run git ({exc.strerror or exc}): git is not installed or not on PATH. "
                "Install git, or pass the diff text to review_diff yourself."
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
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    lines.sort(key=lambda line: line.startswith("warning:"))  # stable: each kind keeps its order
    text = " ".join(lines[:4])
    return redact(text if len(text) <= 400 else text[:399] + "…")


def failure(command: str, result: Result) -> DiffError:
    said = f": {result.stderr}" if result.stderr else ""
    return DiffError(f"git {command} failed (exit {result.returncode}){said}. {ADVICE}")
