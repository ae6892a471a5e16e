"""collect_diff against real temporary git repositories, hostile ones included."""

from __future__ import annotations

import contextlib
import os
import pty
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from codex_fusion.errors import DiffError
from codex_fusion.hookside import gitsnap
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs import (
    DiffMaterial,
    DiffRequest,
    FileSummary,
    collect_diff,
    names,
    patch,
    untracked,
)
from codex_fusion.review.diffs import git as git_runner

from .conftest import group_alive
from .gitrepo import git, isolated_env

pytestmark = pytest.mark.anyio


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit(repo: Path, message: str = "commit") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(autouse=True)
def _isolated_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """collect_diff honours GIT_CONFIG_GLOBAL: keep the developer's ~/.gitconfig out of the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit: a.txt and b.txt, three lines each."""
    path = init(tmp_path / "repo")
    write(path / "a.txt", "a1\na2\na3\n")
    write(path / "b.txt", "b1\nb2\nb3\n")
    commit(path, "initial")
    return path


def by_path(material: DiffMaterial) -> dict[str, FileSummary]:
    return {summary.path: summary for summary in material.files}


def sections(text: str) -> dict[str, str]:
    """Split a unified diff into per-file sections, keyed by the ``b/`` path of their header."""
    result: dict[str, str] = {}
    for chunk in text.split("diff --git ")[1:]:
        header = chunk.split("\n", 1)[0]
        result[header.split(" b/", 1)[1]] = "diff --git " + chunk
    return result


# -- what is compared ------------------------------------------------------------------------


async def test_working_tree_shows_staged_and_unstaged_changes(repo: Path) -> None:
    write(repo / "a.txt", "a1\nA2\na3\n")  # unstaged
    write(repo / "b.txt", "b1\nb2\nb3\nb4\n")
    git(repo, "add", "b.txt")  # staged

    material = await collect_diff(repo, DiffRequest())

    files = by_path(material)
    assert set(files) == {"a.txt", "b.txt"}
    assert files["a.txt"] == FileSummary("a.txt", "modified", 1, 1, binary=False, included=True)
    assert files["b.txt"] == FileSummary("b.txt", "modified", 1, 0, binary=False, included=True)
    assert "-a2\n+A2\n" in material.text
    assert "+b4\n" in material.text
    assert material.description == "working tree vs HEAD (2 files, +2 −1)"
    assert material.omitted_note is None


async def test_staged_only_leaves_out_unstaged_and_untracked(repo: Path) -> None:
    write(repo / "a.txt", "a1\nA2\na3\n")
    write(repo / "b.txt", "b1\nb2\nb3\nb4\n")
    git(repo, "add", "b.txt")
    write(repo / "new.txt", "untracked\n")

    material = await collect_diff(repo, DiffRequest(staged=True))

    assert [summary.path for summary in material.files] == ["b.txt"]
    assert "+b4" in material.text
    assert "A2" not in material.text
    assert "untracked" not in material.text
    assert material.description == "staged changes vs HEAD (1 file, +1 −0)"


async def test_base_ref_compares_with_the_merge_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "feature.txt", "on the branch\n")
    commit(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    write(repo / "a.txt", "a1\na2\na3\nmain moved on\n")
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")
    write(repo / "b.txt", "b1\nb2\nb3\nstaged\n")
    git(repo, "add", "b.txt")
    write(repo / "wip.txt", "not committed\n")
    merge_base = git(repo, "merge-base", "main", "HEAD").strip()

    material = await collect_diff(repo, DiffRequest(base="main"))

    files = by_path(material)
    assert set(files) == {"feature.txt", "b.txt", "wip.txt"}  # main's own change is not reverted
    assert "main moved on" not in material.text
    assert material.description == (
        f"working tree vs the merge base {merge_base[:7]} of main and HEAD (3 files, +3 −0)"
    )

    staged = await collect_diff(repo, DiffRequest(base="main", staged=True))
    assert set(by_path(staged)) == {"feature.txt", "b.txt"}
    assert staged.description.startswith(f"staged changes vs the merge base {merge_base[:7]} of main")


async def test_base_without_common_history_compares_with_the_ref_itself(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "other")
    git(repo, "rm", "-q", "-rf", ".")
    write(repo / "other.txt", "unrelated\n")
    commit(repo, "unrelated root")
    git(repo, "checkout", "-q", "main")

    material = await collect_diff(repo, DiffRequest(base="other"))

    assert set(by_path(material)) == {"a.txt", "b.txt", "other.txt"}
    assert "other, which shares no history with HEAD" in material.description


async def test_paths_are_taken_literally(repo: Path) -> None:
    write(repo / "x.py", "x\n")
    write(repo / "*.py", "star\n")
    write(repo / ":(exclude)y", "magic\n")
    commit(repo, "python files")
    write(repo / "x.py", "x changed\n")
    write(repo / "*.py", "star changed\n")
    write(repo / ":(exclude)y", "magic changed\n")
    write(repo / "a.txt", "a changed\n")

    material = await collect_diff(repo, DiffRequest(paths=("*.py",)))
    assert [summary.path for summary in material.files] == ["*.py"]
    assert "x changed" not in material.text
    assert material.description == "working tree vs HEAD in *.py (1 file, +1 −1)"

    magic = await collect_diff(repo, DiffRequest(paths=("./:(exclude)y",)))
    assert [summary.path for summary in magic.files] == [":(exclude)y"]


async def test_a_deleted_path_is_a_valid_filter(repo: Path) -> None:
    (repo / "a.txt").unlink()

    material = await collect_diff(repo, DiffRequest(paths=("a.txt",)))

    assert material.files == (FileSummary("a.txt", "deleted", 0, 3, binary=False, included=True),)


async def test_workspace_below_the_repository_top_sees_only_its_own_changes(repo: Path) -> None:
    write(repo / "sub" / "inner.txt", "inner\n")
    commit(repo, "sub")
    write(repo / "sub" / "inner.txt", "inner changed\n")
    write(repo / "sub" / "new.txt", "new\n")
    write(repo / "a.txt", "outside changed\n")
    write(repo / "outside-new.txt", "outside\n")

    material = await collect_diff(repo / "sub", DiffRequest())

    assert [summary.path for summary in material.files] == ["inner.txt", "new.txt"]
    assert "outside" not in material.text
    assert "diff --git a/inner.txt b/inner.txt" in material.text


# -- what kinds of change look like ----------------------------------------------------------


async def test_untracked_text_files_are_new_files_and_ignored_ones_are_not_listed(repo: Path) -> None:
    write(repo / ".gitignore", "*.log\n")
    commit(repo, "ignore logs")
    write(repo / "notes" / "new.txt", "first\nsecond")  # no final newline
    write(repo / "debug.log", "ignored\n")

    material = await collect_diff(repo, DiffRequest())

    assert material.files == (FileSummary("notes/new.txt", "untracked", 2, 0, binary=False, included=True),)
    assert material.text == (
        "diff --git a/notes/new.txt b/notes/new.txt\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/notes/new.txt\n"
        "@@ -0,0 +1,2 @@\n"
        "+first\n"
        "+second\n"
        "\\ No newline at end of file\n"
    )
    assert "ignored" not in material.text


async def test_untracked_rendering_matches_git_for_odd_names(repo: Path) -> None:
    """Our new-file diff of an untracked file is byte for byte what git would show once it is added."""
    for name in ("plain.txt", "with space.txt", 'quo"te\\.txt', "tab\there.txt", "é.txt", "empty"):
        write(repo / name, "" if name == "empty" else "one\ntwo\n")
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)

    ours = await collect_diff(repo, DiffRequest())
    git(repo, "add", "-A")
    theirs = await collect_diff(repo, DiffRequest(staged=True))

    without_index = "\n".join(line for line in theirs.text.splitlines() if not line.startswith("index "))
    assert ours.text.rstrip("\n") == without_index
    assert all(summary.included for summary in ours.files)


