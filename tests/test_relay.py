"""The relay between the TypeScript codex-acp and its Codex app-server (relay.py): each thread's
configuration, the check before a thread starts and after, and the program it starts. The pure checks
directly; the whole relay through the real shim, with a fake app-server (a script) in its place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codex_fusion.launch import adapters, boundary, relay
from codex_fusion.launch.relay import Spec

WORKSPACE = Path("/home/u/project")
SPEC = Spec(codex=None, args=(), workspace=WORKSPACE, codex_home=Path("/home/u/.codex"), profile="cf-1")


def layer(kind: str, disabled: str | None = None, **name: str) -> dict[str, Any]:
    return {"name": {"type": kind, **name}, "config": {}, "version": "v", "disabledReason": disabled}


def config_read(
    *layers: dict[str, Any], profile: str = "cf-1", origin: str = "sessionFlags"
) -> dict[str, Any]:
    origins = {f"permissions.{profile}.filesystem.:minimal": {"name": {"type": origin}, "version": "v"}}
    return {"config": {"default_permissions": profile}, "origins": origins, "layers": list(layers)}


# --- the checks -------------------------------------------------------------------------------------


def test_a_thread_request_gets_codex_fusions_isolation_instead_of_the_adapters_trust() -> None:
    params: dict[str, Any] = {
        "cwd": str(WORKSPACE),
        "config": {
            "projects": {str(WORKSPACE): {"trust_level": "trusted"}},
            "projects./home/u.trust_level": "trusted",
            "project_root_markers": [".git"],
            "model": "gpt-5.5",
        },
    }
    assert relay.confine_thread(params, SPEC) is None
    config = params["config"]
    assert config["model"] == "gpt-5.5"
    assert "projects./home/u.trust_level" not in config
    assert config["project_root_markers"] == []
    assert config["projects"] == {
        str(WORKSPACE): {"trust_level": "untrusted"},
        "/home/u": {"trust_level": "untrusted"},
        "/home": {"trust_level": "untrusted"},
        "/": {"trust_level": "untrusted"},
    }


def test_a_thread_elsewhere_than_the_workspace_is_refused() -> None:
    assert relay.confine_thread({"cwd": "/home/u/other"}, SPEC) == (
        "Codex was asked to work in /home/u/other, which is not the workspace"
    )


def test_the_config_check_passes_only_disabled_project_layers_and_an_unmerged_profile() -> None:
    disabled = layer("project", "untrusted", dotCodexFolder=f"{WORKSPACE}/.codex")
    assert relay.check_config(config_read(layer("user"), disabled), SPEC) is None
    enabled = layer("project", None, dotCodexFolder=f"{WORKSPACE}/.codex")
    assert relay.check_config(config_read(enabled), SPEC) == (
        f"the project configuration in {WORKSPACE}/.codex is in force"
    )
    merged = config_read(layer("user"), origin="user")
    assert (
        relay.check_config(merged, SPEC)
        == "codex-fusion's permission profile has entries from the user configuration"
    )
    other = config_read(layer("user"), profile="theirs")
    assert (
        relay.check_config(other, SPEC) == "the permission profile in force is 'theirs', not codex-fusion's"
    )
    assert (
        relay.check_config({"config": {}}, SPEC)
        == "the app-server did not say which configuration layers it loaded"
    )


def test_instructions_come_only_from_the_workspace_codex_home_or_the_users_own_file(tmp_path: Path) -> None:
    spec = Spec(None, (), tmp_path / "ws", tmp_path / "home", None)
    named = {tmp_path / "prompts" / "mine.md"}
    fine = [
        str(tmp_path / "ws" / "AGENTS.md"),
        str(tmp_path / "home" / "AGENTS.md"),
        str(tmp_path / "prompts" / "mine.md"),
    ]
    assert relay.check_sources({"instructionSources": fine}, spec, named) is None
    outside = str(tmp_path / "AGENTS.md")
    assert relay.check_sources({"instructionSources": [*fine, outside]}, spec, named) == (
        f"Codex reads instructions from {outside}, outside the workspace"
    )


# --- the relay, through the shim --------------------------------------------------------------------

FAKE_APP_SERVER = r"""
import json, os, sys
log = open(os.environ["FAKE_LOG"], "a")
log.write(json.dumps({"argv": sys.argv[1:], "spec_seen": "CODEX_FUSION_RELAY" in os.environ}) + "\n")
log.flush()
for line in sys.stdin:
    message = json.loads(line)
    log.write(line)
    log.flush()
    if message.get("method") == "config/read":
        result = json.loads(os.environ["FAKE_CONFIG"])
    elif message.get("method") == "thread/start":
        result = {
            "thread": {"id": "t1"},
            "instructionSources": json.loads(os.environ.get("FAKE_SOURCES", "[]")),
            "sandbox": json.loads(os.environ.get("FAKE_SANDBOX", '{"type": "readOnly", "networkAccess": false}')),
        }
    else:
        result = {"echo": message.get("method")}
    print(json.dumps({"id": message["id"], "result": result}), flush=True)
