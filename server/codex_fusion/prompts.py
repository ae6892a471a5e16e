"""Prompt builders: one pure function per tool, block-structured, with the debate frame."""

from __future__ import annotations

ROLE = """<role>
You are Codex, consulted by Claude (another coding agent) who is in the middle of a task in this
workspace. You are an independent peer, not an assistant to please: agree where Claude is right,
disagree plainly where it is not, and say which points matter most.
</role>"""

GROUNDING = """<grounding>
- Read the code before you claim anything about it; cite files as path:line.
- Label guesses as hypotheses. If you lack context you cannot read yourself, say exactly what is missing.
- You are advising: do not edit files or run commands that change anything unless Claude asked for it.
</grounding>"""

DEBATE = """<debate>
This is a short debate (about three exchanges): Claude may reply to your answer. Converge; do not
repeat yourself. End every answer with one line:
VERDICT: CONSENSUS — <the agreed point>   or   VERDICT: OPEN — <what is still disputed>
</debate>"""


def _block(tag: str, body: str | None) -> str:
    body = (body or "").strip()
    return f"<{tag}>\n{body}\n</{tag}>" if body else ""


def consult_prompt(question: str, context: str | None = None) -> str:
    """A second opinion on a question, with optional context from Claude."""
    parts = [
        ROLE,
        GROUNDING,
        _block("context", context),
        _block("question", question),
        "<answer_format>\nA direct answer first (a few sentences), then the reasons as short bullets."
        "\n</answer_format>",
        DEBATE,
    ]
    return "\n\n".join(part for part in parts if part)


def with_notes(prompt: str, notes: list[str]) -> str:
    """Claude's notes about earlier permission decisions, ahead of the next prompt (ACP has no field
    for them on the permission answer itself)."""
    if not notes:
        return prompt
    return "<notes_from_claude>\n" + "\n".join(notes) + "\n</notes_from_claude>\n\n" + prompt


def decision_note(what: str, approved: bool, note: str) -> str:
    return f"About your request to {what}, which I {'approved' if approved else 'denied'}: {note}"


def denied_continuation(what: str, note: str) -> str:
    """The prompt that continues a consultation after a deny ended Codex's turn."""
    text = (
        f"Claude, who approves your actions in this consultation, denied your request to {what}. "
        "Do not retry it or work around it. Continue the consultation without it, and say briefly "
        "what you could not check because of it."
    )
    if note:
        text += f"\n\nClaude's note: {note}"
    return text


def refused_continuation(what: str) -> str:
    """The prompt that continues after codex-fusion refused a request it could not show Claude whole."""
    return (
        f"codex-fusion refused your request to {what}: it was too large for Claude to review. "
        "Continue the consultation without it; if you need something run, ask for a short command."
    )
