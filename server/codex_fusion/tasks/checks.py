"""The checks on a task's patch before Claude may accept it (pure).

The patch is untrusted: the member wrote it. :func:`check_patch` turns the files it changes, the
brief and the member's closing report into findings; a *failed* finding makes ``accept`` refuse
unless Claude passes ``force`` with a reason. :func:`unsafe_path` is not a check but a refusal that
nothing overrides: a path that could leave the workspace.

:func:`execution_bearing` is the guardian's own rule for the files whose content runs code or
configures what runs it (:func:`codex_fusion.guardian.autorun.by_name`: git's directory, agent settings and
instructions, CI, editor tasks, environment loaders, hook managers, package managers' rc files),
matched by name as a case-insensitive filesystem would, plus :data:`EXECUTION_BEARING`: what a patch
can add that the guardian has no reason to ask about (git's attribute and submodule files, whose
filters and URLs git acts on).
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from codex_fusion.guardian import autorun
from codex_fusion.tasks.record import FileChange, Finding

#: A changed file larger than this is a finding; so is a patch larger than :data:`MAX_PATCH_BYTES`.
MAX_FILE_BYTES: Final = 1 << 20
MAX_PATCH_BYTES: Final = 8 << 20

#: Beyond :mod:`codex_fusion.guardian.autorun`'s names: file name → why it matters.
EXECUTION_BEARING: Final[dict[str, str]] = {
    ".gitattributes": "names the filters and diff drivers git runs",
    ".gitmodules": "submodule URLs and update commands git acts on",
}


def execution_bearing(path: str) -> str | None:
    """Why ``path`` (workspace-relative, ``/``-separated) runs code or configures what does; None
    when it is an ordinary file."""
    parts = [autorun.normalised(part) for part in path.split("/") if part not in ("", ".")]
    found = autorun.by_name(parts)
    if found is not None:
        return found.why
    return next((why for name, why in EXECUTION_BEARING.items() if parts and parts[-1] == name), None)


#: What makes a directory a git directory to git (besides ``HEAD``): git run inside it uses its config.
GITDIR_PARTS: Final = ("config", "objects/", "refs/", "commondir", "gitdir")


def git_directories(paths: Sequence[str]) -> set[str]:
    """The directories (``""``: the top) that ``paths`` make look like a git directory: a ``HEAD`` and
    one of :data:`GITDIR_PARTS` beside it."""
    found: set[str] = set()
    names = set(paths)
    for path in paths:
        if posixpath.basename(path).casefold() != "head":
            continue
        directory = posixpath.dirname(path)
        prefix = directory + "/" if directory else ""
        for part in GITDIR_PARTS:
            wanted = prefix + part
            hit = any(n.startswith(wanted) for n in names) if part.endswith("/") else wanted in names
            if hit:
                found.add(directory)
                break
    return found


def repository_bearing(path: str, git_run: Mapping[str, str], gitdirs: set[str]) -> str | None:
    """Why the repository's own execution config makes ``path`` run code: a file in the directory (or
    the file) a git setting points at (``git_run``, from ``gitrun.run_paths``), or one in a directory
    shaped like a git directory."""
    for place, why in git_run.items():
        if path == place or posixpath.dirname(path) == place:
            return f"{why}: {place or '.'}"
    for directory in gitdirs:
        if not directory or path.startswith(directory + "/"):
            shape = "HEAD with config, objects/ or refs/"
            return f"{directory or 'the top'} looks like a git directory ({shape}): git runs its config"
    return None


def unsafe_path(path: str) -> str | None:
    """Why ``path`` may not be written in the workspace at all, or None. Nothing overrides this."""
    if not path or "\0" in path:
        return "an empty path or one with a NUL byte"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path) or "\\" in path:
        return "an absolute path"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or posixpath.normpath(path) != path:
        return "a path that is not plain (empty, `.` or `..` components)"
    if any(part.casefold().rstrip(". ") == ".git" for part in parts):
        return "inside a .git directory"
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in path):
        return "a path with control or invisible characters"
    return None


@dataclass(frozen=True)
class Report:
    """What the member said at the end of its answer (the brief asks for these four lines)."""

    summary: str | None
    tests: str | None
    criteria: dict[int, bool]  # criterion number → met
    files: tuple[str, ...] | None


_LABEL: Final = re.compile(
    r"^\W{0,4}(SUMMARY|TESTS|CRITERIA|FILES)[*_]{0,2}\s*:[*_]{0,2}\s*(.*)$", re.IGNORECASE
)
_CRITERION: Final = re.compile(r"(?<![\w.])(\d{1,2})\s*[:.)\-—–]?\s*(not\s+met|unmet|met)\b", re.IGNORECASE)


def parse_report(text: str) -> Report:
    """The report at the end of ``text``: the last block of ``SUMMARY:``/``TESTS:``/``CRITERIA:``/
    ``FILES:`` lines (each may go on over the following lines)."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _LABEL.match(line.strip())
        if match:
            current = match.group(1).upper()
            found[current] = [match.group(2)]
        elif current is not None:
            found[current].append(line)
    values = {key: "\n".join(found[key]).strip() for key in found}
    criteria: dict[int, bool] = {}
    for number, verdict in _CRITERION.findall(values.get("CRITERIA", "")):
        criteria.setdefault(int(number), verdict.lower() == "met")
    files = None
    if "FILES" in values:
        files = tuple(
            name.strip().strip("`'\"")
            for name in re.split(r"[,\n]", values["FILES"])
            if name.strip().strip("`'\"-* ") and name.strip().lower() not in ("none", "(none)")
        )
        files = tuple(name.lstrip("-* ").strip() for name in files)
    return Report(values.get("SUMMARY"), values.get("TESTS"), criteria, files)


