"""``delegate`` → session open, main against this checkout, on the same workspace, interleaved with
``cp -a`` of the same files (issue 26 item 1; ADR 0029). The machine is shared: each case builds its
workspace once, then runs ``cp -a``, one side, ``cp -a``, the other side, ``cp -a`` … so every ratio
has floors measured beside it, and prints the load average as it goes.

    BENCH_DIR=/dev/shm/x uv run python bench/delegate_ab.py --before /path/to/main [--rounds 2]
        [--cases "10k small;1,000 × 1 MiB"]

Each side runs in a process of its own with that checkout's ``server/`` first on its path (the fake
agent stands in for the member, as in ``bench/delegate.py --copy``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(server: str, base: str) -> None:
    sys.path.insert(0, server)
    sys.path.insert(1, str(ROOT))
    import anyio
    from bench.delegate import _config, _open_once

    config = _config("fake", Path(base), Path(base) / "workspace", None)
    opened, outcome = anyio.run(_open_once, config)
    print(json.dumps({"open_s": opened, "outcome": outcome, "server": server}))


def _side(server: str, base: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", server, str(base)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="a checkout of main (its server/ is the 'before')")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cases", default="")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    sys.path.insert(0, str(ROOT))
    from bench.delegate import COPY_CASES, _big_workspace, _cp_floor

    wanted = [c.strip() for c in args.cases.split(";") if c.strip()]
    sides = {"after": str(ROOT / "server")}
    if args.before:
        sides = {"before": str(Path(args.before) / "server"), **sides}
    work = Path(tempfile.mkdtemp(prefix="codex-fusion-bench-ab-", dir=os.environ.get("BENCH_DIR")))
    try:
        for label, files, size in COPY_CASES:
            if wanted and label not in wanted:
                continue
            base = work / label.replace(" ", "_").replace(",", "")
            base.mkdir()
            workspace = _big_workspace(base, files, size)
            floors = [_cp_floor(workspace, base)]
            runs: dict[str, list[dict[str, object]]] = {name: [] for name in sides}
            for _round in range(args.rounds):
                for name, server in sides.items():
                    run = _side(server, base)
                    floors.append(_cp_floor(workspace, base))
                    run["ratio"] = run["open_s"] / statistics.median(floors[-2:])  # type: ignore[operator]
                    run["load"] = os.getloadavg()[0]
                    runs[name].append(run)
                    floor = f"floor {floors[-2]:.2f}/{floors[-1]:.2f} s"
                    print(label, name, f"{run['open_s']:.2f} s", floor, f"= {run['ratio']:.2f}x",
                          run["outcome"], f"load {run['load']:.1f}", flush=True)  # fmt: skip
            summary = {
                name: statistics.median(float(r["ratio"]) for r in rs)  # type: ignore[arg-type]
                for name, rs in runs.items()
            }
            print(label, "median ratios", {k: round(v, 2) for k, v in summary.items()},
                  "floors", [round(f, 2) for f in floors], flush=True)  # fmt: skip
            shutil.rmtree(base)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
