"""The fixes codex-fusion tells people and Claude agree with each other, wherever they are written."""

from __future__ import annotations

import re
from pathlib import Path

from codex_fusion.cli import doctor
from codex_fusion.cli.doctor import Check
from codex_fusion.errors import LOGIN_COMMAND

REPO = Path(__file__).resolve().parents[1]
WRITTEN = ("server", "commands", "skills", "agents", "hooks", "docs", "README.md", "bin")


def _texts() -> list[Path]:
    files: list[Path] = []
    for name in WRITTEN:
        path = REPO / name
        files += [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in (".py", ".md", "")]
    # ADRs record a decision as it was taken, quoting the texts of the day.
    return [p for p in files if p.is_file() and not {"__pycache__", "adr"} & set(p.parts)]


def test_one_login_command_everywhere() -> None:
    """`codex login` needs a `codex` on PATH, which nothing here installs: the fix is always the npx one."""
    assert LOGIN_COMMAND == "npx -y @openai/codex login"
    stray = []
    for path in _texts():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in re.finditer(r"codex login", text):
            if not text[: match.start()].endswith("npx -y @openai/"):
                line = text.count("\n", 0, match.start()) + 1
                stray.append(f"{path.relative_to(REPO)}:{line}")
    assert stray == [], f"a login fix other than `{LOGIN_COMMAND}`: {stray}"


def test_the_doctors_last_line_says_what_works_in_claude_code() -> None:
    report = doctor.report([Check("fail", "uv", "not on PATH", "install it")])
    assert report.splitlines()[-1] == (
        "1 problem(s): fix them, then check again with `/codex-fusion:codex-setup` in Claude Code "
        "(in a terminal: the plugin's `bin/codex-fusion doctor`)."
    )


def test_the_readme_says_what_a_newcomer_needs() -> None:
    """How to run the plugin's codex-fusion, what a TLS-intercepting proxy needs for uv, and how a
    person takes the permit decision back from Claude."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "bin/codex-fusion setup" in readme
    assert "! codex-fusion setup" in readme
    proxy = readme[readme.index("**Behind a proxy**") :].split("\n- **", 1)[0]
    for needed in ("HTTPS_PROXY", "SSL_CERT_FILE", "UV_SYSTEM_CERTS", "UV_NATIVE_TLS", "NODE_EXTRA_CA_CERTS"):
        assert needed in proxy, needed
    assert '{"permissions": {"ask": ["mcp__plugin_codex-fusion_codex__permit"]}}' in readme


def test_key_fixes_name_the_keychain_option_and_never_a_plain_settings_file() -> None:
    """The README keeps keys out of plain files: the fixes say the same (the option first)."""
    from codex_fusion.launch.login import NOT_LOGGED_IN, not_logged_in

    for fix in (doctor.LOGIN, NOT_LOGGED_IN):
        assert "settings.json" not in fix
        assert "`openai_api_key`" in fix
        assert fix.index("`openai_api_key`") < fix.index("environment")
    for name, key in (("Claude", "ANTHROPIC_API_KEY"), ("Gemini", "GEMINI_API_KEY")):
        member = not_logged_in(name)
        assert f"set {key} in the environment Claude Code is started from" in member
        assert "CODEX_FUSION_MEMBERS" not in member
        assert "in its `env`" not in member
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    trouble = readme[readme.index("## Troubleshooting") :]
    assert "**A council member is not logged in**" in trouble
    assert "ANTHROPIC_API_KEY" in trouble
