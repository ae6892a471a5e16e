"""The patch reader takes hunks whole between headers (issue 26.2: collecting near ``git diff``'s own
time); it must read exactly what the line-by-line reading did, wherever git's output is cut."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codex_fusion.review.diffs.git import DIFF_OPTIONS
from codex_fusion.review.diffs.patch import Budget, DiffStream

from .gitrepo import git, isolated_env


def _changed_repository(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    (path / "plain.py").write_text("".join(f"a{n} = {n}\n" for n in range(200)))
    (path / "with space.txt").write_text("one\ntwo\n")
    (path / "tab\there.txt").write_text("x\n")
    (path / "bidi\u202etxt.py").write_text("y\n")
    (path / "gone.py").write_text("z\n")
    (path / "moved.py").write_text("".join(f"line {n}\n" for n in range(40)))
    (path / "nul.txt").write_text("text\n")
    (path / ".gitattributes").write_text("nul.txt diff\n")  # forced to text: NULs reach the patch
    # sections without hunks, taken whole up to the next header: a mode change, a binary change, and a
    # type change (two sections under one header)
    (path / "mode.sh").write_text("echo\n")
    (path / "image.bin").write_bytes(b"\0\1\2")
    (path / "kind.txt").write_text("a file\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    (path / "plain.py").write_text("".join(f"a{n} = {n * 2}\n" for n in range(200)) + "diff --git a/x b/x\n")
    (path / "with space.txt").write_text("one\nthree\n")
    (path / "tab\there.txt").write_text("x\ny\n")
    (path / "bidi\u202etxt.py").write_text("y\nz\n")
    (path / "gone.py").unlink()
    git(path, "mv", "moved.py", "renamed.py")
    (path / "nul.txt").write_bytes(b"text\0binary\n")
    (path / "mode.sh").chmod(0o755)
    (path / "image.bin").write_bytes(b"\0\1\3")
    (path / "kind.txt").unlink()
    (path / "kind.txt").symlink_to("plain.py")
    git(path, "add", "-A")
    return path


def _read(output: bytes, chunk: int, limit: int) -> list[tuple[str, str | None, str]]:
    stream = DiffStream(Budget(limit))
    for start in range(0, len(output), chunk):
        stream.feed(output[start : start + chunk])
    return [(entry.path, entry.text, entry.status) for entry in stream.finish()]


@pytest.mark.parametrize("limit", [100_000, 300])
def test_any_cut_of_the_output_reads_the_same(tmp_path: Path, limit: int) -> None:
    repo = _changed_repository(tmp_path / "repo")
    output = subprocess.run(
        [
            "git",
            "-c",
            "core.quotePath=false",
            "diff",
            *DIFF_OPTIONS,
            "--raw",
            "--numstat",
            "--patch",
            "-z",
            "--cached",
            "HEAD",
        ],
        cwd=repo,
        env=isolated_env(),
        capture_output=True,
        check=True,
    ).stdout
    whole = _read(output, len(output), limit)
    assert len(whole) == 10
    texts = {path: text for path, text, _ in whole}
    if limit > 1000:
        assert "old mode 100644\nnew mode 100755\n" in (texts["mode.sh"] or "")
        assert "Binary files a/image.bin and b/image.bin differ" in (texts["image.bin"] or "")
        assert (texts["kind.txt"] or "").count("diff --git a/kind.txt b/kind.txt\n") == 2
        assert "+a199 = 398\n+diff --git a/x b/x\n" in (texts["plain.py"] or "")  # a hunk line, not a header
        assert "Binary files differ" in (texts["nul.txt"] or "")
        assert all(text is not None for text in texts.values())
    for chunk in (1, 2, 7, 64, 200, 4096):
        assert _read(output, chunk, limit) == whole, chunk
