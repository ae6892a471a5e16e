# ruff: noqa: F811  (the fixtures imported from test_claude_e2e are parameters here, by name)
"""Plugin options and the review gate in the real Claude Code CLI, with the real TypeScript codex-acp.

Claude Code runs headless against the mock Anthropic API; codex-fusion's server runs the real TS
adapter against the mock OpenAI model (``mock_openai.py``), which records what it is asked. The
options are set the way a user sets them: ``claude plugin install --config k=v`` and ``claude plugin
configure --values-stdin``, never by editing a file.

- ``model``/``effort`` reach the server and the model request the mock receives; a change made with
  ``plugin configure`` applies to the next start;
- the sensitive ``openai_api_key`` is in Claude Code's credential store (``~/.claude/.credentials.json``,
  0600, on a Linux without a keychain) and in no other file;
- the gate does nothing on a turn that changed no file, blocks once on a turn that wrote a bug (the
  reason carries Codex's finding), lets the stop after it through, and fails open when Codex is not
  logged in.
"""

from __future__ import annotations

import json
import shlex
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from claude_cli import TOOL_PREFIX, ClaudeSandbox
from e2e_adapters import Adapter, write_codex_config
from mock_anthropic import MockAnthropic, call_tool, say
from mock_openai import MockResponses
from mock_openai import say as codex_says
from test_claude_e2e import claude_binary, uv_binary  # noqa: F401  (fixtures, used by name)

from codex_fusion.hookside import nonce

CONSULT = TOOL_PREFIX + "consult"
SECRET = "sk-proj-e2e-" + "S3CR3T" * 6
MODEL = "gpt-6-luna"  # offered by the TS adapter, and not its default (gpt-5.5 in the mock's config)
FIXED = "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n"
FINDING = "FINDING: blocker src/stats.py:2 — divides by zero when xs is empty; return 0.0 for []"


@pytest.fixture(scope="module")
def codex_model() -> Iterator[MockResponses]:
    with MockResponses() as mock:
        yield mock


