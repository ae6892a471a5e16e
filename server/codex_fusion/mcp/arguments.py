"""Tool arguments as a model reads about them: one sentence per mistake, never a validation dump.

The MCP SDK validates a call's arguments in one place, ``Tool.run``, and reports a mismatch as a
``ToolError`` whose cause is pydantic's ``ValidationError`` (several lines, a documentation URL).
:class:`ArgumentTool` is the SDK's ``Tool`` with that one error rewritten by :func:`sentence`: which
argument was wrong, the form it takes (read from the tool's own input schema, so it cannot drift),
and what to do next. Nothing else about a call changes.

:data:`MembersArg` is the council's ``members`` argument: a list of names, ``["all"]``, or the bare
string ``"all"`` (or one name), which is what a model tries first.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import BeforeValidator, Field, ValidationError

from codex_fusion.text import wellformed
from codex_fusion.text.redact import redact_credentials

#: How much of a rejected value the sentence quotes.
_QUOTED = 40


def _listed(value: Any) -> Any:
    """A single name (``"all"``, ``"gemini"``) is a list of one; anything else is left to validation."""
    return [value] if isinstance(value, str) else value


#: Put in a ``list[str]`` argument's ``Annotated`` to take a single name as a list of one.
OneOrMany = BeforeValidator(_listed)

MembersArg = Annotated[
    list[str] | None,
    OneOrMany,
    Field(description='Council: names, or "all"; needs my_take.'),
]


def _form(prop: dict[str, Any]) -> str:
    """What a schema property accepts, in words: ``a number from 1 to 600``, ``one of "allow", "deny"``."""
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(value) for value in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        inner = {"string": "strings", "integer": "whole numbers", "number": "numbers"}.get(items.get("type"))
        form = f"a list of {inner}" if inner else "a list"
    elif kind in ("number", "integer"):
        form = "a number" if kind == "number" else "a whole number"
        bounds = [
            f"{word} {prop[key]:g}"
            for key, word in (
                ("minimum", "at least"),
                ("exclusiveMinimum", "above"),
                ("maximum", "at most"),
                ("exclusiveMaximum", "below"),
            )
            if key in prop
        ]
        if bounds:
            form += " " + " and ".join(bounds)
    else:
        form = {"string": "a string", "boolean": "true or false", "object": "an object"}.get(str(kind), "")
    description = prop.get("description")
    if description and kind == "array":  # a list's description says what goes in it (members: "all")
        form += f" ({description.rstrip('.')})"
    return form or "as the tool's schema says"


def _quoted(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _QUOTED:
        text = text[: _QUOTED - 1] + "…"
    return redact_credentials(text)


def sentence(tool: str, error: ValidationError, schema: dict[str, Any]) -> str:
    """One sentence for a call whose arguments did not validate: what was wrong, the valid form, what next."""
    properties: dict[str, Any] = schema.get("properties", {})
    problems: dict[str, str] = {}
    for problem in error.errors():
        location = problem.get("loc") or ("arguments",)
        name = str(location[0])
        if name in problems:
            continue
        prop = properties.get(name)
        if problem.get("type") == "missing":
            form = _form(prop) if prop else "given"
            problems[name] = f"`{name}` is missing (it takes {form})"
        elif prop is None:
            problems[name] = f"`{name}` is not an argument of {tool}"
        else:
            problems[name] = f"`{name}` must be {_form(prop)}, not {_quoted(problem.get('input'))}"
    said = "; ".join(problems.values()) or "the arguments do not match its schema"
    return wellformed.text(f"{tool} was not run: {said}. Call it again with that fixed.")


class ArgumentTool(Tool):
    """The SDK's tool, with an argument mismatch reported as :func:`sentence` instead of pydantic's dump."""

    async def run(
        self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False
    ) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):  # the tool's own error, already a sentence
                raise
            raise ToolError(sentence(self.name, cause, self.parameters)) from cause
