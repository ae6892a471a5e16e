"""Redaction (ADR 0014): what each tier catches and what it changes, and what a call costs.

- The corpora of tests/data (tests/redact_corpus.py): secret shapes caught by the log tier and by
  the tier for what Claude reads; ordinary code lines changed by each.
- Real code on this machine, when it is there: lines of the installed Python packages (this
  environment's site-packages) and of the provisioned codex-acp adapters (JavaScript) that assign or
  pass something named like a secret — how many the tier for what Claude reads would change (none
  should). Read at run time, never stored.
- The cost of one call on a 4 KB and a 32 KB answer (the default answer budget), median.
"""

from __future__ import annotations

import re
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import ROOT, Lab
from bench.report import Figure

_SECRETISH = re.compile(
    r"(?i)(?:token|secret|passw|api_?key|auth|credential|private_?key|bearer)\w*\W{0,3}\s*[:=]"
)
_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts")
ADAPTERS = Path.home() / ".cache" / "codex-fusion" / "adapters"


def _real_lines(root: Path, limit_files: int) -> Iterator[str]:
    seen = 0
    for path in root.rglob("*"):
        if path.suffix not in _SUFFIXES or not path.is_file():
            continue
        seen += 1
        if seen > limit_files:
            return
        try:
            text = path.read_text(errors="ignore")
        except OSError:
            continue
        if len(text) > 1_000_000:
            continue  # bundles and generated tables
        for line in text.splitlines():
            if len(line) <= 300 and _SECRETISH.search(line):
                yield line


def _cost(fn: Callable[[str], str], text: str, n: int) -> float:
    """Median seconds of one call."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def redaction(lab: Lab) -> Figure:
    sys.path.insert(0, str(ROOT / "server"))
    from tests.redact_corpus import code_lines, secret_shapes

    from codex_fusion.text.redact import redact, redact_credentials

    fig = Figure()
    shapes, code = secret_shapes(), code_lines()

    def caught(fn: Callable[..., str], subset: list[object]) -> int:
        return sum(all(s not in fn(shape.text, env={}) for s in shape.secrets) for shape in subset)  # type: ignore[attr-defined]

    claude_shapes = [shape for shape in shapes if shape.claude]
    data: dict[str, object] = {
        "secret_shapes": len(shapes),
        "caught_in_logs": caught(redact, shapes),
        "caught_for_claude": caught(redact_credentials, shapes),
        "credential_formats": len(claude_shapes),
        "credential_formats_caught_for_claude": caught(redact_credentials, claude_shapes),
        "code_lines": len(code),
        "code_changed_for_claude": sum(redact_credentials(line, env={}) != line for line in code),
        "code_changed_in_logs": sum(redact(line, env={}) != line for line in code),
    }
    fig.row(
        "secret shapes caught in logs",
        f"{data['caught_in_logs']}/{len(shapes)}",
    )
    formats = f"{data['credential_formats_caught_for_claude']}/{len(claude_shapes)}"
    fig.row(
        "  … in what Claude reads (credential formats / all shapes)",
        f"{formats} / {data['caught_for_claude']}/{len(shapes)}",
    )
    fig.row(
        "ordinary code lines changed in what Claude reads", f"{data['code_changed_for_claude']}/{len(code)}"
    )
    fig.row("  … in logs", f"{data['code_changed_in_logs']}/{len(code)}")

    roots = [("installed Python packages", Path(sysconfig.get_paths()["purelib"]))]
    if ADAPTERS.is_dir():
        roots.append(("codex-acp adapters (JavaScript)", ADAPTERS))
    real: dict[str, object] = {}
    for label, root in roots:
        lines = sorted(set(_real_lines(root, lab.n(200_000, 3_000))))
        changed = [line for line in lines if redact_credentials(line, env={}) != line]
        real[label] = {"lines": len(lines), "changed_for_claude": len(changed), "examples": changed[:5]}
        fig.row(f"real code ({label}) changed in what Claude reads", f"{len(changed)}/{len(lines)} lines")
    data["real_code"] = real

    n = lab.n(200, 5)
    prose = "The cache is filled once per request and read by every handler; see `load()` below.\n"
    mixed = "\n".join(code) + "\n" + prose * 20
    for size in (4_000, 32_000):
        text = (mixed * (size // len(mixed) + 1))[:size]
        for name, fn in (("for Claude", redact_credentials), ("for logs", redact)):
            seconds = _cost(fn, text, n)
            data[f"cost_{size}_{name.split()[1].lower()}_ms"] = round(seconds * 1000, 3)
            fig.row(
                f"one call on a {size // 1000} KB answer (code-heavy), {name}", f"{seconds * 1000:.2f} ms"
            )
    fig.data = data
    return fig
