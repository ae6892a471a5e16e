"""The codex-acp codex-fusion runs: a pinned release installed once into the plugin's data directory.

Without it every start pays ``npx`` resolving the adapter (4–10 s on a warm npm cache, much longer
on a cold one: the package is ~450 MB with its Codex binaries). So the first start that has to fall
back to ``npx`` also installs the pinned release in the background (or ``codex-fusion setup`` does it
in the foreground), and later starts run ``node <data>/agent/codex-acp-<version>/…/dist/index.js``.

An install goes to a temporary directory next to its final place and is renamed into it when npm
has finished, so a half-done install is never used; a lock file keeps two servers (two Claude Code
windows) from installing at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import anyio

from . import boundary, private

log = logging.getLogger(__name__)

PACKAGE: Final = "@agentclientprotocol/codex-acp"
#: The release the end-to-end tests run against (scripts/provision-adapters pins the same).
PINNED: Final = "2.6.0"
INSTALL_TIMEOUT: Final = 900.0
#: A lock older than this belongs to an install that died.
STALE_LOCK: Final = INSTALL_TIMEOUT + 60


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
    return {**env, "PATH": boundary.search_path(env.get("PATH", os.defpath), workspace)}


class InstallError(OSError):
    """npm could not install the pinned adapter; the message says why and what to do."""


async def install(state: Path, env: dict[str, str]) -> Path:
    """Install the pinned adapter; returns its directory. Cancelling it kills npm.

    Raises InstallError when npm is missing or fails, or another install holds the lock."""
    final = install_dir(state)
    if _entry(final).is_file():
        return final
    npm = shutil.which("npm", path=env.get("PATH", os.defpath))
    if npm is None:
        raise InstallError("npm is not on PATH: install Node.js 20 or newer, which comes with npm")
    private.write_files(state, final.parent, [])  # the private agent/ directory
    lock = final.parent / f".install-{PINNED}.lock"
    _take(lock)
    work = final.parent / f".codex-acp-{PINNED}.{os.getpid()}.tmp"
    try:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700)
        command = [npm, "install", "--prefix", str(work), "--no-audit", "--no-fund", "--no-save"]
        command += ["--prefer-offline", "--loglevel=error", f"{PACKAGE}@{PINNED}"]
        try:
            with anyio.fail_after(INSTALL_TIMEOUT):
                done = await anyio.run_process(command, env=env, check=False, stdin=subprocess.DEVNULL)
        except (OSError, TimeoutError) as exc:
            raise InstallError(f"npm install {PACKAGE}@{PINNED} did not finish: {exc}") from None
        if done.returncode != 0 or not _entry(work).is_file():
            output = (done.stderr or done.stdout).decode("utf-8", "replace")
            said = " ".join(output.split())[-400:]
            raise InstallError(f"npm install {PACKAGE}@{PINNED} failed (exit {done.returncode}): {said}")
        os.replace(work, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(lock)


def _take(lock: Path) -> None:
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        try:
            age = time.time() - lock.lstat().st_mtime
        except OSError:
            age = 0.0
        if age < STALE_LOCK:
            raise InstallError("another codex-fusion is installing the adapter right now") from None
        os.unlink(lock)  # left by an install that died
        _take(lock)
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)


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