async def test_binary_files_are_listed_without_their_content(repo: Path) -> None:
    write(repo / "image.bin", b"\x89PNG\0SECRET-OLD\0")
    write(repo / ".gitattributes", "forced.dat diff\n")  # forces a text diff of binary content
    write(repo / "forced.dat", b"\0FORCED-OLD\0")
    commit(repo, "binaries")
    write(repo / "image.bin", b"\x89PNG\0SECRET-NEW\0")
    write(repo / "forced.dat", b"\0FORCED-NEW\0")
    write(repo / "untracked.bin", b"\0UNTRACKED-CONTENT\0")

    material = await collect_diff(repo, DiffRequest())

    files = by_path(material)
    assert set(files) == {"image.bin", "forced.dat", "untracked.bin"}
    assert all(summary.binary for summary in material.files)
    assert files["image.bin"].added is None
    assert files["forced.dat"].added is None
    for content in ("SECRET", "FORCED", "UNTRACKED-CONTENT", "\0"):
        assert content not in material.text
    assert "Binary files /dev/null and b/untracked.bin differ" in material.text


async def test_rename_is_shown_as_a_rename(repo: Path) -> None:
    git(repo, "mv", "a.txt", "renamed.txt")

    material = await collect_diff(repo, DiffRequest())

    assert material.files == (
        FileSummary("renamed.txt", "renamed", 0, 0, binary=False, included=True, old_path="a.txt"),
    )
    assert "rename from a.txt\nrename to renamed.txt\n" in material.text


async def test_type_change_and_conflict(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / "a.txt", "other side\n")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    write(repo / "a.txt", "main side\n")
    git(repo, "commit", "-q", "-am", "main")
    git(repo, "merge", "-q", "other", check=False)  # a conflict in a.txt
    (repo / "b.txt").unlink()
    (repo / "b.txt").symlink_to("a.txt")  # a file becomes a symlink

    material = await collect_diff(repo, DiffRequest())
    files = by_path(material)
    assert files["b.txt"].status == "type changed"
    assert files["b.txt"].included
    assert "deleted file mode 100644" in material.text
    assert "new file mode 120000" in material.text
    assert "+<<<<<<< HEAD" in material.text

    staged = await collect_diff(repo, DiffRequest(staged=True))
    assert by_path(staged)["a.txt"].status == "unmerged"
    assert "* Unmerged path a.txt" in staged.text


async def test_odd_file_names_keep_their_sections(repo: Path) -> None:
    names = ["with space.txt", 'quo"te.txt', "back\\slash.txt", "tab\there.txt", "new\nline.txt", "é.txt"]
    for name in names:
        write(repo / name, "old\n")
    commit(repo, "odd names")
    for name in names:
        write(repo / name, "new\n")

    material = await collect_diff(repo, DiffRequest())

    quoted = [
        "with space.txt",
        '"quo\\"te.txt"',
        '"back\\\\slash.txt"',
        '"tab\\there.txt"',
        '"new\\nline.txt"',
        "é.txt",
    ]
    assert sorted(summary.path for summary in material.files) == sorted(quoted)
    assert all(summary.included and summary.added == 1 for summary in material.files)
    assert material.text.count("+new\n") == len(names)


async def test_untracked_symlink_and_fifo_never_read_their_target(repo: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "TOP SECRET\n")
    (repo / "link").symlink_to(secret)
    os.mkfifo(repo / "pipe")

    material = await collect_diff(repo, DiffRequest())

    assert [summary.path for summary in material.files] == ["link"]  # git does not list a FIFO
    assert material.files[0].included
    assert "TOP SECRET" not in material.text
    assert f"new file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+{secret}\n" in material.text

    # had git listed it (a file replaced by a FIFO meanwhile), reading it would neither block nor fail
    entries = untracked.read_untracked(os.fsencode(repo), [b"pipe"], patch.Budget(1000))
    assert [entry.summary() for entry in entries] == [
        FileSummary("pipe", "untracked", None, None, binary=False, included=False)
    ]


# -- size ------------------------------------------------------------------------------------


async def test_a_huge_diff_is_cut_at_whole_files_smallest_first(repo: Path) -> None:
    sizes = {"f1.txt": 40, "f2.txt": 5, "f3.txt": 120, "f4.txt": 20, "f5.txt": 80, "f6.txt": 10}
    for name in sizes:
        write(repo / name, "old\n")
    commit(repo, "files")
    for name, lines in sizes.items():
        write(repo / name, "".join(f"{name} line {i}\n" for i in range(lines)))
    full = await collect_diff(repo, DiffRequest())
    parts = sections(full.text)
    smallest = sorted(parts, key=lambda name: len(parts[name]))
    budget = sum(len(parts[name]) for name in smallest[:3]) + 10

    material = await collect_diff(repo, DiffRequest(), max_chars=budget)

    kept = sorted(smallest[:3])
    assert material.text == "".join(parts[name] for name in kept)
    assert len(material.text) <= budget
    assert [summary.path for summary in material.files] == sorted(sizes)  # all files still summarised
    assert {summary.path: summary.added for summary in material.files} == sizes
    assert {summary.path for summary in material.files if summary.included} == set(kept)
    assert material.omitted_note is not None
    for name in smallest[3:]:
        assert name in material.omitted_note
    assert material.omitted_note.startswith("3 files left out of the diff")
    assert material.omitted_note.endswith("read them in the workspace")
    assert material.description == full.description


async def test_a_single_file_larger_than_the_limit_is_left_out_whole(repo: Path) -> None:
    write(repo / "a.txt", "".join(f"line {i}\n" for i in range(10_000)))
    write(repo / "b.txt", "b1\nb2 changed\nb3\n")

    material = await collect_diff(repo, DiffRequest(), max_chars=2_000)

    assert list(sections(material.text)) == ["b.txt"]
    assert by_path(material)["a.txt"] == FileSummary("a.txt", "modified", 10_000, 3, False, included=False)
    assert material.omitted_note is not None
    assert "1 file left out" in material.omitted_note


