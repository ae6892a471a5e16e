"""What a task's member changed, from the task's own repository: the worktree staged as a tree, the
files changed and the patch Claude reviews (``base → result``, computed by the server from the
worktree, never from what the member says). The copy it starts from is ``worktree.py``'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from codex_fusion.errors import DiffError, TaskError
from codex_fusion.hookside.visible import visible
from codex_fusion.review.diffs.git import Git, Result
from codex_fusion.tasks import basetree
from codex_fusion.tasks.record import FileChange

#: A changed file larger than this is summarised in the patch, not shown (nor read into memory) …
MAX_SHOWN_BYTES: Final = 8 << 20
#: … and so is every file past this many bytes of changed files in all.
MAX_PATCH_SHOWN: Final = 32 << 20
_IDENTITY: Final = (("user.name", "codex-fusion"), ("user.email", "codex-fusion@localhost"))
DIFF: Final = (
    "--no-ext-diff",
    "--no-textconv",
    "--ignore-submodules=none",  # a nested repository the member made shows (and is refused)
    "--submodule=short",
    "-O/dev/null",
    "--no-color",
    "--no-renames",  # each path on its own: what accept writes, file by file
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


@dataclass(frozen=True)
class Changes:
    """What the member changed: a tree in the task's repository, its files, and the patch."""

    result: str
    files: tuple[FileChange, ...]
    patch: bytes


@dataclass(frozen=True)
class TaskGit:
    """git on the task's own repository, with the worktree as its work tree."""

    git: Git
    git_dir: Path
    tree: Path

    @classmethod
    async def open(cls, task_dir: Path, timeout: float) -> TaskGit:
        git = await Git.open(task_dir, timeout)
        git = replace(git, config=git.config + _IDENTITY)
        return cls(git, task_dir / "git", task_dir / "tree")

    async def run(self, *args: str, check: bool = True, input: bytes | None = None) -> Result:
        try:
            return await self.git.run(
                f"--git-dir={self.git_dir}", f"--work-tree={self.tree}", *args, check=check, input=input
            )
        except DiffError as exc:
            raise TaskError(f"The task's own git failed ({args[0]}): {exc}") from None

    async def locked(self) -> TaskGit:
        """This runner with every filter the user's own config defines switched off (a copied
        ``.gitattributes`` may name git-lfs's, say)."""
        listed = await self.run("config", "--list", "--show-scope", "--null")
        fields = os.fsdecode(listed.stdout).split("\0")
        filters = sorted(
            {item.split("\n", 1)[0].rsplit(".", 1)[0] for item in fields[1::2] if item.startswith("filter.")}
        )
        off = tuple(
            (f"{name}.{key}", value)
            for name in filters
            for key, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false"))
        )
        return replace(self, git=replace(self.git, config=self.git.config + off))


async def changes(task_dir: Path, base: str, timeout: float) -> Changes:
    """Stage the worktree in the task's repository and compare it with the base: the result tree, the
    files changed (modes, line counts, sizes) and the whole patch (binary files included)."""
    tg = await (await TaskGit.open(task_dir, timeout)).locked()
    await tg.run("update-index", "-q", "--refresh", check=False)  # stat data for the copied files
    await tg.run("add", "-A")
    result = (await tg.run("write-tree", "--missing-ok")).stdout.decode().strip()
    return await compare(tg, base, result)


async def compare(tg: TaskGit, base: str, result: str) -> Changes:
    """``base → result``: the files changed and the patch. A file over :data:`MAX_SHOWN_BYTES` is
    summarised in the patch (path, sizes), never read into memory; so is what would pass
    :data:`MAX_PATCH_SHOWN` in all."""
    raw = await tg.run("diff", "--raw", "-z", "--no-abbrev", *DIFF, base, result)
    files: list[FileChange] = []
    items = raw.stdout.split(b"\0")
    for head, path in zip(items[0::2], items[1::2], strict=False):
        fields = head.decode().lstrip(":").split()
        if len(fields) == 5:
            old_mode, new_mode, old_oid, new_oid, status = fields
            files.append(
                FileChange(os.fsdecode(path), status[:1], old_mode, new_mode, None, None, 0, old_oid, new_oid)
            )
    sizes = await _sizes(tg, result)
    olds = [c.old_oid for c in files if c.old_oid.strip("0") and c.old_mode != "160000"]
    too_big = set(await basetree.materialise(tg.git, tg.git_dir, olds))
    shown: list[str] = []
    hidden: list[FileChange] = []
    budget = MAX_PATCH_SHOWN
    for change in files:
        size = sizes.get(change.path, 0)
        budget -= size
        if change.old_oid in too_big or size > MAX_SHOWN_BYTES or budget < 0:
            hidden.append(change)
        else:
            shown.append(change.path)
    at_tree = replace(tg, git=replace(tg.git, cwd=tg.tree))  # git's pathspecs are relative to it
    only = ["--", *shown] if hidden else []
    counts = await _numstat(at_tree, base, result, only) if shown else {}
    patch = b""
    if shown:
        patch = (await at_tree.run("diff", "--binary", "--full-index", *DIFF, base, result, *only)).stdout
    patch += b"".join(_summary(c, sizes.get(c.path, 0)) for c in hidden)
    sized = tuple(
        replace(
            c,
            added=counts.get(c.path, (None, None))[0],
            removed=counts.get(c.path, (None, None))[1],
            size=sizes.get(c.path, 0),
        )
        for c in files
    )
    return Changes(result, sized, patch)


def _summary(change: FileChange, size: int) -> bytes:
    line = (
        f"# codex-fusion: {visible(change.path)} ({change.status}, {size / 1e6:,.1f} MB) is too large to "
        f"show here; blob {change.new_oid[:12]} in the task's repository\n"
    )
    return line.encode()


async def _sizes(tg: TaskGit, result: str) -> dict[str, int]:
    listed = await tg.run("ls-tree", "-r", "-l", "-z", "--full-tree", result)
    sizes: dict[str, int] = {}
    for item in listed.stdout.split(b"\0"):
        meta, _, entry = item.partition(b"\t")
        columns = meta.split()
        if len(columns) == 4 and columns[3].isdigit():
            sizes[os.fsdecode(entry)] = int(columns[3])
    return sizes


async def _numstat(
    tg: TaskGit, base: str, result: str, only: Sequence[str]
) -> dict[str, tuple[int | None, int | None]]:
    numstat = await tg.run("diff", "--numstat", "-z", *DIFF, base, result, *only)
    counts: dict[str, tuple[int | None, int | None]] = {}
    for item in numstat.stdout.split(b"\0"):
        stats = item.split(b"\t", 2)
        if len(stats) == 3:
            plus, minus, named = stats
            counts[os.fsdecode(named)] = (
                int(plus) if plus.isdigit() else None,
                int(minus) if minus.isdigit() else None,
            )
    return counts
