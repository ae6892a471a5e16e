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
        ("aws AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("git clone https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/x", "ghp_0123456789abcdef"),
        ("token github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG"),
        ("slack xoxb-1234567890-abcdefghijkl", "xoxb-1234567890"),
        ("google AIzaSyA-0123456789abcdefghijklmnopqrstu", "AIzaSyA-0123456789"),
        ("db postgres://app:hunter2hunter2@db.internal:5432/x", "hunter2hunter2"),
        ("curl https://user:p4ss@example.com/api", "p4ss"),
        ("DB_PASSWORD=correct-horse", "correct-horse"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "dozjgNry",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXk",
        ),
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


def test_any_secret_sounding_variable_is_redacted_by_value() -> None:
    env = {"DATABASE_PASSWORD": "no shape at all 1", "STRIPE_SECRET": "plain-words-here", "HOME": "/root"}
    out = redact("pw no shape at all 1 and plain-words-here in /root", env=env)
    assert out == "pw [redacted] and [redacted] in /root"


def test_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from codex_fusion.redact import RedactingFormatter

    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "asking about run `curl %s`", ("sk-proj-abcdefghijkl",), None
    )
    assert "sk-proj" not in RedactingFormatter("%(message)s").format(record)


@pytest.mark.parametrize(
    "text",
    [
        '"tokens": 1234',
        "context: 5000 of 200000 tokens",
        "total_tokens=12",
        "see https://example.com/path@v2 and git@github.com:x/y.git",
        "the keyboard layout; passwords are hashed with bcrypt",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text, env={}) == text