async def test_a_large_untracked_file_is_listed_not_read(repo: Path) -> None:
    write(repo / "big.txt", "x" * (untracked.UNTRACKED_MAX_BYTES + 1))
    write(repo / "small.txt", "small\n")

    material = await collect_diff(repo, DiffRequest(), max_chars=10_000_000)

    files = by_path(material)
    assert files["big.txt"] == FileSummary("big.txt", "untracked", None, None, binary=False, included=False)
    assert files["small.txt"].included
    assert material.omitted_note is not None
    assert "big.txt" in material.omitted_note


# -- nothing to review -----------------------------------------------------------------------


async def test_no_changes_is_not_an_error(repo: Path) -> None:
    material = await collect_diff(repo, DiffRequest())
    assert material == DiffMaterial("", (), "no changes: the working tree matches HEAD", None)

    staged = await collect_diff(repo, DiffRequest(staged=True))
    assert staged.description == "no changes: the index matches HEAD"

    only = await collect_diff(repo, DiffRequest(paths=("a.txt",)))
    assert only.description == "no changes in a.txt: the working tree matches HEAD"


async def test_repository_without_commits(tmp_path: Path) -> None:
    repo = init(tmp_path / "fresh")
    material = await collect_diff(repo, DiffRequest())
    assert material.description == "no changes: the working tree matches the empty tree, no commits yet"

    write(repo / "staged.txt", "staged\n")
    git(repo, "add", "staged.txt")
    write(repo / "untracked.txt", "untracked\n")

    material = await collect_diff(repo, DiffRequest())
    files = by_path(material)
    assert files["staged.txt"].status == "added"
    assert files["untracked.txt"].status == "untracked"
    assert material.description == "working tree vs the empty tree, no commits yet (2 files, +2 −0)"

    staged = await collect_diff(repo, DiffRequest(staged=True))
    assert [summary.path for summary in staged.files] == ["staged.txt"]


# -- errors ----------------------------------------------------------------------------------


async def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(DiffError, match="not inside a git repository") as caught:
        await collect_diff(plain, DiffRequest())
    assert "Pass the diff text to review_diff yourself" in str(caught.value)


async def test_git_not_installed(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(DiffError, match=r"git is not installed or not on PATH.*Install git"):
        await collect_diff(repo, DiffRequest())


async def test_unknown_base_ref(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(DiffError, match="Unknown base ref 'no-such-branch'") as caught:
        await collect_diff(repo, DiffRequest(base="no-such-branch"))
    assert "git branch -a" in str(caught.value)

    target = tmp_path / "written-by-git"
    with pytest.raises(DiffError, match="Unknown base ref"):
        await collect_diff(repo, DiffRequest(base=f"--output={target}"))
    assert not target.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.txt", "outside the workspace"),
        ("sub/../../outside.txt", "outside the workspace"),
        ("/etc/passwd", "is absolute"),
        ("no-such-file.txt", "No such path"),
        ("", "empty"),
    ],
)
async def test_bad_paths_are_refused(repo: Path, path: str, message: str) -> None:
    with pytest.raises(DiffError, match=message):
        await collect_diff(repo, DiffRequest(paths=(path,)))


async def test_a_path_through_a_symlink_out_of_the_workspace_is_refused(repo: Path, tmp_path: Path) -> None:
    write(tmp_path / "outside" / "secret.txt", "TOP SECRET\n")
    (repo / "escape").symlink_to(tmp_path / "outside")

    with pytest.raises(DiffError, match="outside the workspace"):
        await collect_diff(repo, DiffRequest(paths=("escape/secret.txt",)))


async def test_a_work_tree_outside_the_workspace_is_refused(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "private.txt", "private\n")
    git(repo, "config", "core.worktree", str(elsewhere))

    with pytest.raises(DiffError, match="does not contain the workspace"):
        await collect_diff(repo, DiffRequest())


async def test_collecting_writes_nothing_and_ignores_stat_only_changes(repo: Path) -> None:
    """git diff would refresh the index for a file touched but unchanged; the review writes nothing."""
    write(repo / "b.txt", "b1\nb2\nb3\nb4\n")
    later = (repo / "a.txt").stat().st_mtime + 100
    os.utime(repo / "a.txt", (later, later))  # stat data changed, content not
    index = repo / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)

    for request in (DiffRequest(), DiffRequest(staged=True), DiffRequest(base="main")):
        material = await collect_diff(repo, request)
        assert "a.txt" not in by_path(material)

    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert sorted(path.name for path in (repo / ".git").iterdir() if path.name.endswith(".lock")) == []


# -- the process ----------------------------------------------------------------------------


@pytest.fixture
def slow_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that records its pid, starts a child and waits forever.

    Returns the file holding the pid (its process group) and the child's: it appears once the child runs.
    """
    bin_dir = tmp_path / "slow-bin"
    pid_file = tmp_path / "slow-git.pid"
    script = f"""#!/bin/sh
