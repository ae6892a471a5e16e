"""Which codex-acp an agent command starts — the TypeScript one or the Rust one — found from the
command's npm package, and what its Codex's sandbox must read to start. Reads package files and looks
programs up only in the ``PATH`` entries :func:`~codex_fusion.launch.allowlist.search_path` keeps.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codex_fusion.launch.allowlist import search_path

TS_PACKAGE = "@agentclientprotocol/codex-acp"
RUST_PACKAGE = "@zed-industries/codex-acp"


@dataclass(frozen=True)
class Launch:
    """Which codex-acp an agent command starts, and what its Codex's sandbox must read to start."""

    adapter: str  # "ts" | "rust" | "unknown"
    codex: Path | None = None  # TS: the adapter's own Codex binary; None: the relay looks on PATH (npx)
    helper: Path | None = None  # Codex re-executes this inside its sandbox (openai/codex#29049)


def package_of(path: Path) -> tuple[str, Path] | None:
    """The npm package ``path`` belongs to: its name and directory."""
    for parent in list(path.parents)[:4]:
        try:
            data = json.loads((parent / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return (str(data.get("name", "")), parent) if isinstance(data, dict) else None
    return None


def _find_below(package_dir: Path, pattern: str) -> Path | None:
    """The first ``pattern`` match in the ``node_modules`` Node would resolve from ``package_dir``."""
    for base in (package_dir, *package_dir.parents):
        modules = base if base.name == "node_modules" else base / "node_modules"
        for match in sorted(modules.glob(pattern)):
            if os.access(match, os.X_OK):
                return match
    return None


def _npx_dir(env: Mapping[str, str]) -> Path:
    cache = env.get("npm_config_cache") or str(Path(env.get("HOME") or Path.home()) / ".npm")
    return Path(cache) / "_npx"


def _ts(env: Mapping[str, str], codex: Path | None, helper: Path | None, path: str) -> Launch:
    user = env.get("CODEX_PATH", "").strip()  # the adapter starts this Codex instead of its own
    if user and not os.path.isabs(user):
        user = shutil.which(user, path=path) or ""  # never a Codex in the workspace or the current dir
    return Launch("ts", Path(user), Path(user).resolve()) if user else Launch("ts", codex, helper)


def detect(argv: Sequence[str], env: Mapping[str, str], workspace: Path | None = None) -> Launch:
    """Recognise the TypeScript or Rust codex-acp behind ``argv`` (a path, ``node`` + script, npx),
    looking programs up only in the ``PATH`` entries :func:`search_path` keeps."""
    if not argv:
        return Launch("unknown")
    path = search_path(env.get("PATH", os.defpath), workspace)
    program = shutil.which(argv[0], path=path) or argv[0]
    name = Path(program).name.lower()
    if name.startswith(("npx", "npm", "pnpm", "bunx")):  # the install is not there yet
        for arg in argv[1:]:
            if arg.startswith(TS_PACKAGE):
                return _ts(env, None, _npx_dir(env), path)
            if arg.startswith(RUST_PACKAGE):
                return Launch("rust", None, _npx_dir(env))
        return Launch("unknown")
    target = Path(program)
    if name.startswith("node"):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script is None:
            return Launch("unknown")
        target = Path(script)
    target = target.resolve()
    found = package_of(target)
    package, where = found if found else ("", target.parent)
    if package == TS_PACKAGE:
        codex = _find_below(where, "@openai/codex-*/vendor/*/bin/codex")
        return _ts(env, codex, codex.parent.parent if codex else None, path)
    if package == RUST_PACKAGE:
        binary = _find_below(where, f"{RUST_PACKAGE}-*/bin/codex-acp")
        return Launch("rust", binary, binary) if binary else Launch("unknown")
    if package.startswith(RUST_PACKAGE + "-") or (target.stem == "codex-acp" and _native(target)):
        return Launch("rust", target, target)  # the platform package, or a binary built with cargo
    return Launch("unknown")


def _native(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"MZ\x90\x00")
    except OSError:
        return False
