"""File names as Codex and Claude read them: quoted the way git quotes paths in diff headers.

A file name in a hostile repository can hold a newline, an escape sequence, a bidi override (U+202E)
or an invisible character, and so forge lines of what we show or make one name look like another.
Every name the diff module writes into text goes through :func:`shown`: git's C-style quoting
(``"tab\\there"``), and, beyond git's own rule with ``core.quotePath=false``, every byte of a
non-ASCII character that does not show as itself (controls, format and bidi characters, separators,
spaces other than the ASCII one, blank-looking letters, private-use and unassigned code points)
and of invalid UTF-8 as ``\\ooo``, as git writes every non-ASCII byte with ``core.quotePath=true``.
Readable names (``é.txt``, ``with space.txt``) stay as they are.
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPES = {0x07: b"a", 0x08: b"b", 0x09: b"t", 0x0A: b"n", 0x0B: b"v", 0x0C: b"f", 0x0D: b"r"}

#: Unicode categories that never show as themselves: controls, format (bidi, zero-width), surrogates
#: (invalid UTF-8, decoded with surrogateescape), private use, unassigned, line and paragraph
#: separators, and spaces (the ASCII space is not looked up here).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})

#: Letters and marks that render blank or not at all: Hangul fillers, the braille blank, the
#: combining grapheme joiner, Khmer and Mongolian invisible vowels and selectors, variation selectors.
_HIDDEN_CHARS = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


#: The bytes git quotes in a name (ASCII controls, DEL, the double quote, the backslash).
_GIT_QUOTED = re.compile(rb'[\x00-\x1f"\\\x7f]')


def git_quote(path: bytes) -> bytes:
    """``path`` exactly as git writes it in a diff header with ``core.quotePath=false``: in double
    quotes, C-style, when it holds an ASCII control character, a double quote or a backslash. Used to
    recognise git's own lines, never to show a name."""
    if _GIT_QUOTED.search(path) is None:
        return path
    out = bytearray(b'"')
    for byte in path:
        out += _escape_ascii(byte)
    return bytes(out + b'"')


def plain(path: bytes) -> bool:
    """True when ``path`` is shown as it is: git quotes nothing in it, and neither does :func:`quote`."""
    return path.isascii() and _GIT_QUOTED.search(path) is None


def quote(path: bytes) -> bytes:
    """``path`` safe to show: git's quoting, and every character that does not show as itself as
    octal bytes (see the module docstring). Always valid UTF-8."""
    if plain(path):
        return path  # the common case, at C speed: nothing to quote
    out = bytearray()
    quoted = False
    for char in path.decode("utf-8", "surrogateescape"):
        code = ord(char)
        if code < 0x80:
            escaped = _escape_ascii(code)
            quoted = quoted or len(escaped) > 1
            out += escaped
        elif _hidden(char):
            raw = bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else char.encode("utf-8")
            out += b"".join(b"\\%03o" % byte for byte in raw)
            quoted = True
        else:
            out += char.encode("utf-8")
    return b'"' + bytes(out) + b'"' if quoted else bytes(out)


def shown(path: bytes | str) -> str:
    """A file name (bytes as git gives them, or text) as it may appear in anything a model reads."""
    raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else path
    return quote(raw).decode("utf-8")


def short(name: str, limit: int = 160) -> str:
    """A shown name cut to ``limit`` characters for a list, its end kept (where the file's own name
    is) behind a mark; the diff itself always names the file whole."""
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


def unhidden(text: str) -> str:
    """Free text (git's own messages, which may quote a file name) with every character that does
    not show as itself written as octal bytes, unquoted otherwise."""
    out = []
    for char in text:
        code = ord(char)
        if (code < 0x20 or code == 0x7F) or (code >= 0x80 and _hidden(char)):
            raw = bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else char.encode("utf-8")
            out.append("".join(f"\\{byte:03o}" for byte in raw))
        else:
            out.append(char)
    return "".join(out)


def _escape_ascii(byte: int) -> bytes:
    if byte in _ESCAPES:
        return b"\\" + _ESCAPES[byte]
    if byte < 0x20 or byte == 0x7F:
        return b"\\%03o" % byte
    if byte in b'"\\':
        return b"\\" + bytes([byte])
    return bytes([byte])


def _hidden(char: str) -> bool:
    return char in _HIDDEN_CHARS or unicodedata.category(char) in _HIDDEN_CATEGORIES