sleep 600 &
echo $$ $! > {shlex.quote(str(pid_file))}.tmp && mv {shlex.quote(str(pid_file))}.tmp {shlex.quote(str(pid_file))}
wait
"""
    write(bin_dir / "git", script).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pid_file


async def wait_for_file(path: Path) -> None:
    while not path.exists():
        await anyio.sleep(0.01)


def watch_slow_git(pid_file: Path) -> tuple[int, list[int]]:
    """The slow git's process group, and a pidfd for each of its two processes (git, its child) still
    running: each becomes readable when its process ends, however long a busy machine takes."""
    group, child = (int(pid) for pid in pid_file.read_text().split())
    pidfds = []
    for pid in (group, child):
        with contextlib.suppress(ProcessLookupError):  # already ended
            pidfds.append(os.pidfd_open(pid))
    return group, pidfds


async def ended(pidfds: list[int]) -> None:
    """Wait for every process behind ``pidfds`` to end: the event itself, not a fixed wait (the
    generous limit only turns a git left running into a failure instead of a hang)."""
    try:
        with anyio.fail_after(120):
            for fd in pidfds:
                await anyio.wait_readable(fd)
    finally:
        for fd in pidfds:
            os.close(fd)


async def test_cancelling_the_caller_leaves_no_git_behind(tmp_path: Path, slow_git: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    async with anyio.create_task_group() as tg:
        tg.start_soon(collect_diff, workspace, DiffRequest())
        await wait_for_file(slow_git)
        group, pidfds = watch_slow_git(slow_git)
        tg.cancel_scope.cancel()
    await ended(pidfds)
    assert not group_alive(group)


async def test_timeout_kills_git_and_says_what_to_do(tmp_path: Path, slow_git: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    returned = anyio.Event()

    async def collect() -> None:
        with pytest.raises(DiffError, match=r"did not finish within 0.5 s.*Pass `paths` to narrow"):
            await collect_diff(workspace, DiffRequest(), timeout=0.5)
        returned.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        while not slow_git.exists() and not returned.is_set():
            await anyio.sleep(0.01)
        # on a busy machine the time limit may come before git got to write its pid: then it never will
        group, pidfds = watch_slow_git(slow_git) if slow_git.exists() else (None, [])
    await ended(pidfds)
    assert group is None or not group_alive(group)
    assert returned.is_set()


# -- a hostile repository ------------------------------------------------------------------

MODES = {
    "working tree": DiffRequest(),
    "staged": DiffRequest(staged=True),
    "base": DiffRequest(base="base"),
    "base staged": DiffRequest(base="base", staged=True),
    "paths": DiffRequest(paths=("cmd.txt", "clean.txt", "lazy.txt", "untracked.txt")),
}


@dataclass
class Vector:
    """One way a repository (or our own environment) can make git run a program.

    ``config`` values and ``env`` values may use ``{cmd}`` (touch this vector's marker),
    ``{hooks}`` (a hooks directory whose hooks all touch it), ``{script}`` (a program that touches
    it), ``{marker}`` (the marker's path) and ``{path}`` (PATH with a directory holding
    ``git-remote-evil``, a remote helper that touches it, first). ``control`` is how plain git is
    shown to run it: "diff" (``git diff HEAD``), "tty" (the same on a terminal, for pagers), or ""
    when no git command a review could use runs it.
    """

    name: str
    config: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    lazy_remote: str | None = None  # a partial clone with a missing blob, fetching from here
    control: str = "diff"
    git_hooks: bool = False  # hooks in the repository's own .git/hooks, where git looks by default


VECTORS = [
    Vector("fsmonitor", {"core.fsmonitor": "{cmd}"}),
    Vector("external-diff", {"diff.external": "{cmd}"}),
    Vector("driver-command", {"diff.evilcmd.command": "{cmd}"}),
    Vector("textconv", {"diff.evilconv.textconv": "{cmd}"}),
    Vector("clean-filter", {"filter.evilclean.clean": "{cmd}", "filter.evilclean.required": "true"}),
    Vector("process-filter", {"filter.evilproc.process": "{cmd}", "filter.evilproc.required": "true"}),
    Vector("smudge-filter", {"filter.evilclean.smudge": "{cmd}"}, control=""),
    Vector("hooks", {"core.hooksPath": "{hooks}"}),
    Vector("pager-diff", {"pager.diff": "{cmd}"}, control="tty"),
    Vector("core-pager", {"core.pager": "{cmd}", "pager.diff": "true"}, control="tty"),
    Vector("env-pager", env={"GIT_PAGER": "{cmd}", "PAGER": "{cmd}"}, control="tty"),
    Vector("env-external-diff", env={"GIT_EXTERNAL_DIFF": "{cmd}"}),
    # -c config in our environment would even beat the overrides collect_diff gives git
    Vector("env-config", env={"GIT_CONFIG_PARAMETERS": "'core.fsmonitor'='{cmd}'"}),
    Vector("lazy-ssh", {"core.sshCommand": "{cmd}"}, lazy_remote="ssh://example.invalid/repo.git"),
    Vector("lazy-env-ssh", env={"GIT_SSH_COMMAND": "{cmd}"}, lazy_remote="ssh://example.invalid/repo.git"),
    Vector("lazy-ext", {"protocol.ext.allow": "always"}, lazy_remote="ext::sh -c touch% {marker}"),
    Vector("lazy-upload-pack", {"remote.origin.uploadpack": "{cmd}"}, lazy_remote="file:///nonexistent"),
    Vector("default-hooks-dir", git_hooks=True),
    Vector("lazy-git-proxy", {"core.gitProxy": "{script}"}, lazy_remote="git://example.invalid/repo.git"),
    Vector(
        "lazy-env-git-proxy", env={"GIT_PROXY_COMMAND": "{script}"}, lazy_remote="git://example.invalid/r"
    ),
    Vector("lazy-env-ssh-program", env={"GIT_SSH": "{script}"}, lazy_remote="ssh://example.invalid/repo.git"),
    Vector("lazy-remote-helper", env={"PATH": "{path}"}, lazy_remote="evil::somewhere"),
    Vector("lazy-remote-vcs", {"remote.origin.vcs": "evil"}, env={"PATH": "{path}"}, lazy_remote="x"),
    # our own environment's command-scope config would beat the repository's and our overrides' count
    Vector(
        "env-config-count",
        env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor", "GIT_CONFIG_VALUE_0": "{cmd}"},
    ),
    Vector("env-trace", env={"GIT_TRACE": "{marker}"}),  # git writing a file of our choosing
    # never read from a repository's config, nor run by a diff: proved to stay that way
    Vector(
        "trace2-config", {"trace2.normalTarget": "{marker}", "trace2.eventTarget": "{marker}"}, control=""
    ),
    Vector(
        "aliases",
        {"alias.diff": "!{cmd}", "alias.ls-files": "!{cmd}", "alias.rev-parse": "!{cmd}"},
        control="",
    ),
    Vector(
        "editors-and-signing",
        {
            "core.editor": "{cmd}",
            "sequence.editor": "{cmd}",
            "gpg.program": "{script}",
            "core.askPass": "{script}",
        },
        control="",
    ),
]

HOOKS = ("post-index-change", "reference-transaction", "pre-commit", "post-checkout", "fsmonitor-watchman")


class Hostile:
    """A repository where every kind of collection has something to diff with every attribute."""

    def __init__(self, tmp_path: Path) -> None:
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        self.hooks = tmp_path / "hooks"
        self.repo = init(tmp_path / "hostile")
        repo = self.repo
        write(
            repo / ".gitattributes",
            "cmd.txt diff=evilcmd\nconv.txt diff=evilconv\nclean.txt filter=evilclean\n"
            "proc.txt filter=evilproc\n",
        )
        for name in ("cmd.txt", "conv.txt", "clean.txt", "proc.txt", "lazy.txt", "same.txt"):
            write(repo / name, f"{name} v1\n")
        commit(repo, "v1")
        git(repo, "branch", "base")
        write(repo / "later.txt", "after the base\n")
        commit(repo, "later")
        for version in ("v2", "v3"):  # staged v2, then v3 in the working tree only
            for name in ("cmd.txt", "conv.txt", "clean.txt", "proc.txt", "lazy.txt"):
                write(repo / name, f"{name} v1\n{name} {version}\n")
            if version == "v2":
                git(repo, "add", "-u")
        write(repo / "untracked.txt", "untracked\n")

    def command(self, name: str) -> str:
        return f"touch {shlex.quote(str(self.markers / name))} #"

    def arm(self, vector: Vector) -> dict[str, str]:
        """Apply ``vector`` to the repository; returns the environment variables it needs."""
        helpers = self.markers.parent / "helpers"
        script = helpers / f"{vector.name}-program"
        write(script, f"#!/bin/sh\n{self.command(vector.name)}\n").chmod(0o755)
        write(helpers / "git-remote-evil", f"#!/bin/sh\n{self.command(vector.name)}\n").chmod(0o755)
        values = {
            "cmd": self.command(vector.name),
            "hooks": str(self.hooks),
            "marker": self.markers / vector.name,
            "script": script,
            "path": f"{helpers}{os.pathsep}{os.environ['PATH']}",
        }
        for key, value in vector.config.items():
            git(self.repo, "config", key, value.format(**values))
        hooks = [self.hooks] if "{hooks}" in str(vector.config) else []
        hooks += [self.repo / ".git" / "hooks"] if vector.git_hooks else []
        for directory in hooks:
            for hook in HOOKS:
                write(directory / hook, f"#!/bin/sh\n{self.command(vector.name)}\n").chmod(0o755)
        if vector.lazy_remote:
            self.lose_a_blob(vector.lazy_remote.format(**values))
        # a file whose stat data changed but not its content: git refreshes (and rewrites) the index
        stat = (self.repo / "same.txt").stat()
        os.utime(self.repo / "same.txt", (stat.st_atime + 100, stat.st_mtime + 100))
        return {key: value.format(**values) for key, value in vector.env.items()}

    def lose_a_blob(self, url: str) -> None:
        """Make this a partial clone missing lazy.txt's committed blob, so git would fetch it."""
        blob = git(self.repo, "rev-parse", "HEAD:lazy.txt").strip()
        (self.repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
        for key, value in {
            "core.repositoryformatversion": "1",
            "extensions.partialClone": "origin",
            "remote.origin.promisor": "true",
            "remote.origin.url": url,
        }.items():
            git(self.repo, "config", key, value)

    def fired(self) -> list[str]:
        return sorted(path.name for path in self.markers.iterdir())


def run_on_terminal(repo: Path, *args: str, **env: str) -> None:
    """Run git with a terminal as stdout, as a person would: that is when git starts a pager."""
    controller, terminal = pty.openpty()
    try:
        subprocess.run(
            ["git", *args],
            cwd=repo,
            env=isolated_env(**env),
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            timeout=60,
            check=False,
        )
    finally:
        os.close(controller)
        os.close(terminal)


@contextlib.contextmanager
def environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield


async def collect_every_way(repo: Path, *, may_fail: bool) -> None:
    for mode, request in MODES.items():
        try:
            material = await collect_diff(repo, request)
        except DiffError:
            if not may_fail:
                raise
        else:
            assert material.files, mode


@pytest.mark.parametrize("vector", VECTORS, ids=lambda vector: vector.name)
async def test_hostile_repository_runs_nothing(
    vector: Vector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each way to make git run a program, armed: collecting in every mode runs none of them; plain
    git, run the way a person would, does (so the trap is real)."""
    hostile = Hostile(tmp_path)
    env = hostile.arm(vector)

    with environment(monkeypatch, env):
        # a lazy fetch cannot succeed (the object is gone and fetching is refused): an error, not a run
        await collect_every_way(hostile.repo, may_fail=vector.lazy_remote is not None)
    assert hostile.fired() == []

    if vector.control == "diff":
        git(hostile.repo, "diff", "HEAD", check=False, **env)
    elif vector.control == "tty":
        run_on_terminal(hostile.repo, "diff", "HEAD", **env)
    if vector.control:
        assert hostile.fired() == [vector.name]


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.lazy_remote], ids=lambda vector: vector.name)
async def test_refusing_every_protocol_alone_stops_a_lazy_fetch(
    vector: Vector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For gits without GIT_NO_LAZY_FETCH (before 2.39.4), GIT_ALLOW_PROTOCOL="" is enough."""
    monkeypatch.delitem(gitsnap.SAFE_ENV, "GIT_NO_LAZY_FETCH")
    hostile = Hostile(tmp_path)
    env = hostile.arm(vector)
    with environment(monkeypatch, env):
        await collect_every_way(hostile.repo, may_fail=True)
    assert hostile.fired() == []


async def test_hostile_repository_with_every_trap_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = Hostile(tmp_path)
    env: dict[str, str] = {}
    for vector in VECTORS:
        if not vector.lazy_remote:  # a missing object would stop git before the other traps
            env.update(hostile.arm(vector))

    with environment(monkeypatch, env):
        await collect_every_way(hostile.repo, may_fail=False)
        material = await collect_diff(hostile.repo, DiffRequest())

    assert hostile.fired() == []
    assert "clean.txt v3" in material.text  # filters off: the file as it is on disk
    assert by_path(material)["untracked.txt"].included


async def test_hostile_submodule_runs_nothing(tmp_path: Path) -> None:
    """Finding whether a submodule is dirty runs git inside it, under the submodule's own config,
    whose filters the superproject's config does not name."""
    markers = tmp_path / "markers"
    markers.mkdir()
    source = init(tmp_path / "source")
    write(source / "s.txt", "s1\n")
    commit(source, "sub")
    top = init(tmp_path / "top")
    write(top / "top.txt", "top\n")
    git(top, "-c", "protocol.file.allow=always", "submodule", "-q", "add", str(source), "sub")
    commit(top, "with submodule")
    sub = top / "sub"
    write(sub / ".gitattributes", "s.txt filter=subevil\n")
    git(sub, "config", "filter.subevil.clean", f"touch {shlex.quote(str(markers / 'clean'))} #")
    git(sub, "config", "core.fsmonitor", f"touch {shlex.quote(str(markers / 'fsmonitor'))} #")
    git(top, "config", "diff.submodule", "diff")  # would show the submodule's own diff, run in it
    write(sub / "s.txt", "s2\n")  # same size: git must read (and clean) it to know it changed
    later = (sub / "s.txt").stat().st_mtime + 100
    os.utime(sub / "s.txt", (later, later))
    write(top / "top.txt", "top changed\n")

    for request in (DiffRequest(), DiffRequest(staged=True), DiffRequest(paths=("sub",))):
        await collect_diff(top, request)
    assert list(markers.iterdir()) == []

    git(top, "diff", "HEAD", check=False)
    assert sorted(path.name for path in markers.iterdir()) == ["clean", "fsmonitor"]


# -- only the workspace's own repository ------------------------------------------------------

SECRET = "deploy key: OTHER-PROJECT-SECRET"


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """Another project of the user's, next to the workspace, with a secret committed."""
    path = init(tmp_path / "other-project")
    write(path / "deploy-key", SECRET + "\n")
    write(path / "settings.py", "DATABASE_URL = 'postgres://admin:hunter2@db/prod'\n")
    commit(path, "other project")
    return path


def workspace_files(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    write(path / "README.md", "the workspace\n")
    return path


def own_repo(path: Path) -> Path:
    """A workspace with a real .git of its own and one commit."""
    workspace_files(path)
    init(path)
    commit(path, "workspace")
    return path


def gitfile(ws: Path, other: Path) -> None:
    write(ws / ".git", f"gitdir: {os.path.relpath(other / '.git', ws)}\n")


def dot_git_symlink(ws: Path, other: Path) -> None:
    (ws / ".git").symlink_to(other / ".git")


def commondir(ws: Path, other: Path) -> None:
    init(ws)
    write(ws / ".git" / "commondir", f"{other / '.git'}\n")


def borrow(ws: Path, other: Path) -> None:
    """The workspace's HEAD names the other project's commit (known to an attacker: a public one)."""
    init(ws)
    write(ws / ".git" / "refs" / "heads" / "main", git(other, "rev-parse", "HEAD"))


def alternates(ws: Path, other: Path) -> None:
    borrow(ws, other)
    write(ws / ".git" / "objects" / "info" / "alternates", f"{other / '.git' / 'objects'}\n")


def objects_symlink(ws: Path, other: Path) -> None:
    borrow(ws, other)
    objects = ws / ".git" / "objects"
    subprocess.run(["rm", "-rf", str(objects)], check=True)
    objects.symlink_to(other / ".git" / "objects")


def pack_symlinks(ws: Path, other: Path) -> None:
    git(other, "repack", "-q", "-a", "-d")
    borrow(ws, other)
    for pack in (other / ".git" / "objects" / "pack").iterdir():
        (ws / ".git" / "objects" / "pack" / pack.name).symlink_to(pack)


def loose_object_symlinks(ws: Path, other: Path) -> None:
    borrow(ws, other)
    store = other / ".git" / "objects"
    for directory in store.iterdir():
        if len(directory.name) == 2:
            for obj in directory.iterdir():
                target = ws / ".git" / "objects" / directory.name / obj.name
                target.parent.mkdir(exist_ok=True)
                target.symlink_to(obj)


def config_worktree_elsewhere(ws: Path, other: Path) -> None:
    init(ws)
    git(ws, "config", "core.worktree", str(other))


FOREIGN = {
    "gitfile": (gitfile, "is a gitfile"),
    "dot-git-symlink": (dot_git_symlink, "is a symlink to"),
    "commondir": (commondir, "commondir"),
    "alternates": (alternates, "borrows objects from other object stores"),
    "objects-dir-symlink": (objects_symlink, "is a symlink to .*outside its git directory"),
    "pack-symlinks": (pack_symlinks, "is a symlink to .*outside its git directory"),
    "loose-object-symlinks": (loose_object_symlinks, "is a symlink to .*outside its git directory"),
}


@pytest.mark.parametrize("attack", FOREIGN, ids=str)
async def test_another_repository_is_never_diffed(attack: str, tmp_path: Path, other: Path) -> None:
    """Each way a workspace's .git can make git diff another project: refused, with the reason and
    what to do, before any diff runs; plain git shows the secret (the trap is real)."""
    arm, reason = FOREIGN[attack]
    ws = workspace_files(tmp_path / "ws")
    arm(ws, other)

    with pytest.raises(DiffError, match=reason) as caught:
        await collect_diff(ws, DiffRequest())
    message = str(caught.value)
    assert "review_diff compares only the workspace's own repository" in message
    assert "Nothing was sent to Codex" in message
    assert "OTHER-PROJECT-SECRET" not in message
    assert "CODEX_FUSION_ALLOW_FOREIGN_GITDIR=1" in message  # for the user's own linked worktree

    assert "OTHER-PROJECT-SECRET" in git(ws, "diff", "HEAD", check=False)


@pytest.mark.parametrize("attack", ["http-alternates", "bare-workspace", "include", "worktree-include"])
async def test_a_repository_that_borrows_or_includes_is_refused(attack: str, tmp_path: Path) -> None:
    ws = own_repo(tmp_path / "ws")
    write(ws / "README.md", "changed\n")
    if attack == "http-alternates":
        write(ws / ".git" / "objects" / "info" / "http-alternates", "https://example.invalid/objects\n")
        reason = "http-alternates"
    elif attack == "bare-workspace":  # the workspace is itself a git directory, naming a work tree
        ws = tmp_path / "ws-itself-a-git-dir"
        git(tmp_path, "init", "-q", "--bare", str(ws))
        git(ws, "config", "core.bare", "false")
        git(ws, "config", "core.worktree", str(ws))
        reason = "is \\(inside\\) a bare git directory"
    elif attack == "include":
        write(tmp_path / "elsewhere.cfg", "[user]\n\tname = from elsewhere\n")
        git(ws, "config", "include.path", str(tmp_path / "elsewhere.cfg"))
        reason = r"includes another file \(include.path = "
    else:
        git(ws, "config", "extensions.worktreeConfig", "true")
        git(ws, "config", "--worktree", f"includeIf.gitdir:{ws}/.path", str(tmp_path / "x.cfg"))
        reason = r"includes another file \(includeif\.gitdir:"

    with pytest.raises(DiffError, match=reason):
        await collect_diff(ws, DiffRequest())


def fifo(path: Path) -> None:
    os.mkfifo(path)


def empty_dir(path: Path) -> None:
    path.mkdir()


def huge_file(path: Path) -> None:
    write(path, "gitdir: " + "x" * 100_000 + "\n")


def dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "no-such-dir")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (fifo, "its .git is a FIFO"),
        (huge_file, "its .git is a file of 100009 bytes"),
        (empty_dir, "is a directory that git cannot use as a repository, so git went up"),
        (dangling_symlink, "is a symlink that git cannot use as a repository, so git went up"),
    ],
    ids=lambda value: getattr(value, "__name__", "reason"),
)
async def test_a_broken_dot_git_never_lets_git_use_the_repository_above(
    make: object, reason: str, other: Path
) -> None:
    """A workspace inside another project whose own .git is not a repository: git would skip it and
    diff the project above; the workspace did not ask for that."""
    ws = workspace_files(other / "vendored")
    assert callable(make)
    make(ws / ".git")

    with pytest.raises(DiffError, match=reason):
        await collect_diff(ws, DiffRequest(), timeout=60)


async def test_a_fifo_or_device_in_the_git_directory_is_refused(tmp_path: Path) -> None:
    ws = own_repo(tmp_path / "ws")
    os.mkfifo(ws / ".git" / "packed-refs")

    with pytest.raises(DiffError, match="packed-refs is a FIFO, which git would block on"):
        await collect_diff(ws, DiffRequest(), timeout=60)


async def test_a_symlink_inside_the_git_directory_is_fine(tmp_path: Path) -> None:
    """Legacy repositories keep HEAD as a symlink to the branch: inside the git directory, allowed."""
    ws = own_repo(tmp_path / "ws")
    (ws / ".git" / "HEAD").unlink()
    (ws / ".git" / "HEAD").symlink_to("refs/heads/main")
    write(ws / "README.md", "changed\n")

    material = await collect_diff(ws, DiffRequest())

    assert [summary.path for summary in material.files] == ["README.md"]


async def test_a_workspace_below_a_foreign_git_dir_is_refused(tmp_path: Path, other: Path) -> None:
    """A workspace that is a subdirectory of a checkout whose .git is a gitfile: the same check."""
    top = workspace_files(tmp_path / "checkout")
    gitfile(top, other)
    ws = workspace_files(top / "package")

    with pytest.raises(DiffError, match="is a gitfile"):
        await collect_diff(ws, DiffRequest())


async def test_core_worktree_naming_a_parent_is_refused(tmp_path: Path) -> None:
    """The work tree must be the directory holding .git: a parent named by core.worktree is not."""
    parent = tmp_path / "parent"
    ws = own_repo(parent / "ws")
    write(parent / "private.txt", "private\n")
    git(ws, "config", "core.worktree", str(parent))

    with pytest.raises(DiffError, match=r"git uses the git directory .* which has no \.git"):
        await collect_diff(ws, DiffRequest())


@pytest.mark.parametrize(
    "variable",
    [
        "GIT_DIR",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_INDEX_FILE",
        "GIT_WORK_TREE",
        "GIT_CEILING_DIRECTORIES",
    ],
)
async def test_our_environment_cannot_point_git_at_another_repository(
    variable: str, tmp_path: Path, other: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = own_repo(tmp_path / "ws")
    write(ws / "README.md", "changed\n")
    target = {
        "GIT_DIR": other / ".git",
        "GIT_COMMON_DIR": other / ".git",
        "GIT_OBJECT_DIRECTORY": other / ".git" / "objects",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": other / ".git" / "objects",
        "GIT_INDEX_FILE": other / ".git" / "index",
        "GIT_WORK_TREE": other,
        "GIT_CEILING_DIRECTORIES": tmp_path,
    }[variable]
    monkeypatch.setenv(variable, str(target))

    material = await collect_diff(ws, DiffRequest())

    assert [summary.path for summary in material.files] == ["README.md"]
    assert "OTHER-PROJECT-SECRET" not in material.text


async def test_grafts_do_not_rewrite_history(repo: Path) -> None:
    """info/grafts (deprecated) would make up parents: the merge base is the one stored."""
    fork = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "feature.txt", "feature\n")
    commit(repo, "feature")
    feature = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    write(repo / "a.txt", "main moved on\n")
    commit(repo, "main")
    main = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "feature")
    write(repo / ".git" / "info" / "grafts", f"{feature} {main}\n")  # feature now "forks" at main
    assert git(repo, "merge-base", "main", "HEAD").strip() == main  # git honours it

    material = await collect_diff(repo, DiffRequest(base="main"))

    assert f"the merge base {fork[:7]} of main" in material.description
    assert set(by_path(material)) == {"feature.txt"}


