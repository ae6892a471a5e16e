"""The plugin's options: Claude Code's ``userConfig`` and the environment variables that override them.

A user sets an option with ``/plugin`` → codex-fusion → Configure, or ``claude plugin configure
codex-fusion@<marketplace>`` (``--values-stdin`` for scripts); Claude Code keeps it (a sensitive one
in the system keychain, or ``~/.claude/.credentials.json`` 0600 where there is none) and hands it on:

- to the MCP server through ``.mcp.json``'s ``env``, as ``CLAUDE_PLUGIN_OPTION_<KEY>:
  ${user_config.<key>}`` (Claude Code substitutes the value, the manifest default, or ``""``);
- to hooks as ``CLAUDE_PLUGIN_OPTION_<KEY>``, for options the user set (defaults are not exported).

Every option has an environment variable for scripts and CI, which wins: **env > option > default**
(ADR 0018). :func:`effective_env` folds the options into the environment the rest of the server
reads (``config.read``), so each setting is parsed in one place whatever its source;
:func:`describe` says where each one came from.

Standard library only and importable on Python 3.9: the hook reads the review gate's options.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, keeps `typing` off the hook's start-up path
    from collections.abc import Mapping

__all__ = ["OPTIONS", "Option", "describe", "effective_env", "lookup", "manifest", "option_env", "origin"]

PREFIX = "CLAUDE_PLUGIN_OPTION_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Option:
    """One ``userConfig`` option and the environment variable that overrides it."""

    __slots__ = ("default", "description", "env", "key", "kind", "maximum", "minimum", "sensitive", "title")

    def __init__(
        self,
        key: str,
        env: str,
        kind: str,
        title: str,
        description: str,
        default: object = None,
        *,
        sensitive: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> None:
        self.key = key
        self.env = env
        self.kind = kind  # "string" | "boolean" | "number" (Claude Code's userConfig types)
        self.title = title
        self.description = description
        self.default = default
        self.sensitive = sensitive
        self.minimum = minimum
        self.maximum = maximum

    @property
    def option_env(self) -> str:
        """The variable Claude Code's value arrives in: ``CLAUDE_PLUGIN_OPTION_<KEY>``."""
        return PREFIX + self.key.upper()

    def to_env(self, value: str) -> str:
        """An option's value as its environment variable spells it (booleans: ``1``/``0``)."""
        if self.kind == "boolean":
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return "1"
            if lowered in _FALSE:
                return "0"
        return value

    def manifest(self) -> dict[str, object]:
        entry: dict[str, object] = {"type": self.kind, "title": self.title, "description": self.description}
        if self.default is not None:
            entry["default"] = self.default
        if self.sensitive:
            entry["sensitive"] = True
        if self.minimum is not None:
            entry["min"] = self.minimum
        if self.maximum is not None:
            entry["max"] = self.maximum
        return entry


