"""Nothing hidden: every invisible or space-like character in a text Claude approves, made visible.

A character is *hidden* when a reader cannot see it or cannot tell it from a plain space. The class
comes from Unicode properties, not from a list of known tricks:

- general categories ``Cc`` (controls: tab, CR, ESC …), ``Cf`` (format: bidi controls, zero-width
  characters, tags, the soft hyphen …), ``Zs`` other than the ASCII space (NBSP, U+2000–U+200A, U+202F,
  U+205F, U+3000 …), ``Zl``/``Zp`` (U+2028/U+2029), ``Cs`` (lone surrogates), ``Co`` (private use:
  no standard glyph) and ``Cn`` (unassigned in this Python's Unicode data, which covers characters
  newer than it, and the reserved default-ignorable blocks);
- ``Default_Ignorable_Code_Point``: the stdlib has no such property, but it is derived (Unicode
  ``DerivedCoreProperties.txt``) from ``Cf``, ``Variation_Selector`` and
  ``Other_Default_Ignorable_Code_Point`` less a few ``Cf`` — so only those two small ``PropList.txt``
  properties are listed here (:data:`_IGNORABLE`); a test checks the whole class against the
  ``regex`` module's own ``Default_Ignorable_Code_Point`` and ``White_Space``;
- combining marks (``Mn``, ``Me``) that have no letter or digit to sit on, or pile up (more than
  :data:`MAX_MARKS` on one base): they can overlay or hide what is next to them;
- graphic characters drawn blank, which no property names (:data:`_BLANK_GLYPHS`: the braille blank).

Each is shown as a token — ``⟨U+00A0⟩``, ``⟨TAB⟩``, ``⟨CR⟩``, a run as ``⟨U+00A0 ×40⟩`` — and eight or
more ASCII spaces in a row as ``⟨N blanks⟩``. The token brackets themselves are tokens when they occur
in the text, so a text cannot forge one. Nothing is dropped or reordered: the tokens say exactly what
is there, the text itself (what runs) is never changed.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MAX_MARKS", "hidden", "one_line", "visible"]

#: Variation_Selector and Other_Default_Ignorable_Code_Point (Unicode PropList.txt): the part of
#: Default_Ignorable_Code_Point that is neither Cf nor unassigned (combining marks and Hangul fillers).
_IGNORABLE: Final = (
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x115F, 0x1160),  # HANGUL CHOSEONG/JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ/AA
    (0x180B, 0x180D),  # MONGOLIAN FREE VARIATION SELECTORS ONE..THREE
    (0x180F, 0x180F),  # MONGOLIAN FREE VARIATION SELECTOR FOUR
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTORS 1..16
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xE0100, 0xE01EF),  # VARIATION SELECTORS 17..256
)
#: Graphic characters fonts draw as blank space, which no Unicode property marks.
_BLANK_GLYPHS: Final = frozenset({"\u2800"})  # BRAILLE PATTERN BLANK
_HIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Cs", "Co", "Cn"})
_MARKS: Final = frozenset({"Mn", "Me"})
#: Combining marks one base character may carry before the rest are shown as tokens.
MAX_MARKS: Final = 3
_BLANK_RUN: Final = 8  # ASCII spaces in a row shown as ⟨N blanks⟩
_INDENT: Final = 40  # leading spaces of a line left as they are in a multi-line text
_NAMES: Final = {"\t": "TAB", "\r": "CR", "\n": "LF"}
_BRACKETS: Final = frozenset("⟨⟩")


def _ignorable(code: int) -> bool:
    return any(low <= code <= high for low, high in _IGNORABLE)


def hidden(char: str) -> bool:
    """True for a character a reader cannot see or cannot tell from a space (the ASCII space is not
    hidden; combining marks depend on their base, see :func:`visible`)."""
    if char == " ":
        return False
    return (
        unicodedata.category(char) in _HIDDEN_CATEGORIES
        or char in _BLANK_GLYPHS
        or _ignorable(ord(char))
        or char.isspace()
    )


def _token(char: str, count: int) -> str:
    name = _NAMES.get(char) or f"U+{ord(char):04X}"
    return f"⟨{name}⟩" if count == 1 else f"⟨{name} ×{count}⟩"


def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with every hidden character as a token. ``multiline`` keeps line feeds as line breaks
    (a command or a diff shown in a code block); otherwise they are ``⟨LF⟩`` too, so one line of a pause
    cannot forge the next."""
    out: list[str] = []
    i, size = 0, len(text)
    line_start = True  # at the start of a line (for indentation in a multi-line text)
    marks = 0  # combining marks on the current base; -1 when there is no base to carry them
    base_ok = False
    while i < size:
        char = text[i]
        if char == "\n" and multiline:
            out.append(char)
            i += 1
            line_start, base_ok, marks = True, False, 0
            continue
        if char == " ":
            j = i
            while j < size and text[j] == " ":
                j += 1
            run = j - i
            indent = multiline and line_start and run <= _INDENT
            out.append(" " * run if run < _BLANK_RUN or indent else f"⟨{run} blanks⟩")
            i = j
            line_start, base_ok, marks = False, False, 0
            continue
        category = unicodedata.category(char)
        if category in _MARKS and not _ignorable(ord(char)):
            if base_ok and marks < MAX_MARKS:
                out.append(char)
                marks += 1
            else:
                out.append(_token(char, 1))
            i += 1
            line_start = False
            continue
        if hidden(char) or char in _BRACKETS:
            j = i
            while j < size and text[j] == char:
                j += 1
            out.append(_token(char, j - i))
            i = j
            line_start, base_ok, marks = False, False, 0
            continue
        out.append(char)
        i += 1
        line_start = False
        base_ok, marks = category[0] in "LN", 0
    return "".join(out)


def one_line(text: str, limit: int) -> str:
    """``text`` on one line with every hidden character as a token, cut with … at ``limit`` characters
    (never inside a token)."""
    shown = visible(text)
    if len(shown) <= limit:
        return shown
    cut = shown[: limit - 1]
    opened = cut.rfind("⟨")
    if opened > cut.rfind("⟩"):
        cut = cut[:opened]
    return cut + "…"