@pytest.fixture
def linked_worktree(tmp_path: Path) -> Path:
    main = own_repo(tmp_path / "main")
    linked = tmp_path / "linked"
    git(main, "worktree", "add", "-q", "-b", "topic", str(linked))
    write(linked / "README.md", "changed in the worktree\n")
    return linked


async def test_a_linked_worktree_needs_the_users_opt_in(linked_worktree: Path) -> None:
    with pytest.raises(DiffError, match="CODEX_FUSION_ALLOW_FOREIGN_GITDIR=1"):
        await collect_diff(linked_worktree, DiffRequest())

    material = await collect_diff(linked_worktree, DiffRequest(), allow_foreign_gitdir=True)

    assert [summary.path for summary in material.files] == ["README.md"]
    assert "+changed in the worktree" in material.text


async def test_a_submodule_checkout_needs_the_users_opt_in(tmp_path: Path) -> None:
    source = own_repo(tmp_path / "source")
    top = own_repo(tmp_path / "top")
    git(top, "-c", "protocol.file.allow=always", "submodule", "-q", "add", str(source), "sub")
    write(top / "sub" / "README.md", "changed in the submodule\n")

    with pytest.raises(DiffError, match="is a gitfile"):
        await collect_diff(top / "sub", DiffRequest())
    material = await collect_diff(top / "sub", DiffRequest(), allow_foreign_gitdir=True)
    assert "+changed in the submodule" in material.text


