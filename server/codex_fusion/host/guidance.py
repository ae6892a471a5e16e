"""What a host's model is taught, always on, about consulting through codex-fusion: written once, in
Claude Code's words (the skills' gist), and rendered per host by :func:`identity.render`.

Claude Code carries it in its skills and the server's instructions; Codex CLI in an ``AGENTS.md``
snippet (``hosts/codex/guidance.md``), Gemini CLI in the extension's context file
(``hosts/gemini/CODEX-FUSION.md``). Those files are this text rendered (``codex-fusion guidance
HOST`` prints it; a test keeps them equal).
"""

from __future__ import annotations

from codex_fusion.host import identity
from codex_fusion.host.identity import Host

GUIDANCE = """\
# Consulting Codex (codex-fusion)

Codex is a peer with its own persistent session in this workspace, reached through the codex-fusion \
MCP tools. Codex advises; Claude decides.

- Consult before a costly or hard-to-reverse choice, when stuck after two attempts, or to review a \
plan (`review_plan`) or a change (`review_diff`) before calling it done. Not for trivia.
- Ask one self-contained question with the options and constraints; put what Codex cannot read in \
`context`. Do not lead with your answer.
- Every answer ends with a VERDICT. `consensus`: act on it (check its claims). `open`: `reply` with \
new evidence or a concrete counter-argument, or decide. By round 3, decide.
- A result that starts with ⏸ is paused: judge exactly what Codex wants to run or write, and where, \
then `permit` allow, deny (with a note) or cancel.
- A result with a handle (c1) is still running: collect it with `task` show.
- For a decision that matters, `members` ["all"] with your own `my_take` asks a council.
- `delegate` a well-specified change (paths, criteria); read the patch before `task` accept.
- `reset` before an unrelated task when `status` says Claude's conversation is not followed; \
`status` when something fails.
"""


def render(host: Host) -> str:
    return identity.render(host, GUIDANCE)
