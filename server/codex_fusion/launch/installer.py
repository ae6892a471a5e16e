"""The codex-acp codex-fusion runs: a pinned release installed once into the plugin's data directory.

Without it every start pays ``npx`` resolving the adapter (4–10 s on a warm npm cache, much longer
on a cold one: the package is ~450 MB with its Codex binaries). So the first start that has to fall
back to ``npx`` also installs the pinned release in the background (or ``codex-fusion setup`` does it
in the foreground), and later starts run ``node <data>/agent/codex-acp-<version>/…/dist/index.js``.

An install goes to a temporary directory next to its final place and is renamed into it when npm
has finished, so a half-done install is never used. An advisory lock (``flock``; ``msvcrt.locking``
on Windows) keeps two servers (two Claude Code windows) from installing at once: the kernel releases
it when its holder dies, so a stale lock is never "taken over" by deleting a file — which let two
servers delete each other's fresh lock. Its file and directories are touched in worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import anyio

from codex_fusion.hookside import private
from codex_fusion.launch import allowlist

log = logging.getLogger(__name__)

PACKAGE: Final = "@agentclientprotocol/codex-acp"
#: The release the end-to-end tests run against (scripts/provision-adapters pins the same).
PINNED: Final = "2.6.0"
INSTALL_TIMEOUT: Final = 900.0
BUSY = "another codex-fusion is installing the adapter right now"


def install_dir(state: Path) -> Path:
    return state / "agent" / f"codex-acp-{PINNED}"


def _entry(directory: Path) -> Path:
    return directory / "node_modules" / PACKAGE / "dist" / "index.js"


def installed_command(state: Path | None, path: str) -> list[str] | None:
    """The command that starts the installed pinned adapter, if it is installed and Node is found."""
    if state is None:
        return None
    entry = _entry(install_dir(state))
    node = shutil.which("node", path=path)
    if node is None or not entry.is_file():
        return None
    return [node, str(entry)]


def install_env(env: Mapping[str, str], workspace: Path | None) -> dict[str, str]:
    """``env`` for npm, its ``PATH`` without the entries a workspace could plant ``npm`` or ``node`` in."""
    return {**env, "PATH": allowlist.search_path(env.get("PATH", os.defpath), workspace)}


class InstallError(OSError):
    """npm could not install the pinned adapter; the message says why and what to do."""


async def install(state: Path, env: dict[str, str]) -> Path:
    """Install the pinned adapter; returns its directory. Cancelling it kills npm.

    Raises InstallError when npm is missing or fails, or another install holds the lock."""
    final = install_dir(state)
    if await anyio.to_thread.run_sync(_entry(final).is_file):
        return final
    npm = shutil.which("npm", path=env.get("PATH", os.defpath))
    if npm is None:
        raise InstallError("npm is not on PATH: install Node.js 20 or newer, which comes with npm")
    lock = final.parent / f".install-{PINNED}.lock"
    work = final.parent / f".codex-acp-{PINNED}.{os.getpid()}.tmp"
    held = await anyio.to_thread.run_sync(_prepare, state, final, lock, work)
    try:
        command = [npm, "install", "--prefix", str(work), "--no-audit", "--no-fund", "--no-save"]
        command += ["--prefer-offline", "--loglevel=error", f"{PACKAGE}@{PINNED}"]
        try:
            with anyio.fail_after(INSTALL_TIMEOUT):
                done = await anyio.run_process(command, env=env, check=False, stdin=subprocess.DEVNULL)
        except (OSError, TimeoutError) as exc:
            raise InstallError(f"npm install {PACKAGE}@{PINNED} did not finish: {exc}") from None
        if done.returncode != 0 or not await anyio.to_thread.run_sync(_entry(work).is_file):
            output = (done.stderr or done.stdout).decode("utf-8", "replace")
            said = " ".join(output.split())[-400:]
            raise InstallError(f"npm install {PACKAGE}@{PINNED} failed (exit {done.returncode}): {said}")
        await anyio.to_thread.run_sync(os.replace, work, final)
        return final
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_clean_up, work, lock, held)


def _prepare(state: Path, final: Path, lock: Path, work: Path) -> int:
    """The private agent/ directory, the lock (its descriptor), and an empty work directory."""
    private.write_files(state, final.parent, [])
    held = take_lock(lock)
    try:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700)
    except BaseException:
        release_lock(lock, held)
        raise
    return held


def _clean_up(work: Path, lock: Path, held: int) -> None:
    shutil.rmtree(work, ignore_errors=True)
    release_lock(lock, held)


def take_lock(lock: Path) -> int:
    """Hold the install lock; returns its descriptor (for :func:`release_lock`).

    Raises InstallError when another live install holds it. Never waits and never deletes a lock
    someone else may hold: a lock file left by an install that died is simply locked again."""
    for _ in range(5):
        fd = os.open(
            lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600
        )
        try:
            if not _try_lock(fd):
                raise InstallError(BUSY)
            # The holder before us removes the file as it releases it: make sure we locked the file
            # that is still there, not the one it removed (else two installs would run).
            if _same_file(fd, lock):
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise InstallError(BUSY)


def release_lock(lock: Path, fd: int) -> None:
    """Remove the lock file, then let the lock go (in that order, see :func:`take_lock`)."""
    with contextlib.suppress(OSError):
        os.unlink(lock)
    os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


if sys.platform == "win32":  # pragma: no cover - not run here
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


async def install_in_background(state: Path, env: dict[str, str]) -> None:
    """Install the pinned adapter for the next start; failures are logged, never raised."""
    started = time.monotonic()
    log.info("installing %s@%s into %s for the next start", PACKAGE, PINNED, install_dir(state))
    try:
        where = await install(state, env)
    except OSError as exc:
        log.warning("could not install %s@%s: %s (npx is used meanwhile)", PACKAGE, PINNED, exc)
        return
    log.info("installed %s@%s in %.0fs: %s", PACKAGE, PINNED, time.monotonic() - started, where)