async def test_the_opt_in_still_keeps_the_diff_in_the_workspace(tmp_path: Path, other: Path) -> None:
    """Opting in accepts a git directory elsewhere, not a work tree elsewhere nor a skipped .git."""
    ws = workspace_files(tmp_path / "ws")
    config_worktree_elsewhere(ws, other)
    with pytest.raises(DiffError, match="does not contain the workspace"):
        await collect_diff(ws, DiffRequest(), allow_foreign_gitdir=True)

    vendored = workspace_files(other / "vendored")
    (vendored / ".git").mkdir()
    with pytest.raises(DiffError, match="git cannot use as a repository"):
        await collect_diff(vendored, DiffRequest(), allow_foreign_gitdir=True)


@pytest.mark.parametrize("setting", ["core.attributesFile", "core.excludesFile"])
async def test_a_file_the_repository_names_is_not_read(setting: str, repo: Path, tmp_path: Path) -> None:
    """A FIFO named by the repository's config would hang git: such files are replaced by
    /dev/null (the bound is a hang detector, far above a normal collection)."""
    os.mkfifo(tmp_path / "fifo")
    git(repo, "config", setting, str(tmp_path / "fifo"))
    write(repo / "a.txt", "changed\n")
    write(repo / "new.txt", "new\n")

    material = await collect_diff(repo, DiffRequest(), timeout=30)

    assert set(by_path(material)) == {"a.txt", "new.txt"}


