"""The task's base commit built from what the copy hashed and what git already knows (issue 26 item 1).

Every file of the copy was hashed as it was copied (:mod:`codex_fusion.tasks.copying`), so the base
is exactly the files the member gets, whatever the workspace's index says: its index only tells which
blobs the workspace's repository already holds. Those are not written into the task's repository at
all; every other blob (a modified or untracked file, a link) is written as an uncompressed loose
object (the task's repository never ships anything). When the member's turn ends, the base blobs a
patch needs that the task's repository lacks are read from the workspace's objects (through a
temporary ``alternates``), checked against their ids, and written then (:func:`materialise`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import anyio

from codex_fusion.errors import TaskError
from codex_fusion.review.diffs.git import Git
from codex_fusion.tasks.handles import O_CLOEXEC
from codex_fusion.tasks.loose import write_loose

#: Where the task's repository remembers the workspace's objects directory (for :func:`materialise`).
SOURCE: Final = "codex-fusion-objects"
#: Base blobs larger than this are not fetched: such a file is summarised in the patch, not shown.
MAX_FETCH_BYTES: Final = 8 << 20


async def index_oids(ws: Git) -> dict[bytes, str]:
    """The workspace index's blob id per path (stage 0; conflicted paths left out)."""
    listed = await ws.run("ls-files", "-z", "--stage")
    return await anyio.to_thread.run_sync(_stage0, listed.stdout)  # 200k lines: off the event loop


def _stage0(listed: bytes) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for item in listed.split(b"\0"):
        meta, _, path = item.partition(b"\t")
        fields = meta.split()
        if len(fields) == 3 and fields[2] == b"0":
            found[path] = fields[1].decode()
    return found


def index_info(blobs: Iterable[tuple[bytes, str, str]]) -> bytes:
    """``update-index -z --index-info`` input for the base's entries."""
    return b"".join(b"%s %s\t%s\0" % (mode.encode(), oid.encode(), rel) for rel, mode, oid in blobs)


def remember_source(git_dir: Path, objects: str) -> None:
    fd = os.open(git_dir / SOURCE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | O_CLOEXEC, 0o600)
    try:
        os.write(fd, os.fsencode(os.path.abspath(objects)) + b"\n")
    finally:
        os.close(fd)


async def missing(git: Git, git_dir: Path, oids: Sequence[str]) -> list[str]:
    """Which of ``oids`` the task's repository does not hold."""
    if not oids:
        return []
    checked = await git.run(
        f"--git-dir={git_dir}", "cat-file", "--batch-check", input="\n".join(oids).encode() + b"\n"
    )
    return [line.split()[0] for line in checked.stdout.decode().splitlines() if line.endswith(" missing")]


async def materialise(git: Git, git_dir: Path, oids: Sequence[str]) -> list[str]:
    """The base blobs ``oids`` copied from the workspace's objects into the task's repository, each
    checked against its id; returns those over :data:`MAX_FETCH_BYTES` (left out: not shown)."""
    lacking = await missing(git, git_dir, oids)
    if not lacking:
        return []
    source = (git_dir / SOURCE).read_bytes().strip() if (git_dir / SOURCE).exists() else b""
    alternates = git_dir / "objects" / "info" / "alternates"
    if not source:
        raise TaskError("The task's base lacks blobs and names no repository to read them from.")
    await anyio.to_thread.run_sync(_write_alternates, alternates, source)
    try:
        sizes = await git.run(
            f"--git-dir={git_dir}", "cat-file", "--batch-check", input="\n".join(lacking).encode() + b"\n"
        )
        big: list[str] = []
        for line in sizes.stdout.decode().splitlines():
            oid, _, rest = line.partition(" ")
            if rest == "missing":
                raise TaskError(
                    f"The task's base file {oid[:10]} is no longer in your repository's objects, so its "
                    "patch cannot be shown. Discard the task and delegate again."
                )
            if int(rest.split()[1]) > MAX_FETCH_BYTES:
                big.append(oid)
        for oid in (o for o in lacking if o not in big):
            data = (await git.run(f"--git-dir={git_dir}", "cat-file", "blob", oid)).stdout
            header = b"blob %d\0" % len(data)
            digest = hashlib.sha256() if len(oid) == 64 else hashlib.sha1(usedforsecurity=False)
            digest.update(header + data)
            if digest.hexdigest() != oid:
                raise TaskError(
                    f"Your repository's object {oid[:10]} does not hold what its id says (corrupt or "
                    "crafted): the task's patch cannot be computed. Run `git fsck`, then delegate again."
                )
            await anyio.to_thread.run_sync(write_loose, git_dir, oid, header + data)
    finally:
        await anyio.to_thread.run_sync(_unlink, alternates)
    return big


def _write_alternates(path: Path, objects: bytes) -> None:
    os.makedirs(path.parent, 0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | O_CLOEXEC, 0o600)
    try:
        os.write(fd, objects + b"\n")
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