"""


class Relayed:
    """The shim run as the TypeScript adapter runs it, with a fake app-server as the adapter's Codex."""

    def __init__(
        self,
        tmp_path: Path,
        config: dict[str, Any],
        sources: list[str] | None = None,
        sandbox: dict[str, Any] | None = None,
    ) -> None:
        self.workspace = tmp_path / "ws"
        self.log = tmp_path / "fake.log"
        npx_bin = tmp_path / "npx" / "node_modules" / ".bin"
        planted = self.workspace / "node_modules" / ".bin"  # a workspace's own codex must never run
        for directory in (npx_bin, planted, self.workspace):
            directory.mkdir(parents=True, exist_ok=True)
            for name in ("codex", "codex-acp"):
                program = directory / name
                if directory == npx_bin and name == "codex":
                    program.write_text(f"#!{sys.executable}\n{FAKE_APP_SERVER}")
                else:
                    program.write_text(f"#!/bin/sh\ntouch {tmp_path / 'planted-ran'}\n")
                program.chmod(0o700)
        self.planted_ran = tmp_path / "planted-ran"
        shim = tmp_path / "shim"
        shim.write_text(boundary.shim_text())
        shim.chmod(0o700)
        args = ["-c", 'default_permissions="cf-1"']
        spec = boundary.relay_spec(
            adapters.Launch("ts"), args, workspace=self.workspace, home=tmp_path / "home", profile="cf-1"
        )
        env = {
            "PATH": os.pathsep.join(["", ".", str(planted), str(npx_bin), "/usr/bin", "/bin"]),
            boundary.RELAY_SPEC: spec,
            "FAKE_LOG": str(self.log),
            "FAKE_CONFIG": json.dumps(config),
            "FAKE_SOURCES": json.dumps(sources or []),
        }
        if sandbox is not None:
            env["FAKE_SANDBOX"] = json.dumps(sandbox)
        self.process = subprocess.Popen(
            [str(shim), "app-server", "-c", "model_provider=mock"],
            cwd=self.workspace,  # the adapter runs in the workspace
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def call(self, ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(
            (json.dumps({"id": ident, "method": method, "params": params}) + "\n").encode()
        )
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> tuple[int, str]:
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err.decode()

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def clean_config(tmp_path: Path) -> dict[str, Any]:
    return config_read(
        layer("user"), layer("project", "untrusted", dotCodexFolder=str(tmp_path / "ws" / ".codex"))
    )


def test_the_relay_starts_the_adapters_codex_with_the_overrides_and_confines_each_thread(
    tmp_path: Path, clean_config: dict[str, Any]
) -> None:
    relayed = Relayed(tmp_path, clean_config)
    assert relayed.call(1, "initialize", {"clientInfo": {"name": "t"}}) == {
        "id": 1,
        "result": {"echo": "initialize"},
    }
    trusted = {"projects": {str(relayed.workspace): {"trust_level": "trusted"}}}
    started = relayed.call(2, "thread/start", {"cwd": str(relayed.workspace), "config": trusted})
    assert started["result"]["thread"] == {"id": "t1"}
    code, err = relayed.close()
    assert code == 0, err
    first, *messages = relayed.received()
    assert first == {
        "argv": ["app-server", "-c", "model_provider=mock", "-c", 'default_permissions="cf-1"'],
        "spec_seen": False,
    }
    methods = [m["method"] for m in messages]
    assert methods == ["initialize", "config/read", "thread/start"]  # the relay asked before the thread
    thread = messages[2]["params"]["config"]
    assert thread["projects"][str(relayed.workspace.resolve())] == {"trust_level": "untrusted"}
    assert thread["project_root_markers"] == []
    assert not relayed.planted_ran.exists()  # neither ./codex nor the workspace's node_modules/.bin one


def test_the_relay_refuses_a_thread_when_a_project_layer_is_in_force(tmp_path: Path) -> None:
    enabled = config_read(layer("project", None, dotCodexFolder=str(tmp_path / "ws" / ".codex")))
    relayed = Relayed(tmp_path, enabled)
    answer = relayed.call(7, "thread/start", {"cwd": str(relayed.workspace), "config": {}})
    code, err = relayed.close()
    assert answer["id"] == 7
    assert answer["error"]["message"].startswith(
        "codex-fusion refused to start this Codex session: the project"
    )
    assert "codex-fusion refused" in err
    assert [m.get("method") for m in relayed.received()[1:]] == ["config/read"]  # no thread/start reached it
    assert code == 0


def test_the_relay_refuses_a_thread_that_reads_instructions_from_outside(
    tmp_path: Path, clean_config: dict[str, Any]
) -> None:
    relayed = Relayed(tmp_path, clean_config, sources=[str(tmp_path / "AGENTS.md")])
    answer = relayed.call(3, "thread/start", {"cwd": str(relayed.workspace)})
    relayed.close()
    assert "error" in answer
    assert (
        f"Codex reads instructions from {tmp_path / 'AGENTS.md'}, outside the workspace"
        in answer["error"]["message"]
    )


def test_the_relay_refuses_a_thread_whose_sandbox_writes(
    tmp_path: Path, clean_config: dict[str, Any]
) -> None:
    widened = {"type": "workspaceWrite", "writableRoots": [str(tmp_path / "outside")], "networkAccess": False}
    relayed = Relayed(tmp_path, clean_config, sandbox=widened)
    answer = relayed.call(4, "thread/start", {"cwd": str(relayed.workspace)})
    relayed.close()
    assert "error" in answer
    assert "the thread's sandbox is" in answer["error"]["message"]
    assert "not codex-fusion's read-only profile" in answer["error"]["message"]


def test_the_relay_without_its_instructions_starts_nothing(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.write_text(boundary.shim_text())
    shim.chmod(0o700)
    done = subprocess.run(
        [str(shim), "app-server"], capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 127
    assert "CODEX_FUSION_RELAY is missing or invalid" in done.stderr
