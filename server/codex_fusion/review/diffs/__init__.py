"""Collect the diff a ``review_diff`` turn shows Codex, by running git ourselves.

Why the server does it: Codex would need a shell command to see the changes (and Claude a permission
pause to allow it); the server can run git with fixed arguments and hand Codex the text.

Why so careful: the workspace is a repository Claude is working in, so it may be hostile.

* Its ``.git/config`` and ``.gitattributes`` can make git run programs: an fsmonitor hook, external
  diff drivers, textconv, clean/process filters, hooks run when git rewrites the index, a pager, or
  a lazy fetch in a partial clone. Every git call here goes through :class:`Git`, which switches all
  of them off, and runs a git found outside the workspace (``git.py``).
* Its ``.git`` can lead to another repository (a gitfile, a symlink, commondir, alternates, …),
  whose every file would show as a deletion: ``layout.py`` refuses that before anything is diffed.
* Its file names can hold newlines, escapes and bidi characters: every name written into the text
  is quoted the way git quotes diff headers (``names.py``).

``tests/test_diffs.py`` proves each against real repositories built to attack it.
"""

from codex_fusion.review.diffs.collect import collect_diff
from codex_fusion.review.diffs.layout import OPT_IN
from codex_fusion.review.diffs.material import DiffMaterial, DiffRequest, FileSummary

__all__ = ["OPT_IN", "DiffMaterial", "DiffRequest", "FileSummary", "collect_diff"]
