"""What the server writes around members' answers cannot be imitated from inside one (issue 25 item 4).

A council result is the server's lines — the ``━━ name ━━`` seat headers, the ``Council round …``
agreement line, bracketed ``[…]`` instructions — around each member's answer, verbatim. An answer
that contains such lines would forge them where Claude reads them. So the heavy rule ``━`` is the
server's alone (an answer's becomes the light ``─``), and an answer's line that looks like the
agreement line or a bracketed instruction — after any line break Unicode knows, CR, NEL and U+2028
included — is marked ``┆`` as the member's. Nothing else in the answer changes.
"""

from __future__ import annotations

import re
from typing import Final

#: The server's own rule character, and what it becomes inside an answer.
RULE: Final = "━"
ANSWER_RULE: Final = "─"
#: Lines only the server writes (matched after leading blanks and Markdown emphasis or quoting).
_SERVER_LINE: Final = re.compile(r"(council\b|\[.*\]\s*$)", re.IGNORECASE)
_LEAD: Final = re.compile(r"^[\s*_>#`~|-]*")
MARK: Final = "┆ "


def neutralise(answer: str) -> str:
    """``answer`` with the server's rule made light and its look-alike lines marked as the member's."""
    out: list[str] = []
    for line in answer.replace(RULE, ANSWER_RULE).splitlines(keepends=True):
        body = _LEAD.sub("", line)
        out.append(MARK + line if _SERVER_LINE.match(body) else line)
    return "".join(out)
