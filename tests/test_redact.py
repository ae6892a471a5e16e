from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from codex_fusion.acp.schema import parse_update
from codex_fusion.mcp.progress import ProgressPump, streamed_line, turn_line
from codex_fusion.member.signal import Changes
from codex_fusion.member.transcript import Transcript
from codex_fusion.text.redact import REDACTED, StreamRedactor, credentials_in, redact, redact_credentials

from .redact_corpus import Shape, code_lines, secret_shapes


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

    from codex_fusion.text.redact import RedactingFormatter

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


# -- the corpora (tests/data): every secret shape caught in logs, no ordinary line changed for Claude

SHAPES = secret_shapes()
CODE = code_lines()


def test_the_corpora_are_large_enough_to_measure() -> None:
    assert len(SHAPES) >= 150
    assert len(CODE) >= 300
    assert sum(shape.claude for shape in SHAPES) >= 120


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_every_secret_shape_is_caught_in_logs(shape: Shape) -> None:
    out = redact(shape.text, env={})
    for secret in shape.secrets:
        assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.claude], ids=[s.name for s in SHAPES if s.claude])
def test_credential_formats_are_caught_in_what_claude_reads(shape: Shape) -> None:
    out = redact_credentials(shape.text, env={})
    for secret in shape.secrets:
        assert secret not in out
    assert credentials_in(shape.text, env={})


@pytest.mark.parametrize("line", CODE)
def test_ordinary_code_is_left_intact_in_what_claude_reads(line: str) -> None:
    assert redact_credentials(line, env={}) == line
    assert credentials_in(line, env={}) == []


def test_code_lines_of_the_issue_stay_as_they_are_even_among_credentials() -> None:
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    answer = (
        "Line 3 is fine:\n```python\ntoken = load_token(path)\npassword = getpass()\n"
        "secret_key = settings.SECRET_KEY\napi_key: str = Field(...)\n"
        'headers["Authorization"] = f"Bearer {token}"\n```\n'
        f"but the fixture hard-codes `{token}`."
    )
    out = redact_credentials(answer, env={})
    assert out == answer.replace(token, REDACTED)


@pytest.mark.parametrize(
    "line",
    [
        "token = load_token(path)",
        "password = getpass()",
        "secret_key = settings.SECRET_KEY",
        "client_secret=client_secret,",
        'api_key = os.environ.get("ANTHROPIC_API_KEY", "")',
        "max_tokens: int = 1024",
        "passwordFile: /run/secrets/db_password",
        'docker run -u 1000:1000 -v "$PWD:/src" builder make',
    ],
)
def test_logs_spare_code_that_only_names_a_secret(line: str) -> None:
    assert redact(line, env={}) == line


def test_the_issues_command_is_not_rewritten_by_either_tier() -> None:
    command = "token=$(sh<.git/x);make test"
    assert redact_credentials(command, env={}) == command
    assert redact(command, env={}) == command


def test_what_a_command_contains_is_named_without_the_secret() -> None:
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    env = {"DEPLOY_PASSWORD": "s3cret-value-1"}
    found = credentials_in(f"curl -H 'Authorization: token {token}' -d s3cret-value-1 x", env=env)
    assert found == ["a GitHub token (gh…_)", "the value of $DEPLOY_PASSWORD"]
    assert credentials_in("pytest -q tests/test_auth.py -k token", env=env) == []


def test_a_value_that_is_also_a_known_format_is_named_by_its_variable() -> None:
    key = "sk-" + "proj-" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6"
    assert credentials_in(f"echo {key}", env={"OPENAI_API_KEY": key}) == ["the value of $OPENAI_API_KEY"]


def test_a_streamed_text_never_releases_half_a_credential() -> None:
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    key = next(shape for shape in SHAPES if shape.name == "PGP private key block")  # a blank line inside
    text = f"Use it like this:\n\nexport GH_TOKEN={token}\n\n{key.text}\n\ndone."
    stream = StreamRedactor()
    out = "".join(stream.feed(text[at : at + 7]) for at in range(0, len(text), 7)) + stream.close()
    assert token not in out
    assert all(secret not in out for secret in key.secrets)
    for piece in (
        token[:12],
        token[12:24],
        token[24:],
        *(line for s in key.secrets for line in s.splitlines()),
    ):
        assert piece not in out  # no release boundary split a secret into parts no rule matches
    assert out.startswith("Use it like this:\n\nexport GH_TOKEN=[redacted]\n\n-----BEGIN PGP PRIV")
    assert out.endswith("\n\ndone.")


def test_a_progress_line_is_redacted_before_its_tail_is_cut() -> None:
    key = next(shape for shape in SHAPES if shape.name == "RSA private key")
    line = streamed_line(key.text + " then more", thought=False, final=False)
    # Tailing first would have kept the key's last lines and cut its header off: nothing to match.
    assert line.endswith("[redacted] -----END RSA PRIV" + "ATE KEY----- then more")
    assert all(part not in line for secret in key.secrets for part in secret.splitlines())


def test_a_progress_line_holds_back_a_credential_still_streaming() -> None:
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    assert streamed_line(f"the token is {token[:12]}", thought=True, final=False) == "💭 the token is"
    assert streamed_line("see postgres://app:hunt", thought=False, final=False) == "see"
    assert streamed_line("an ordinary wo", thought=False, final=False) == "an ordinary wo"
    assert streamed_line(f"the token is {token[:12]}", thought=False, final=True).endswith(token[:12])


@pytest.mark.anyio
async def test_progress_never_shows_part_of_a_credential_while_it_streams() -> None:
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    text = f"The fixture reads {token} from the file and then the test goes on for a while."
    sent: list[str] = []

    async def send(progress: float, message: str) -> None:
        sent.append(message)

    changes = Changes()
    pump = ProgressPump(send, interval=0, heartbeat=math.inf, changes=changes)
    transcript = Transcript(changes=changes)
    turn: Any = SimpleNamespace(transcript=transcript)
    pump.follow(lambda final: turn_line(turn, final))
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        for at in range(0, len(text), 5):
            chunk = {"type": "text", "text": text[at : at + 5]}
            update = parse_update({"sessionUpdate": "agent_message_chunk", "content": chunk})
            transcript.apply(update)
            await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    await pump.flush()
    assert len(sent) > 10
    assert any("reads [redacted] from" in message for message in sent)
    for message in sent:
        assert not any(token[at : at + 6] in message for at in range(len(token) - 5)), message