# -- which git runs ---------------------------------------------------------------------------

REAL_GIT = subprocess.run(
    ["sh", "-c", "command -v git"], capture_output=True, text=True, check=True
).stdout.strip()


@pytest.mark.parametrize("entry", ["", ".", "bin", "{ws}/bin", "{tmp}/link-into-ws"])
async def test_the_workspaces_own_git_never_runs(
    entry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty, relative or in-workspace PATH entry (or a directory linking into the workspace)
    before the real git: the workspace's `git` would run, as the user. Only the real one does."""
    ws = own_repo(tmp_path / "ws")
    marker = tmp_path / "workspace-git-ran"
    fake = f'#!/bin/sh\ntouch {shlex.quote(str(marker))}\nexec {shlex.quote(REAL_GIT)} "$@"\n'
    for place in (ws / "git", ws / "bin" / "git"):
        write(place, fake).chmod(0o755)
    (tmp_path / "link-into-ws").symlink_to(ws / "bin")
    write(ws / "README.md", "changed\n")
    first = entry.format(ws=ws, tmp=tmp_path)
    monkeypatch.setenv("PATH", f"{first}{os.pathsep}{os.path.dirname(REAL_GIT)}")

    material = await collect_diff(ws, DiffRequest())

    assert not marker.exists()
    assert "README.md" in by_path(material)


async def test_no_git_outside_the_workspace_is_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = own_repo(tmp_path / "ws")
    write(ws / "bin" / "git", f'#!/bin/sh\nexec {shlex.quote(REAL_GIT)} "$@"\n').chmod(0o755)
    monkeypatch.setenv("PATH", f".{os.pathsep}bin{os.pathsep}{ws / 'bin'}")

    with pytest.raises(DiffError, match="no `git` in an absolute PATH entry outside the workspace"):
        await collect_diff(ws, DiffRequest())


def test_git_itself_gets_only_the_absolute_outside_path_entries(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "bin").mkdir(parents=True)
    outside = os.path.dirname(REAL_GIT)
    path = os.pathsep.join(["", ".", "bin", str(ws / "bin"), outside, outside, "/nonexistent"])

    program, search_path = git_runner.find_git(ws, path)

    assert program == os.path.join(outside, "git")
    assert search_path.split(os.pathsep) == [outside, "/nonexistent"]


# -- file names, quoted like git's diff headers -----------------------------------------------

HOSTILE_NAMES = [
    "line\n- forged.txt (deleted, +0 −999)",
    "esc\x1b[2Kreset.txt",
    "bidi\u202etxt.exe",
    "zero\u200bwidth.txt",
    "nbsp\u00a0space.txt",
    "tab\there.txt",
    'quo"te.txt',
    "isolate\u2066x\u2069.txt",
    "hangul\u3164filler.txt",
    os.fsdecode(b"invalid-\xff.txt"),
]
HIDDEN = [
    "\n- forged",
    "\x1b",
    "\u202e",
    "\u200b",
    "\u00a0",
    "\u2066",
    "\u2069",
    "\u3164",
    "\ufffd",
    "\udcff",
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain.txt", b"plain.txt"),
        (b"with space.txt", b"with space.txt"),
        ("é.txt".encode(), "é.txt".encode()),
        (b"tab\there", b'"tab\\there"'),
        (b'quo"te\\', b'"quo\\"te\\\\"'),
        (b"new\nline", b'"new\\nline"'),
        (b"esc\x1b", b'"esc\\033"'),
        (b"del\x7f", b'"del\\177"'),
        ("bidi\u202e".encode(), b'"bidi\\342\\200\\256"'),
        ("nbsp\u00a0".encode(), b'"nbsp\\302\\240"'),
        ("zw\u200b".encode(), b'"zw\\342\\200\\213"'),
        ("c1\u0085".encode(), b'"c1\\302\\205"'),
        ("ls\u2028".encode(), b'"ls\\342\\200\\250"'),
        ("vs\ufe0f".encode(), b'"vs\\357\\270\\217"'),
        (b"bad\xff\xfe", b'"bad\\377\\376"'),
    ],
)
def test_quote_is_gits_quoting_and_hides_nothing(raw: bytes, expected: bytes) -> None:
    assert names.quote(raw) == expected
    if all(byte < 0x80 for byte in raw):
        assert names.git_quote(raw) == expected  # git's own rule, for ASCII