def git(project: Path, *args: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    subprocess.run(["git", *ident, *args], cwd=project, env=env, check=True, capture_output=True)


@dataclass
class Plugin:
    sandbox: ClaudeSandbox
    codex_home: Path


def install(root: Path, claude: Path, uv: str, adapter: Adapter, codex_home: Path, *config: str) -> Plugin:
    sandbox = ClaudeSandbox(root, claude, uv)
    (sandbox.project / "README.md").write_text("# e2e\n")
    git(sandbox.project, "init", "-q")
    git(sandbox.project, "add", "-A")
    git(sandbox.project, "commit", "-q", "-m", "base")
    sandbox.update_settings(
        env={
            "CODEX_FUSION_ACP_COMMAND": shlex.join(adapter.argv),
            "CODEX_HOME": str(codex_home),
            "NO_BROWSER": "1",
            "CODEX_FUSION_STARTUP_TIMEOUT_MS": "60000",
        }
    )
    sandbox.install_plugin(config=config)
    return Plugin(sandbox, codex_home)


@pytest.fixture(scope="module")
def configured(
    tmp_path_factory: pytest.TempPathFactory,
    claude_binary: Path,
    uv_binary: str,
    ts_adapter: Adapter,
    codex_model: MockResponses,
) -> Plugin:
    """A user who installed the plugin with options (a sensitive one among them), Codex logged in to
    the mock model (a non-OpenAI provider needs no login)."""
    root = tmp_path_factory.mktemp("options")
    codex_home = root / "codex_home"
    write_codex_config(codex_home, codex_model.base_url)
    return install(
        root,
        claude_binary,
        uv_binary,
        ts_adapter,
        codex_home,
        f"model={MODEL}",
        "effort=high",
        "review_gate=true",
        f"openai_api_key={SECRET}",
    )


def responses(mock: MockResponses) -> list[dict[str, object]]:
    return [r.body for r in mock.requests if r.method == "POST" and not r.side and isinstance(r.body, dict)]


def test_options_are_stored_by_claude_code_and_the_secret_only_in_its_credential_store(
    configured: Plugin,
) -> None:
    home = configured.sandbox.home
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    stored = settings["pluginConfigs"]["codex-fusion@codex-fusion"]["options"]
    assert stored["model"] == MODEL
    assert stored["review_gate"] is True
    assert "openai_api_key" not in stored
    credentials = home / ".claude" / ".credentials.json"
    assert json.loads(credentials.read_text())["pluginSecrets"]["codex-fusion@codex-fusion"] == {
        "openai_api_key": SECRET
    }
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    holders = [
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_file() and path != credentials and SECRET.encode() in path.read_bytes()
    ]
    assert holders == []


def test_model_and_effort_reach_the_model_request_and_a_turn_without_changes_is_not_gated(
    configured: Plugin, codex_model: MockResponses
) -> None:
    sandbox = configured.sandbox
    codex_model.requests.clear()
    codex_model.script([codex_says("OPTIONS-ANSWER: a lock is enough.\nVERDICT: CONSENSUS — lock it")])
    with MockAnthropic() as claude_model:
        claude_model.script(call_tool("consult", {"question": "Is a file lock enough?"}), say("Done."))
        run = sandbox.ask("Ask Codex.", base_url=claude_model.base_url, allowed_tools=[CONSULT])
        [result] = claude_model.tool_results()
    assert run.result.get("subtype") == "success", run.describe()
    assert "OPTIONS-ANSWER" in result.text
    footer = result.text.splitlines()[-1]
    assert footer.startswith(f"— codex · {MODEL} high · "), footer  # the model the agent says answered
    asked = responses(codex_model)
    assert len(asked) == 1, "the Stop gate must not review a turn that changed no file"
    assert asked[0]["model"] == MODEL
    assert asked[0]["reasoning"]["effort"] == "high"


def test_an_option_changed_with_plugin_configure_applies_to_the_next_start(
    configured: Plugin, codex_model: MockResponses
) -> None:
    sandbox = configured.sandbox
    done = subprocess.run(
        [str(sandbox.claude), "plugin", "configure", "codex-fusion@codex-fusion", "--values-stdin"],
        input=json.dumps({"model": "gpt-5.5", "effort": "low"}),
        cwd=sandbox.project,
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    codex_model.requests.clear()
    codex_model.script([codex_says("AGAIN.\nVERDICT: CONSENSUS — ok")])
    with MockAnthropic() as claude_model:
        claude_model.script(call_tool("consult", {"question": "Again?"}), say("Done."))
        sandbox.ask("Ask Codex.", base_url=claude_model.base_url, allowed_tools=[CONSULT])
        [result] = claude_model.tool_results()
    assert result.text.splitlines()[-1].startswith("— codex · gpt-5.5 low · ")
    [asked] = responses(codex_model)
    assert (asked["model"], asked["reasoning"]["effort"]) == ("gpt-5.5", "low")


def test_the_gate_blocks_once_on_a_seeded_bug_and_lets_the_next_stop_through(
    configured: Plugin, codex_model: MockResponses
) -> None:
    sandbox = configured.sandbox
    target = sandbox.project / "src" / "stats.py"
    codex_model.requests.clear()
    codex_model.script([codex_says(f"{FINDING}\nVERDICT: OPEN — the empty case")])
    with MockAnthropic() as claude_model:
        claude_model.script(
            call_tool(
                "Write",
                {"file_path": str(target), "content": "def mean(xs):\n    return sum(xs) / len(xs)\n"},
            ),
            say("I wrote the mean."),
            # after the block: Claude fixes the file, and its next stop (stop_hook_active) goes through
            call_tool("Write", {"file_path": str(target), "content": FIXED}),
            say("GATE-SEEN: the empty list is guarded."),
        )
        run = sandbox.ask("Write a mean function.", base_url=claude_model.base_url, allowed_tools=["Write"])
        requests = claude_model.message_requests(with_tools=True)
    assert run.result.get("subtype") == "success", run.describe()
    assert target.exists()
    mark = "codex-fusion review gate (block 1 of 2"
    blocked = [i for i, r in enumerate(requests) if mark in r.all_text()]
    assert blocked[:1] == [2], run.describe()  # after the write and the first stop
    # blocked once, never again (Claude Code puts a reason in the feedback and in a system reminder)
    assert requests[-1].all_text().count(mark) == requests[2].all_text().count(mark)
    assert "codex-fusion review gate (block 2" not in requests[-1].all_text()
    feedback = requests[2].all_text()
    assert "- [blocker] src/stats.py:2 — divides by zero when xs is empty" in feedback
    assert (
        "claude plugin configure codex-fusion@codex-fusion --values-stdin" in feedback
    )  # how to turn it off
    assert len(requests) == 4  # the write, the blocked stop, the fix, the stop let through unreviewed
    assert target.read_text() == FIXED
    [review] = responses(codex_model)  # one review, over the server's socket, in its session
    prompt = json.dumps(review["input"])
    assert "src/stats.py" in prompt
    assert "FINDING: <blocker|major|minor>" in prompt
    records = nonce.window_dir(sandbox.plugin_data / "state", sandbox.project).glob("gate-*.json")
    [record] = [
        r for r in map(lambda p: json.loads(p.read_text()), records) if r["session_id"] == run.session_id
    ]
    assert record["blocks"] == 1


def test_the_gate_fails_open_when_codex_is_not_logged_in(
    tmp_path: Path, claude_binary: Path, uv_binary: str, ts_adapter: Adapter
) -> None:
    codex_home = tmp_path / "codex_home"
    codex_home.mkdir()  # no config.toml, no auth.json, no key: the OpenAI provider asks for a login
    plugin = install(tmp_path, claude_binary, uv_binary, ts_adapter, codex_home, "review_gate=true")
    sandbox = plugin.sandbox
    target = sandbox.project / "notes.py"
    with MockAnthropic() as claude_model:
        claude_model.script(
            call_tool("Write", {"file_path": str(target), "content": "x = 1\n"}),
            say("Wrote it."),
            say("AFTER"),
        )
        run = sandbox.ask("Write notes.", base_url=claude_model.base_url, allowed_tools=["Write"])
        requests = claude_model.message_requests(with_tools=True)
    assert run.result.get("subtype") == "success", run.describe()
    assert len(requests) == 2, "a gate that cannot review must not block"
    assert "not reviewed, the stop goes through — Codex is not logged in" in run.debug_log, run.describe()