def _under(path: str, allowed: str) -> bool:
    allowed = allowed.strip("/")
    return allowed in ("", ".") or path == allowed or path.startswith(allowed + "/")


def check_patch(
    files: Sequence[FileChange],
    *,
    patch_bytes: int,
    paths: Sequence[str],
    criteria: Sequence[str],
    answer: str,
    turn_error: str | None,
    git_run: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every finding on one patch, failed ones first. ``git_run``: where the workspace's git config
    takes hooks and attributes from (``gitrun.run_paths``)."""
    findings: list[Finding] = []
    gitdirs = git_directories([change.path for change in files])

    def fail(check: str, message: str) -> None:
        findings.append(Finding(check, True, message))

    def note(check: str, message: str) -> None:
        findings.append(Finding(check, False, message))

    if turn_error:
        fail("turn", f"the member's turn did not end normally ({turn_error}): the work may be unfinished")
    if not files:
        fail("empty", "the patch changes nothing")
    for change in files:
        path = change.path
        why = unsafe_path(path)
        if why is not None:
            fail("unsafe-path", f"{path!r}: {why} (accept refuses it, even with force)")
        if paths and not any(_under(path, allowed) for allowed in paths):
            fail("outside-paths", f"{path} is outside `paths` ({', '.join(paths)})")
        bearing = execution_bearing(path) or repository_bearing(path, git_run or {}, gitdirs)
        if bearing is not None:
            fail("execution-bearing", f"{path}: {bearing}")
        if change.new_mode == "120000":
            fail("symlink", f"{path} is a symlink (read its target in the patch)")
        elif change.new_mode == "160000":
            fail("submodule", f"{path} is a submodule or nested repository (accept refuses it)")
        elif change.binary:
            fail("binary", f"{path} is a binary file ({change.size:,} bytes)")
        if change.size > MAX_FILE_BYTES:
            fail("huge", f"{path} is {change.size / 1e6:.1f} MB")
        if change.new_mode == "100755" and change.old_mode != "100755":
            note("executable", f"{path} becomes executable")
        if change.status == "D":
            note("deleted", f"{path} is deleted")
    if patch_bytes > MAX_PATCH_BYTES:
        fail("huge", f"the patch is {patch_bytes / 1e6:.1f} MB")
    findings += report_findings(parse_report(answer), files, criteria)
    return sorted(findings, key=lambda finding: not finding.failed)


def report_findings(report: Report, files: Sequence[FileChange], criteria: Sequence[str]) -> list[Finding]:
    """What the member's own report says about the criteria, its tests and the files it changed."""
    findings: list[Finding] = []

    def fail(check: str, message: str) -> None:
        findings.append(Finding(check, True, message))

    def note(check: str, message: str) -> None:
        findings.append(Finding(check, False, message))

    if report.summary is None and report.criteria == {} and report.files is None:
        if criteria:
            fail("criteria", "the member did not end with its report: check every criterion yourself")
        else:
            note("report", "the member did not end with its report (SUMMARY, TESTS, FILES)")
        return findings
    for number, text in enumerate(criteria, start=1):
        met = report.criteria.get(number)
        if met is None:
            fail("criteria", f"criterion {number} ({_short(text)}) is not reported as met")
        elif not met:
            fail("criteria", f"criterion {number} ({_short(text)}) is reported NOT met")
    tests = report.tests or ""
    if _tests_failed(tests):
        fail("tests", f"the member reports failing tests: {_short(tests, 200)}")
    elif not tests:
        note("tests", "the member reports no tests run")
    if report.files is not None:
        changed = {change.path for change in files}
        said = {name for name in report.files if name}
        claimed = sorted(said - changed)
        unsaid = sorted(changed - said)
        if claimed:
            note("files", f"the member says it changed {', '.join(claimed[:10])}, which the patch does not")
        if unsaid:
            note("files", f"the patch changes {', '.join(unsaid[:10])}, which the member does not mention")
    return findings


def _tests_failed(text: str) -> bool:
    """The report's TESTS line says something failed ("2 failed", "FAILED"), not "0 failed"."""
    counts = re.findall(r"(\d+)\s+(?:failed|failures?|errors?)\b", text, re.IGNORECASE)
    if counts:
        return any(int(count) > 0 for count in counts)
    return re.search(r"\b(fail(ed|s|ing|ures?)?|errors?)\b", text, re.IGNORECASE) is not None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
