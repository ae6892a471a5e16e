"""codex-fusion's session policy for every agent it starts (:class:`~codex_fusion.acp.agent.SessionPolicy`):
which login to use with an API key from the environment, what a user who is not logged in is told, and
which mode a session is put in so that approvals come to codex-fusion (ADR 0002) — a council member's
confining mode step, or Codex's permission profile. The ACP steps themselves are ``acp/agent.py``'s.
"""

from __future__ import annotations

from typing import Final

from codex_fusion.acp.agent import Agent, ModeStep
from codex_fusion.acp.schema import NewSessionResult
from codex_fusion.errors import AgentError
from codex_fusion.launch.login import not_logged_in


class Policy:
    """Codex's login with OPENAI_API_KEY / CODEX_API_KEY, and its permission profile."""

    def api_key_method(self, agent: Agent) -> str | None:
        """The auth method to use with an API key from the environment, if any."""
        env = agent.options.env
        have_openai = bool(env.get("OPENAI_API_KEY"))
        have_codex = bool(env.get("CODEX_API_KEY"))
        if not (have_openai or have_codex):
            return None
        for method in agent.info.auth_methods:
            if method.type == "terminal":
                continue
            ident = method.id.lower()
            if have_codex and "codex-api-key" in ident:
                return method.id
            if have_openai and ident in ("api-key", "openai-api-key"):
                return method.id
        return None

    def not_logged_in(self, name: str) -> str:
        return not_logged_in(name)

    async def apply_mode(
        self,
        agent: Agent,
        session: NewSessionResult,
        wanted: str | None,
        *,
        timeout: float,
        step: ModeStep | None,
    ) -> str:
        if step is not None:
            return await agent.apply_step(session, step, timeout=timeout)
        # An agent started again for what its handshake said (``confine.py``) has its own plan's mode.
        wanted = getattr(agent.confinement, "mode", None) or wanted
        selected = await agent.select_mode(session, wanted, timeout=timeout)
        if selected is not None:
            return selected
        modes = session.modes
        adapter = getattr(agent.confinement, "adapter", None)
        if wanted is not None and wanted.startswith("permission-profile:"):
            if adapter == "ts":
                # Only the Codex behind codex-fusion's relay knows this profile (its name is new for this
                # start): the adapter's Codex is some other one, with the adapter's own boundary.
                raise AgentError(
                    "codex-fusion refused the session: the TypeScript codex-acp does not offer its "
                    f"permission profile {wanted!r}, so its Codex was not started behind codex-fusion's "
                    "relay (is CODEX_PATH passed through to it?). Nothing was run.",
                    stderr_tail=agent.stderr_tail(),
                )
            if adapter == "rust" or not (modes and modes.available_modes):
                # The Rust adapter takes the profile at launch (`-c default_permissions=…`): it offers no
                # modes, or, in a project it is told is untrusted, its presets with "read-only" current.
                # Selecting one of those would replace the profile, so nothing is selected.
                return wanted
        return agent.mode_not_offered(session, wanted)


#: The policy every agent codex-fusion starts runs under.
POLICY: Final = Policy()
