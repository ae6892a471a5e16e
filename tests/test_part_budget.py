"""Every part's prompt fits its budget, its file list included, at 1, 100 and 50,000 changed files
(issue 26.2): a part lists its own files and gives the others as a count and a short profile."""

from __future__ import annotations

import pytest

from codex_fusion.review import filelist, partplan, parts
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs import DiffMaterial, FileSummary

BUDGET = 32_000
FOCUS = "Check the error handling around the cache; " * 10


def change(
    count: int, section_chars: int, kept_chars: int, name: str = "pkg{d:04d}/mod{i:06d}.py"
) -> DiffMaterial:
    """``count`` changed files of ``section_chars`` of diff each; the collection kept the first
    ``kept_chars`` worth (as ``Budget`` keeps the smallest), the rest listed as not shown."""
    files, sections = [], []
    kept = 0
    for index in range(count):
        path = name.format(d=index // 100, i=index)
        text = f"diff --git a/{path} b/{path}\n" + "+x = 1\n" * (section_chars // 7)
        included = kept + len(text) <= kept_chars
        if included:
            kept += len(text)
            sections.append((path, text))
        files.append(FileSummary(path, "modified", 1, 1, False, included))
    return DiffMaterial(
        "".join(text for _, text in sections),
        tuple(files),
        f"working tree vs HEAD ({count} files, +{count} −{count})",
        None if kept_chars >= count * section_chars else f"{count - len(sections)} files left out",
        tuple(sections),
    )


def sizes(material: DiffMaterial, focus: str | None) -> list[int]:
    planned = parts.plan(material, BUDGET, focus=focus)
    if planned is None:
        return [len(review_prompts.review_diff(material, None, focus).text())]
    return [len(review_prompts.review_diff(part, None, focus).text()) for part in planned]


@pytest.mark.parametrize("focus", [None, FOCUS])
@pytest.mark.parametrize(
    ("count", "section_chars"),
    [(1, 20_000), (100, 1_500), (50_000, 150), (5_000, 40)],
)
def test_every_part_is_within_its_budget(count: int, section_chars: int, focus: str | None) -> None:
    material = change(count, section_chars, BUDGET * parts.MAX_SHARDS)
    found = sizes(material, focus)
    assert max(found) <= BUDGET, found
    if count > 1:
        assert len(found) > 1  # the change does not fit one session: it was split


def test_long_names_do_not_overflow_a_part() -> None:
    material = change(50_000, 150, BUDGET * parts.MAX_SHARDS, name="d{d:04d}/" + "n" * 3_000 + "{i:06d}.py")
    found = sizes(material, None)
    assert max(found) <= BUDGET, found


def test_a_part_names_its_own_files_and_counts_the_others() -> None:
    material = change(50_000, 150, BUDGET * parts.MAX_SHARDS)
    planned = parts.plan(material, BUDGET)
    assert planned is not None
    first = review_prompts.review_diff(planned[0], None, None).text()
    mine = [path for path, _ in planned[0].sections]
    assert all(f"- {path} (modified" in first for path in mine)
    other = planned[1].sections[0][0]
    assert other not in first  # another part's file is counted, not listed
    assert "Other reviewers have " in first
    assert "In no part's diff (too large, binary or not a regular file): " in first
    # bounded, yet full: each part uses most of its budget for the diff it shows
    for part in planned:
        assert len(part.text) >= 0.6 * BUDGET


def test_the_skeleton_cost_is_what_plan_reserves() -> None:
    """A part with no files is tiny next to the budget: the list and notes stay bounded."""
    material = change(50_000, 150, BUDGET * parts.MAX_SHARDS)
    whole = filelist.Profile(material.files)
    empty = partplan._part(material, [], 0, 6, (list(material.files), whole), whole)
    assert partplan.prompt_chars(empty, None) < 2_000
