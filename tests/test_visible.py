"""Every invisible or space-like character in what Claude approves is made visible.

The oracle is independent of the code under test: the ``regex`` module's own Unicode properties
(``Default_Ignorable_Code_Point``, ``White_Space``, the general categories), which track a newer Unicode
than most Pythons' ``unicodedata``.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_fusion.acp.schema import PermissionOption
from codex_fusion.guardian.permissions import PendingPermission
from codex_fusion.guardian.policy import GuardianFlags, decide
from codex_fusion.member import render
from codex_fusion.member.turn import Pause
from codex_fusion.text.visible import MAX_MARKS, hidden, one_line, visible

#: Everything a reader cannot see or tell from a space, by the oracle's properties.
ORACLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{White_Space}\p{Cc}\p{Cf}\p{Z}\p{Co}\p{Cs}]")


@cache
def invisible_code_points() -> tuple[str, ...]:
    """Every code point the oracle calls invisible or space-like, except the ASCII space."""
    everything = "".join(chr(code) for code in range(sys.maxunicode + 1))
    return tuple(match.group() for match in ORACLE.finditer(everything) if match.group() != " ")


def token(char: str) -> str:
    return {"\t": "⟨TAB⟩", "\r": "⟨CR⟩", "\n": "⟨LF⟩"}.get(char, f"⟨U+{ord(char):04X}⟩")


def test_every_invisible_code_point_is_a_token() -> None:
    chars = invisible_code_points()
    assert len(chars) > 140_000  # the private-use planes, the tag block, the variation selectors …
    missed = [f"U+{ord(c):04X}" for c in chars if token(c) not in visible(f"a{c}b")]
    assert missed == []
    assert all(hidden(c) for c in chars)


@pytest.mark.parametrize(
    "char",
    [
        "\u00a0",  # NBSP
        *(chr(c) for c in range(0x2000, 0x200B)),  # EN QUAD .. HAIR SPACE
        "\u202f",  # NARROW NBSP
        "\u205f",  # MEDIUM MATHEMATICAL SPACE
        "\u3000",  # IDEOGRAPHIC SPACE
        "\u2800",  # BRAILLE PATTERN BLANK: no property says it is blank
        "\u3164",  # HANGUL FILLER
        "\uffa0",  # HALFWIDTH HANGUL FILLER
        "\u115f",  # HANGUL CHOSEONG FILLER
        "\u1160",  # HANGUL JUNGSEONG FILLER
        "\u2028",  # LINE SEPARATOR
        "\u2029",  # PARAGRAPH SEPARATOR
        "\t",
        "\u200b",  # ZERO WIDTH SPACE
        "\u200d",  # ZWJ
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u061c",  # ARABIC LETTER MARK
        "\ufe0f",  # VARIATION SELECTOR-16
        "\U000e0041",  # TAG LATIN CAPITAL LETTER A
        "\U000e0100",  # VARIATION SELECTOR-17
        "\u034f",  # COMBINING GRAPHEME JOINER (a mark, but default-ignorable)
        "\u00ad",  # SOFT HYPHEN
        "\u180e",  # MONGOLIAN VOWEL SEPARATOR
        "\U0001d173",  # MUSICAL SYMBOL BEGIN BEAM
    ],
)
def test_the_known_tricks_are_tokens(char: str) -> None:
    shown = visible(f"cat README.md{char * 3}; touch X")
    assert char not in shown
    assert shown == f"cat README.md{token(char)[:-1]} ×3⟩; touch X"


def test_a_padded_command_shows_what_it_is() -> None:
    command = "cat README.md" + "\u00a0" * 200 + "; touch X"
    assert visible(command, multiline=True) == "cat README.md⟨U+00A0 ×200⟩; touch X"
    assert visible("ls" + " " * 500 + "; rm x") == "ls⟨500 blanks⟩; rm x"


def test_plain_text_is_unchanged() -> None:
    for text in ("src/ünïcödé 🐍 名前.py", "git commit -m 'fix: a b'", "ÿ Ω ж ש ع 한 ไทย", "cafe\u0301"):
        assert visible(text) == text


def test_line_feeds_break_lines_only_in_multiline_texts() -> None:
    assert visible("a\nb", multiline=True) == "a\nb"
    assert visible("a\nKind: read") == "a⟨LF⟩Kind: read"  # one line of a pause cannot forge the next
    assert visible("a\r\nb", multiline=True) == "a⟨CR⟩\nb"
    # indentation stays readable in a diff or a script; padding elsewhere does not
    assert visible("def f():\n        return 1", multiline=True) == "def f():\n        return 1"
    assert visible("x = 1        # padded", multiline=True) == "x = 1⟨8 blanks⟩# padded"


def test_combining_marks_need_a_base_and_cannot_pile_up() -> None:
    assert visible("e\u0301") == "e\u0301"  # an accent on a letter is what it looks like
    assert visible(";\u0338") == ";⟨U+0338⟩"  # an overlay on punctuation is shown
    assert visible(" \u0301x") == " ⟨U+0301⟩x"  # no base at all
    piled = "a" + "\u0300" * (MAX_MARKS + 2)
    assert visible(piled) == "a" + "\u0300" * MAX_MARKS + "⟨U+0300⟩⟨U+0300⟩"


def test_a_text_cannot_forge_a_token() -> None:
    assert visible("ls⟨U+0020⟩") == "ls⟨U+27E8⟩U+0020⟨U+27E9⟩"


def test_one_line_cuts_between_tokens() -> None:
    text = "a" * 10 + "\u00a0" + "b" * 20
    assert one_line(text, 14) == "a" * 10 + "…"
    assert one_line("short\u200b", 100) == "short⟨U+200B⟩"


# --------------------------------------------------------------------------------------------
# Through the pause: what the guardian decided, rendered as Claude reads it


def pause_text(tool_call: dict[str, Any], workspace: Path) -> str:
    decision = decide(tool_call, workspace, GuardianFlags())
    assert decision.action == "ask", decision
    options = [PermissionOption.model_validate({"optionId": "allow_once", "name": "y", "kind": "allow_once"})]
    request = PendingPermission(1, tool_call, options, decision)
    return render.pause(Pause(request, text_so_far="", elapsed=0.0, waiting_behind=0))


def invisible_chars() -> st.SearchStrategy[str]:
    # A line feed inside a command is shown as the line break it is (the command is in a code block).
    return st.sampled_from([c for c in invisible_code_points() if c != "\n"])


plain = st.text(st.characters(codec="ascii", exclude_characters="\n\r\t\x0b\x0c"), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.tuples(plain, invisible_chars()), min_size=1, max_size=4),
    tail=st.text(st.characters(categories=["L", "N"], codec="ascii"), min_size=1, max_size=8),
    shape=st.sampled_from(["string", "bash", "argv"]),
)
def test_any_invisible_character_in_a_command_is_visible_in_the_pause(
    tmp_path_factory: pytest.TempPathFactory, parts: list[tuple[str, str]], tail: str, shape: str
) -> None:
    command = "".join(text + char for text, char in parts) + tail
    raw: Any = {"string": command, "bash": ["/bin/bash", "-lc", command], "argv": ["echo", command]}[shape]
    workspace = tmp_path_factory.getbasetemp()
    text = pause_text({"kind": "execute", "rawInput": {"command": raw, "cwd": str(workspace)}}, workspace)
    for _, char in parts:
        assert char not in text, (char, text)
        assert token(char)[:-1] in text  # ⟨U+XXXX⟩, or ⟨U+XXXX ×n⟩ for a run


@settings(max_examples=100, deadline=None)
@given(name=st.tuples(plain, invisible_chars(), plain).map("".join))
def test_any_invisible_character_in_a_path_is_visible_in_the_pause(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    workspace = tmp_path_factory.getbasetemp()
    paths = [f"src/{name.replace('/', '_')}", "src/other.py"]
    text = pause_text({"kind": "edit", "locations": [{"path": p} for p in paths]}, workspace)
    for char in name:
        if hidden(char):
            assert char not in text, (char, text)


def test_every_url_of_a_request_is_in_the_pause(tmp_path: Path) -> None:
    urls = ["https://a.example/x", "https://b.example/\u200by"]
    tool_call = {"kind": "read", "locations": [{"path": str(tmp_path)}], "rawInput": {"urls": urls}}
    text = pause_text(tool_call, tmp_path)
    assert "URLs (2):\n- https://a.example/x\n- https://b.example/⟨U+200B⟩y" in text


def test_the_working_directory_and_the_summary_show_their_tokens(tmp_path: Path) -> None:
    cwd = tmp_path / "a\u00a0b\u2028c"
    cwd.mkdir()
    text = pause_text({"kind": "execute", "rawInput": {"command": "ls\u3000-la", "cwd": str(cwd)}}, tmp_path)
    assert "Working directory: a⟨U+00A0⟩b⟨U+2028⟩c" in text
    assert "Codex wants to: run `ls⟨U+3000⟩-la` (cwd a⟨U+00A0⟩b⟨U+2028⟩c)" in text
    assert not any(ch in text for ch in "\u00a0\u2028\u3000")
