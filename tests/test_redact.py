from __future__ import annotations

import pytest

from codex_fusion.redact import redact


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("key sk-proj-abcdefghijklmnop here", "abcdefghijklmnop"),
        ("Authorization: Bearer abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),
        ('{"api_key": "zzzzyyyyxxxx1234"}', "zzzzyyyyxxxx1234"),
        ("OPENAI_API_KEY=qwertyuiop123456", "qwertyuiop123456"),
        ("access_token=abcdefgh12345678", "abcdefgh12345678"),
    ],
)
def test_secrets_are_redacted(text: str, leak: str) -> None:
    out = redact(text, env={})
    assert leak not in out
    assert "[redacted]" in out


def test_secret_values_from_the_environment_are_redacted() -> None:
    assert (
        redact("the key is plainvalue99", env={"OPENAI_API_KEY": "plainvalue99"}) == "the key is [redacted]"
    )


@pytest.mark.parametrize("text", ['"tokens": 1234', "context: 5000 of 200000 tokens", "total_tokens=12"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text, env={}) == text
