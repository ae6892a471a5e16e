"""The always-on cost of the plugin in Claude's context: `uv run python bench/context_cost.py [--json]`.

What Claude Code puts in every request while the plugin is enabled (observed on 2.1.329, see
docs/claude-code-behaviour.md), each counted as the text the model receives:

- **tools**: MCP tools are *deferred* behind tool search by default: the model sees one line per tool,
  ``mcp__plugin_codex-fusion_codex__<tool>``, in the "deferred tools … available via ToolSearch"
  list, and a tool's schema enters the context only when the model loads it. Each tool's loaded form,
  the compact JSON object ``{"name": …, "description": …, "input_schema": …}`` Claude Code sends, is
  counted too, as what the context carries with ``ENABLE_TOOL_SEARCH=false`` (schemas in every
  request) — reported beside the budget, with a ceiling of its own;
- **instructions**: the server instructions under their ``## plugin:codex-fusion:codex`` heading;
- **skills / commands**: one listing line each, ``- codex-fusion:<name>: <description>`` plus
  `` - <when_to_use>`` when set. User-only commands (``disable-model-invocation: true``) are not in
  the listing and cost nothing; ``argument-hint`` only shows in the ``/`` menu, not to the model;
- **agents**: one line each in the agent-type list, ``- codex-fusion:<name>: <description> (Tools:
  <tools>)``.

Tokens ≈ characters / 4. The server is started in memory (no agent process is spawned).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from codex_fusion.launch.planning import configure  # noqa: E402
from codex_fusion.mcp.server import build_server  # noqa: E402

PLUGIN = "codex-fusion"
SERVER = "codex"
TOOL_PREFIX = f"mcp__plugin_{PLUGIN}_{SERVER}__"
BUDGET_TOKENS = 1500
#: With tool search off, every schema is in every request: a ceiling so they stay compact.
SCHEMA_CEILING_TOKENS = 2500
CHARS_PER_TOKEN = 4
TRUE = {"true", "yes", "on", "1"}


@dataclass(frozen=True)
class Item:
    part: str  # tools, instructions, commands, skills, agents
    name: str
    text: str  # what the model reads
    listed: bool = True  # False: not in the model's context (a user-only command)
    loaded: str = ""  # a tool's schema as sent once loaded (or with tool search off)

    @property
    def chars(self) -> int:
        return len(self.text)

    @property
    def tokens(self) -> float:
        return self.chars / CHARS_PER_TOKEN if self.listed else 0.0

    @property
    def loaded_tokens(self) -> float:
        return len(self.loaded or self.text) / CHARS_PER_TOKEN if self.listed else 0.0


# -- front matter ------------------------------------------------------------------------------------


def front_matter(path: Path) -> dict[str, str]:
    """The ``key: value`` lines between the leading ``---`` fences. Only one-line scalars (plain or
    quoted): a block scalar or a list would be counted wrong, so it is refused."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    fields: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            return fields
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        value = value.strip()
        if not sep or line[0].isspace() or value in ("|", ">", "|-", ">-") or value.startswith("["):
            raise ValueError(f"{path}:{number}: only one-line `key: value` front matter is supported")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key.strip()] = value
    raise ValueError(f"{path}: the front matter is not closed with ---")


def listing_line(name: str, fields: Mapping[str, str]) -> str:
    """A skill or command as the skill listing shows it."""
    line = f"- {PLUGIN}:{name}: {fields.get('description', '')}"
    if fields.get("when_to_use"):
        line += f" - {fields['when_to_use']}"
    return line + "\n"


def markdown_items(root: Path = ROOT) -> list[Item]:
    items = []
    for path in sorted((root / "commands").glob("*.md")):
        fields = front_matter(path)
        user_only = fields.get("disable-model-invocation", "").lower() in TRUE
        items.append(Item("commands", path.stem, listing_line(path.stem, fields), not user_only))
    for path in sorted((root / "skills").glob("*/SKILL.md")):
        fields = front_matter(path)
        name = fields.get("name") or path.parent.name
        user_only = fields.get("disable-model-invocation", "").lower() in TRUE
        items.append(Item("skills", name, listing_line(name, fields), not user_only))
    for path in sorted((root / "agents").glob("*.md")):
        fields = front_matter(path)
        name = fields.get("name") or path.stem
        tools = ", ".join(t.strip() for t in fields.get("tools", "").split(",") if t.strip()) or "*"
        line = f"- {PLUGIN}:{name}: {fields.get('description', '')} (Tools: {tools})\n"
        items.append(Item("agents", name, line))
    return items