async def test_hostile_file_names_cannot_forge_lines(repo: Path) -> None:
    """Names with newlines, escapes, bidi and invisible characters, tracked, untracked and left
    out: in the list of changes, the left-out note and the diff text, every one is quoted."""
    tracked = [f"t-{name}" for name in HOSTILE_NAMES]
    for name in tracked:
        write(repo / name, "old\n")
    commit(repo, "hostile names")
    for name in tracked:
        write(repo / name, "new\n")
    for name in HOSTILE_NAMES:
        write(repo / f"u-{name}", "new\n")
    write(repo / "big-\u202e.txt", "".join(f"line {i}\n" for i in range(5000)))

    material = await collect_diff(repo, DiffRequest(paths=()), max_chars=20_000)
    brief = review_prompts.review_diff(material, None, None)
    prompt = "\n\n".join(brief.blocks)

    everything = "\n".join([prompt, material.text, material.description, material.omitted_note or ""])
    for hidden in HIDDEN:
        assert hidden not in everything, repr(hidden)
    assert len(material.files) == 2 * len(HOSTILE_NAMES) + 1
    assert all(summary.included for summary in material.files if "big" not in summary.path)
    assert material.omitted_note is not None
    assert '"big-\\342\\200\\256.txt"' in material.omitted_note
    summary_lines = [line for line in prompt.splitlines() if line.startswith("- ")]
    assert len(summary_lines) == len(material.files)  # no forged summary line
    assert '- "t-line\\n- forged.txt (deleted, +0 \u2212999)" (modified, +1 \u22121)' in prompt
    headers = [line for line in material.text.splitlines() if line.startswith("diff --git ")]
    assert len(headers) == 2 * len(HOSTILE_NAMES)
    assert 'diff --git "a/t-bidi\\342\\200\\256txt.exe" "b/t-bidi\\342\\200\\256txt.exe"' in headers
    assert 'diff --git "a/u-bidi\\342\\200\\256txt.exe" "b/u-bidi\\342\\200\\256txt.exe"' in headers


async def test_requested_paths_are_quoted_in_the_description(repo: Path) -> None:
    name = "new\nline \u202e.txt"
    write(repo / name, "x\n")

    material = await collect_diff(repo, DiffRequest(paths=(name,)))

    assert material.description.startswith('working tree vs HEAD in "new\\nline \\342\\200\\256.txt" (')


async def test_an_unmerged_path_cannot_forge_lines(repo: Path) -> None:
    """git writes an unmerged path raw, newlines included: the section is ours, quoted."""
    name = "conflict\n+FORGED LINE\ndiff --git a/a.txt b/a.txt"
    write(repo / name, "base\n")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / name, "other side\n")
    commit(repo, "other")
    git(repo, "checkout", "-q", "main")
    write(repo / name, "main side\n")
    commit(repo, "main")
    git(repo, "merge", "-q", "other", check=False)
    write(repo / "a.txt", "a changed\n")
    git(repo, "add", "a.txt")
    raw = git(repo, "diff", "--cached", "HEAD", check=False)
    assert "\n+FORGED LINE\n" in raw  # git's own output: the trap is real

    material = await collect_diff(repo, DiffRequest(staged=True))

    lines = material.text.splitlines()
    assert "+FORGED LINE" not in lines
    assert '* Unmerged path "conflict\\n+FORGED LINE\\ndiff --git a/a.txt b/a.txt"' in lines
    assert lines.count("diff --git a/a.txt b/a.txt") == 1
    assert by_path(material)["a.txt"].included


def test_gits_own_messages_show_hidden_characters() -> None:
    """git's errors can quote a file name; in our error text nothing in it stays hidden."""
    said = git_runner._short(
        "fatal: bad name 'x\u202etxt.exe\x1b[2K\udcff'\n".encode("utf-8", "surrogateescape")
    )
    assert said == "fatal: bad name 'x\\342\\200\\256txt.exe\\033[2K\\377'"