#: Every option, in the order ``/plugin`` shows them. Defaults equal the code's own defaults (a test
#: checks ``plugin.json`` against this table, and ``config.py``/``gate.py`` against the defaults).
OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        "CODEX_FUSION_MODEL",
        "string",
        "Codex model",
        "The model Codex answers with, e.g. gpt-5.5. Empty: the agent's default (your Codex "
        "config.toml). A model the agent does not offer is an error that lists the ones it does.",
    ),
    Option(
        "effort",
        "CODEX_FUSION_EFFORT",
        "string",
        "Codex reasoning effort",
        "low, medium, high or xhigh (what the model offers). Empty: the model's default.",
    ),
    Option(
        "members",
        "CODEX_FUSION_MEMBERS",
        "string",
        "Council members (JSON)",
        'Other ACP agents to consult besides Codex, as JSON: {"<name>": {"command": "...", "model": '
        '"...", "effort": "..."}}. Empty: Codex alone. Stored in plain settings: no API keys here.',
    ),
    Option(
        "openai_api_key",
        "OPENAI_API_KEY",
        "string",
        "OpenAI API key",
        "Only if Codex is not logged in (`npx -y @openai/codex login`). Kept in your system keychain, "
        "given to Codex only then, and never written to disk by codex-fusion or Codex.",
        sensitive=True,
    ),
    Option(
        "allow_external_reads",
        "CODEX_FUSION_ALLOW_EXTERNAL_READS",
        "boolean",
        "Let Codex read outside the workspace",
        "Risk: Codex can read your other projects, ~/.ssh and credentials without asking, and its "
        "sandbox can read every file you can. Off: each such read asks Claude.",
        False,
    ),
    Option(
        "allow_writes",
        "CODEX_FUSION_ALLOW_WRITES",
        "boolean",
        "Let Codex edit workspace files",
        "Risk: Codex can change or delete your uncommitted work without asking (never .git/). Off: "
        "each edit asks Claude.",
        False,
    ),
    Option(
        "allow_commands",
        "CODEX_FUSION_ALLOW_COMMANDS",
        "boolean",
        "Let Codex run commands",
        "Risk: every command Codex asks to run in the workspace runs without asking, an escalated one "
        "outside the sandbox, as you: it can do anything you can. Off: each command asks Claude.",
        False,
    ),
    Option(
        "reset_on_compact",
        "CODEX_FUSION_RESET_ON",
        "boolean",
        "Reset Codex when Claude compacts",
        "On: Codex starts fresh after a compaction, as after /clear. Off: Codex keeps its context "
        "across compactions (a /clear always resets).",
        True,
    ),
    Option(
        "review_gate",
        "CODEX_FUSION_REVIEW_GATE",
        "boolean",
        "Review gate at Stop",
        "When Claude ends a turn that changed files, Codex reviews the change and blocks the stop on "
        "real findings (at most review_gate_max_blocks times per conversation). Costs a Codex review "
        "per such turn.",
        False,
    ),
    Option(
        "review_gate_max_blocks",
        "CODEX_FUSION_REVIEW_GATE_MAX_BLOCKS",
        "number",
        "Review gate: blocks per conversation",
        "After this many blocks in one conversation the gate lets every stop through, saying what is "
        "still open.",
        2,
        minimum=1,
        maximum=10,
    ),
    Option(
        "review_gate_severity",
        "CODEX_FUSION_REVIEW_GATE_SEVERITY",
        "string",
        "Review gate: lowest blocking severity",
        "blocker, major or minor: findings below it are reported, never blocking.",
        "major",
    ),
    Option(
        "review_gate_timeout",
        "CODEX_FUSION_REVIEW_GATE_TIMEOUT_S",
        "number",
        "Review gate: time limit (seconds)",
        "A review not done by then lets the stop through and says so.",
        120,
        minimum=10,
        maximum=540,
    ),
    Option(
        "model_prices",
        "CODEX_FUSION_MODEL_PRICES",
        "string",
        "Prices per model (for usage)",
        "Your price per model, to show the cost of turns whose agent reports none: "
        "model=in/cached/out in USD per million tokens, comma-separated (e.g. gpt-5.5=1.25/0.125/10). "
        "Empty: cost is shown only when the agent reports it.",
        None,
    ),
)

_BY_KEY = {option.key: option for option in OPTIONS}


def option_env(key: str) -> str:
    return _BY_KEY[key].option_env


def _given(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _from_option(option: Option, env: Mapping[str, str]) -> str | None:
    """The option's value as an environment value, or None when the user left it empty."""
    raw = _given(env, option.option_env)
    if raw is None:
        return None
    if option.key == "reset_on_compact":
        flag = option.to_env(raw)
        if flag in ("0", "1"):
            return "clear,compact" if flag == "1" else "clear"
        return raw  # not a boolean: config.py reports it
    return option.to_env(raw)


def _default(option: Option) -> str | None:
    """The option's default as its environment variable spells it."""
    if option.default is None:
        return None
    if option.kind == "boolean":
        if option.key == "reset_on_compact":
            return "clear,compact" if option.default else "clear"
        return "1" if option.default else "0"
    return str(option.default)


def lookup(env: Mapping[str, str], key: str) -> tuple[str | None, str]:
    """(value, source) of one option, as its environment variable spells it: the variable, else the
    option, else the default (``None`` when there is none). ``source``: ``env``, ``option``, ``default``."""
    option = _BY_KEY[key]
    value = _given(env, option.env)
    if value is not None:
        return value, "env"
    value = _from_option(option, env)
    if value is not None:
        return value, "option"
    return _default(option), "default"


def origin(key: str, source: str) -> str | None:
    """How a message names where a value was set: ``set by CODEX_FUSION_MODEL``, ``set by the plugin
    option model``; None for a default."""
    if source == "env":
        return f"set by {_BY_KEY[key].env}"
    if source == "option":
        return f"set by the plugin option {key}"
    return None


def effective_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each option the environment leaves unset filled in from Claude Code's value."""
    merged = dict(env)
    for option in OPTIONS:
        if _given(env, option.env) is not None:
            continue
        value = _from_option(option, env)
        if value is not None:
            merged[option.env] = value
    return merged


def describe(env: Mapping[str, str]) -> dict[str, str]:
    """Where each option's value comes from, for ``status``: ``env CODEX_FUSION_MODEL``, ``option
    model`` or ``default``. An option equal to its default counts as the default: Claude Code
    substitutes the manifest default into ``.mcp.json`` whether or not the user chose it."""
    sources: dict[str, str] = {}
    for option in OPTIONS:
        value, source = lookup(env, option.key)
        if source == "env":
            sources[option.key] = f"env {option.env}"
        elif source == "option" and value != _default(option):
            sources[option.key] = f"option {option.key}"
        else:
            sources[option.key] = "default"
    return sources


def manifest() -> dict[str, dict[str, object]]:
    """The ``userConfig`` block of ``.claude-plugin/plugin.json``."""
    return {option.key: option.manifest() for option in OPTIONS}
