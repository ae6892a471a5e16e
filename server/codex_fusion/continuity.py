"""Which Codex session belongs to which Claude conversation, kept on disk so Codex survives a restart.

After a Claude Code resume, a crash-respawn or a reboot, Claude remembers the conversation; without
this, Codex would start empty. The server keeps one *link* per workspace and Claude session id:
the ACP session id of Codex's session and where its debate stood. On start (or when Claude resumes
another conversation) the server reopens that session with ``session/resume`` or ``session/load``.
A ``/clear``-ed or reset conversation's link is dropped, so it is never restored.

Layout: ``<state>/links/<ws_key>/<sha256(claude session id)[:16]>.json`` (:func:`nonce.link_path`;
the hook drops a link itself on ``SessionEnd`` with reason ``clear``, server running or not),
private (0600 in 0700 directories, written atomically; see :mod:`codex_fusion.private`). Reading
never raises: a missing or unusable link is ``None`` (unusable ones are logged).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import nonce, private

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True)
class Link:
    claude_session: str
    codex_session: str
    agent: str  # the adapter that holds the session ("@agentclientprotocol/codex-acp 2.6.0")
    rounds: int = 0  # answers in the debate open in it
    verdict: str | None = None  # the last verdict's standing ("open")
    summary: str = ""  # … and its one-line summary
    at: float = 0.0


def _where(state: Path, workspace: Path, claude_session: str) -> tuple[Path, str]:
    path = nonce.link_path(state, workspace, claude_session)
    return path.parent, path.name


def save(state: Path, workspace: Path, link: Link) -> None:
    """Write (or replace) the link for ``link.claude_session``. Raises OSError when the disk says no."""
    directory, name = _where(state, workspace, link.claude_session)
    body = {"version": VERSION, **asdict(link), "at": time.time()}
    private.write_files(state, directory, [(name, private.dumps(body))])


def load(state: Path, workspace: Path, claude_session: str) -> Link | None:
    """The link for ``claude_session``; None when there is none or it is unusable (logged)."""
    directory, name = _where(state, workspace, claude_session)
    try:
        raw = private.read_json(directory / name, "session link")
        return None if raw is None else _parse(raw, claude_session)
    except (ValueError, OSError) as exc:
        log.warning("ignoring the session link %s: %s", directory / name, exc)
        return None


def drop(state: Path, workspace: Path, claude_session: str) -> None:
    """Forget the link: that conversation's Codex session is never restored."""
    nonce.forget_link(state, workspace, claude_session)


def _parse(raw: Any, claude_session: str) -> Link:
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a version-1 link")
    if raw.get("claude_session") != claude_session:
        raise ValueError("it belongs to another conversation")
    codex, agent = raw.get("codex_session"), raw.get("agent")
    rounds, at = raw.get("rounds"), raw.get("at")
    verdict, summary = raw.get("verdict"), raw.get("summary", "")
    if not (isinstance(codex, str) and codex and isinstance(agent, str)):
        raise ValueError("no Codex session id")
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 0:
        raise ValueError("bad round count")
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        raise ValueError("bad time")
    if verdict is not None and not isinstance(verdict, str):
        raise ValueError("bad verdict")
    if not isinstance(summary, str):
        raise ValueError("bad summary")
    return Link(claude_session, codex, agent, rounds, verdict, summary, float(at))
