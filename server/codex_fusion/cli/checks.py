"""One line of the doctor's report: what was checked, how it went, and the fix when it did not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Check:
    status: Literal["ok", "warn", "fail"]
    what: str
    detail: str
    fix: str = ""
