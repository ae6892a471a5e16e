"""Gemini CLI as the host (issue 28): the real ``gemini -p`` with codex-fusion's Gemini extension
(``hosts/gemini``) linked, consulting the real codex-acp (Codex, the default member inside Gemini).

Gemini's model is the scripted Gemini API mock, Codex's the Responses mock; what the person reads is
Gemini's final response. Each run has its own HOME (Gemini's settings select the API-key login; the
workspace is trusted, as the user's own project is) and CODEX_HOME.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_adapters import Adapter, unavailable, write_codex_config
from mock_gemini import MockGemini, RecordedRequest, call_function, relay
from mock_openai import MockResponses, exec_cmd, say
from test_council_e2e import AGENTS_DIR

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "hosts" / "gemini"
GEMINI_MODEL = "gemini-mock-9"
RELAYED = "GEMINI-FINAL: "
#: What the person allows Gemini to call without asking (headless Gemini offers no tool that asks).
ALLOWED = ",".join(f"mcp_codex-fusion_{tool}" for tool in ("consult", "permit", "task", "status"))


def gemini_cli() -> Path:
    found = AGENTS_DIR.glob("gemini-*/node_modules/@google/gemini-cli/bundle/gemini.js")
    bundle = next(iter(sorted(found)), None)
    if bundle is None:
        unavailable(f"Gemini CLI not provisioned in {AGENTS_DIR}; run scripts/provision-agents")
    assert bundle is not None
    return bundle


@dataclass
class GeminiHost:
    root: Path
    workspace: Path
    adapter: Adapter
    gemini: MockGemini
    codex: MockResponses

    def env(self, **extra: str) -> dict[str, str]:
        home = self.root / "home"
        (home / ".gemini").mkdir(parents=True, exist_ok=True)
        settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
        (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
        codex_home = self.root / "codex_home"
        write_codex_config(codex_home, self.codex.base_url)
        return {
            # `codex-fusion` as `uv tool install` puts it on the PATH (the extension runs it by name)
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]
            ),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "NO_PROXY": "127.0.0.1,localhost",
            "GOOGLE_GEMINI_BASE_URL": self.gemini.base_url,
            "GEMINI_API_KEY": "gemini-host-e2e",
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
            "GEMINI_CLI_NO_RELAUNCH": "true",
            "CODEX_HOME": str(codex_home),
            "CODEX_FUSION_ACP_COMMAND": shlex.join(self.adapter.argv),
            "CODEX_FUSION_WORKSPACE": str(self.workspace),
            "CODEX_FUSION_STARTUP_TIMEOUT_MS": "90000",
            "CODEX_FUSION_WARM": "0",
            "XDG_STATE_HOME": str(self.root / "state"),
            **extra,
        }

    def run(self, prompt: str, **extra: str) -> str:
        env = self.env(**extra)
        cli = str(gemini_cli())
        link = ["node", cli, "extensions", "link", str(EXTENSION), "--consent"]
        linked = subprocess.run(link, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert linked.returncode == 0, linked.stderr[-2000:]
        argv = [
            "node",
            cli,
            "-m",
            GEMINI_MODEL,
            "-p",
            prompt,
            "--output-format",
            "json",
            "--allowed-tools",
            ALLOWED,
        ]
        done = subprocess.run(
            argv, cwd=self.workspace, env=env, capture_output=True, text=True, timeout=400, check=False
        )
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
        return str(json.loads(done.stdout)["response"])


@pytest.fixture
def gemini_host(tmp_path: Path, workspace: Path, ts_adapter: Adapter) -> Iterator[GeminiHost]:
    gemini_cli()
    with MockGemini() as gemini, MockResponses() as codex:
        yield GeminiHost(tmp_path, workspace, ts_adapter, gemini, codex)


def results(request: RecordedRequest) -> list[str]:
    """Every codex-fusion tool result Gemini's model has read so far, in order."""
    return [result.text for result in request.function_results()]


def test_gemini_consults_codex_by_default_and_its_answer_carries_codexs_answer_and_verdict(
    gemini_host: GeminiHost,
) -> None:
    gemini_host.codex.script([say("CODEX-HOSTED-52: a bounded queue.\nVERDICT: CONSENSUS — a bounded queue")])
    gemini_host.gemini.script(
        call_function("mcp_codex-fusion_consult", {"question": "HOST-Q-3a: queue or lock?"}), relay(RELAYED)
    )
    final = gemini_host.run("Ask Codex: queue or lock?")

    assert final.startswith(RELAYED), final
    assert "CODEX-HOSTED-52" in final
    assert "verdict: consensus — a bounded queue" in final
    assert "HOST-Q-3a" in gemini_host.codex.turn_requests[0].input_text()
    # The tool texts Gemini's model read name Codex as the consulted agent and Gemini as the decider.
    declared = json.dumps(gemini_host.gemini.turn_requests()[0].function_declarations)
    assert "Second opinion from Codex (OpenAI)" in declared
    # The extension's context file (the guidance rendered for Gemini) is in Gemini's context.
    assert "Codex advises; Gemini decides." in gemini_host.gemini.turn_requests()[0].all_text()


def test_a_pause_of_codex_reaches_gemini_and_permit_resumes_it(
    gemini_host: GeminiHost, workspace: Path
) -> None:
    marker = workspace / "MARKER-4e"
    gemini_host.codex.script(
        [exec_cmd(f"touch {marker}"), say("CODEX-RESUMED-17\nVERDICT: CONSENSUS — done")]
    )
    gemini_host.gemini.script(
        call_function("mcp_codex-fusion_consult", {"question": "Make the marker, then say so."}),
        call_function("mcp_codex-fusion_permit", {"decision": "allow"}),
        relay(RELAYED),
    )
    final = gemini_host.run("Have Codex make the marker.")

    paused = results(gemini_host.gemini.turn_requests()[-1])[0]
    assert "Codex is paused" in paused, paused
    assert f"touch {marker}" in paused
    assert final.startswith(RELAYED), final
    assert "CODEX-RESUMED-17" in final
    assert marker.exists()


def test_a_consult_longer_than_the_hosts_limit_comes_back_as_a_handle_and_is_collected(
    gemini_host: GeminiHost,
) -> None:
    gemini_host.codex.latency = 6.0  # Codex's model takes longer than the limit below
    gemini_host.codex.script([say("CODEX-LATE-29: a queue.\nVERDICT: CONSENSUS — a queue")])
    poll = call_function("mcp_codex-fusion_task", {"id": "c1", "action": "show", "wait_s": 120})
    still = lambda request: "is still running" in results(request)[-1]  # noqa: E731
    gemini_host.gemini.script(
        call_function("mcp_codex-fusion_consult", {"question": "HOST-Q-9: queue or lock?"}),
        dataclasses.replace(poll, again_while=still),
        relay(RELAYED),
    )
    final = gemini_host.run("Ask Codex, it may take a while.", CODEX_FUSION_HANDLE_AFTER_S="2")

    handle, *polls, collected = results(gemini_host.gemini.turn_requests()[-1])
    assert "is still running" in handle, handle
    assert "handle c1" in handle
    assert all("is still running" in p for p in polls), polls
    assert "CODEX-LATE-29" in collected
    assert "CODEX-LATE-29" in final
