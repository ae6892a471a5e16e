"""Splitting a change too large for one review session into parts whose prompts each fit the budget.

The budget is the whole brief a part's session is sent: the task, the list of its own files, a
short note about everyone else's, the diff, the focus and the answer format (the frame, a few
constant kilobytes, goes to the system prompt where the agent takes one, and is not counted). So a
file costs its diff *and* its line in the list, and the note about the other files is a count and a
profile (``filelist.summary``), never their names one by one: at 50,000 changed files every part's
prompt is as bounded as at 100.

Files are packed largest first into the least loaded part they fit in (at most ``max_shards``
parts); a file that fits no part is left out of every diff and named among the files to read in
the workspace, as a file too large for a lone review is. Each part's prompt is measured once built;
one still over the budget (a focus longer than reserved, say) gives up its largest file, until all fit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from codex_fusion.review import filelist
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs.material import DiffMaterial, FileSummary

#: Characters kept free in each part for what varies between parts (the digits of its counts).
SLACK = 300
#: Below this many packed files, splitting gains nothing: the change is reviewed in one session.
MIN_FILES = 2
#: Left-out files named in a part's note (the rest counted).
NAMED = 5


def prompt_chars(material: DiffMaterial, focus: str | None) -> int:
    """The characters of the review brief of ``material``: the prompt, its frame aside."""
    return len(review_prompts.review_diff(material, None, focus).text())


def plan(
    material: DiffMaterial, limit: int, max_shards: int, focus: str | None = None
) -> list[DiffMaterial] | None:
    """The parts, or None when the whole change fits one session's prompt."""
    if prompt_chars(material, focus) <= limit:
        return None
    by_path = {f.path: f for f in material.files}
    sections = [(path, text) for path, text in material.sections if path in by_path]
    whole = filelist.Profile(material.files)
    skeleton = _part(material, [], 0, max_shards, (list(material.files), whole), whole)
    capacity = limit - prompt_chars(skeleton, focus) - min(SLACK, limit // 50)
    bins = _pack(sections, by_path, capacity, max_shards)
    if sum(map(len, bins)) < MIN_FILES:
        return None
    while True:
        packed = {path for part in bins for path, _ in part}
        out = _left_out(material, packed)
        left = (out, filelist.Profile(out))
        parts = [_part(material, part, index, len(bins), left, whole) for index, part in enumerate(bins)]
        over = [index for index, part in enumerate(parts) if prompt_chars(part, focus) > limit]
        if not over:
            return parts
        for index in over:  # a focus longer than the skeleton reserved: give up the largest file
            if bins[index]:
                bins[index].remove(max(bins[index], key=lambda item: len(item[1])))
        if all(not bins[index] for index in over) and all(
            prompt_chars(parts[index], focus) > limit for index in over
        ):
            return parts  # nothing left to give up: the focus alone is over the budget


def _pack(
    sections: Sequence[tuple[str, str]], by_path: dict[str, FileSummary], capacity: int, max_shards: int
) -> list[list[tuple[str, str]]]:
    """Largest first into the least loaded part it fits; new parts up to ``max_shards``."""
    costs = {path: len(text) + len(filelist.line(by_path[path])) + 1 for path, text in sections}
    fitting = [item for item in sections if costs[item[0]] <= capacity]
    total = sum(costs[path] for path, _ in fitting)
    count = max(1, min(max_shards, len(fitting), math.ceil(total / max(capacity, 1))))
    bins: list[list[tuple[str, str]]] = [[] for _ in range(count)]
    loads = [0] * count
    for path, text in sorted(fitting, key=lambda item: (-costs[item[0]], item[0])):
        cost = costs[path]
        room = [i for i in range(len(bins)) if loads[i] + cost <= capacity]
        if not room and len(bins) < max_shards:
            bins.append([])
            loads.append(0)
            room = [len(bins) - 1]
        if room:
            target = min(room, key=lambda i: loads[i])
            bins[target].append((path, text))
            loads[target] += cost
    return [sorted(part) for part in bins if part] or [[]]


def _left_out(material: DiffMaterial, packed: set[str]) -> list[FileSummary]:
    return [f for f in material.files if f.path not in packed]


def _part(
    material: DiffMaterial,
    sections: list[tuple[str, str]],
    index: int,
    count: int,
    left_out: tuple[Sequence[FileSummary], filelist.Profile],
    whole: filelist.Profile,
) -> DiffMaterial:
    """One part: its own files listed, everyone else's counted (``left_out``: the files in no
    part's diff, and their profile)."""
    mine = {path for path, _ in sections}
    files = tuple(dataclasses.replace(f, included=True) for f in material.files if f.path in mine)
    out, left = left_out
    elsewhere = whole - left - filelist.Profile(files)
    return DiffMaterial(
        text="".join(text for _, text in sections),
        files=files,
        description=f"{material.description}; part {index + 1} of {count}",
        omitted_note=_note(index, count, len(material.files), elsewhere, out, left),
        sections=tuple(sections),
    )


def _note(
    index: int,
    count: int,
    total: int,
    elsewhere: filelist.Profile,
    left_out: Sequence[FileSummary],
    left: filelist.Profile,
) -> str:
    lines = [
        f"This is part {index + 1} of {count} of one change of {total:,} files, reviewed in parallel: "
        "review the files in the diff below; read the others only where this part depends on them."
    ]
    if elsewhere.count:
        lines.append(f"Other reviewers have {elsewhere.text()}.")
    if left_out:
        named = ", ".join(filelist.short(f.path, 100) for f in left_out[:NAMED])
        more = f" and {len(left_out) - NAMED:,} more" if len(left_out) > NAMED else ""
        lines.append(
            f"In no part's diff (too large, binary or not a regular file): {left.text()}: "
            f"{named}{more} — read them in the workspace where they matter."
        )
    return "\n".join(lines)