# -- the server --------------------------------------------------------------------------------------


def tool_text(tool: Any) -> str:
    """A tool as Claude Code sends it to the model."""
    sent = {
        "name": TOOL_PREFIX + tool.name,
        "description": tool.description or "",
        "input_schema": tool.input_schema,
    }
    return json.dumps(sent, ensure_ascii=False, separators=(",", ":"))


async def server_items() -> list[Item]:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": tmp,
            "CODEX_FUSION_WORKSPACE": str(workspace),
            "CLAUDE_PLUGIN_DATA": str(Path(tmp) / "data"),
            "CODEX_FUSION_ACP_COMMAND": "codex-fusion-context-cost-never-started",
            "CODEX_FUSION_WARM": "0",
        }
        server = build_server(configure(env, cwd=workspace))
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
            instructions = client.instructions or ""
    items = [
        Item("tools", tool.name, TOOL_PREFIX + tool.name + "\n", loaded=tool_text(tool)) for tool in tools
    ]
    heading = f"## plugin:{PLUGIN}:{SERVER}\n"
    items.append(Item("instructions", "server instructions", heading + instructions))
    return items


def measure(root: Path = ROOT) -> list[Item]:
    return anyio.run(server_items) + markdown_items(root)


# -- report ------------------------------------------------------------------------------------------

PARTS = ("tools", "instructions", "commands", "skills", "agents")


def totals(items: Iterable[Item]) -> dict[str, float]:
    """Tokens per part as always in the context (tools deferred); ``total_schemas``: the same with
    every tool's schema loaded (tool search off)."""
    items = list(items)
    out = dict.fromkeys(PARTS, 0.0)
    for item in items:
        out[item.part] += item.tokens
    out["total"] = sum(out[part] for part in PARTS)
    out["tool_schemas"] = sum(item.loaded_tokens for item in items if item.part == "tools")
    out["total_schemas"] = out["total"] - out["tools"] + out["tool_schemas"]
    return out


def report(items: list[Item]) -> str:
    rows = [f"{'part':<13} {'name':<24} {'chars':>6} {'tokens':>7}"]
    for part in PARTS:
        for item in (i for i in items if i.part == part):
            tokens = f"{item.tokens:7.0f}" if item.listed else "      0  (user-only, not listed)"
            if item.loaded:
                tokens += f"  (schema when loaded: {item.loaded_tokens:.0f})"
            rows.append(f"{part:<13} {item.name:<24} {item.chars:>6} {tokens}")
    rows.append("")
    sums = totals(items)
    for part in PARTS:
        rows.append(f"{part:<13} {'':<24} {'':>6} {sums[part]:7.0f}")
    verdict = "within" if sums["total"] < BUDGET_TOKENS else "OVER"
    rows.append(
        f"{'total':<13} {'':<24} {'':>6} {sums['total']:7.0f}  ({verdict} the {BUDGET_TOKENS} budget; "
        "tools deferred, Claude Code's default)"
    )
    ceiling = "within" if sums["total_schemas"] < SCHEMA_CEILING_TOKENS else "OVER"
    rows.append(
        f"{'with schemas':<13} {'':<24} {'':>6} {sums['total_schemas']:7.0f}  ({ceiling} the "
        f"{SCHEMA_CEILING_TOKENS} ceiling; ENABLE_TOOL_SEARCH=false)"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the items and totals as JSON")
    args = parser.parse_args(argv)
    items = measure()
    if args.json:
        payload = {
            "chars_per_token": CHARS_PER_TOKEN,
            "budget_tokens": BUDGET_TOKENS,
            "items": [
                {**asdict(item), "chars": item.chars, "tokens": round(item.tokens, 1)} for item in items
            ],
            "totals": {k: round(v, 1) for k, v in totals(items).items()},
        }
        print(json.dumps(payload, indent=2))
    else:
        print(report(items))
    sums = totals(items)
    return 0 if sums["total"] < BUDGET_TOKENS and sums["total_schemas"] < SCHEMA_CEILING_TOKENS else 1


if __name__ == "__main__":
    sys.exit(main())
