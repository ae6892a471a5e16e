"""Which Codex session belongs to which Claude conversation, kept on disk so Codex survives a restart.

After a Claude Code resume, a crash-respawn or a reboot, Claude remembers the conversation; without
this, Codex would start empty. The server keeps one *link* per workspace and Claude session id:
the ACP session id of Codex's session and where its debate stood. On start (or when Claude resumes
another conversation) the server reopens that session with ``session/resume`` or ``session/load``.
A ``/clear`` keeps the cleared conversation's link (Claude Code can ``--resume`` it, with its whole
history); a compaction that resets Codex drops the conversation's link (Codex was meant to forget).

Every council member has its own link per conversation: Codex's under the Claude session id, another
member's under ``<claude session id>\x1f<member>`` (so the files of one conversation never collide).

Layout: ``<state>/links/<ws_key>/<sha256(key)[:16]>.json`` (:func:`serverside.link_path`),
private (0600 in 0700 directories, written atomically; see :mod:`codex_fusion.hookside.private`). A link is
untrusted input (a corrupt or older file, another version's fields): reading never raises, a missing
or unusable link is ``None`` (unusable ones are logged).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codex_fusion.hookside import private, serverside
from codex_fusion.launch.names import CODEX
from codex_fusion.member.debate import Standing

log = logging.getLogger(__name__)

VERSION = 1
_STANDINGS = frozenset(standing.value for standing in Standing)


@dataclass(frozen=True)
class Link:
    claude_session: str
    codex_session: str
    agent: str  # the adapter that holds the session ("@agentclientprotocol/codex-acp 2.6.0")
    rounds: int = 0  # answers in the debate open in it
    verdict: Standing | None = None  # the last verdict's standing
    summary: str = ""  # … and its one-line summary
    at: float = 0.0
    member: str = CODEX  # the council member whose session it is


def _key(claude_session: str, member: str) -> str:
    return claude_session if member == CODEX else f"{claude_session}\x1f{member}"


def _where(state: Path, workspace: Path, claude_session: str, member: str = CODEX) -> tuple[Path, str]:
    path = serverside.link_path(state, workspace, _key(claude_session, member))
    return path.parent, path.name


def save(state: Path, workspace: Path, link: Link) -> None:
    """Write (or replace) the link for ``link.claude_session`` and its member. Raises OSError when the
    disk says no."""
    directory, name = _where(state, workspace, link.claude_session, link.member)
    body = {"version": VERSION, **asdict(link), "at": time.time()}
    private.write_files(state, directory, [(name, private.dumps(body))])


def load(state: Path, workspace: Path, claude_session: str, member: str = CODEX) -> Link | None:
    """The link of ``member`` for ``claude_session``; None when there is none or it is unusable
    (logged)."""
    path = "the session link"
    try:
        directory, name = _where(state, workspace, claude_session, member)
        path = str(directory / name)
        raw = private.read_json(directory / name, "session link")
        return None if raw is None else _parse(raw, claude_session, member)
    except (ValueError, OSError) as exc:
        log.warning("ignoring %s: %s", path, exc)
    except Exception as exc:  # untrusted input must never take the server down
        log.warning("ignoring %s: %s: %s", path, type(exc).__name__, exc)
    return None


def drop(state: Path, workspace: Path, claude_session: str, members: Iterable[str] = (CODEX,)) -> None:
    """Forget the links: that conversation's sessions of ``members`` are never restored."""
    for member in members:
        serverside.forget_link(state, workspace, _key(claude_session, member))


def _parse(raw: Any, claude_session: str, member: str = CODEX) -> Link:
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a version-1 link")
    if raw.get("claude_session") != claude_session:
        raise ValueError("it belongs to another conversation")
    if raw.get("member", CODEX) != member:
        raise ValueError("it belongs to another council member")
    codex, agent = raw.get("codex_session"), raw.get("agent")
    rounds, at = raw.get("rounds"), raw.get("at")
    verdict, summary = raw.get("verdict"), raw.get("summary", "")
    if not (isinstance(codex, str) and codex and isinstance(agent, str)):
        raise ValueError("no Codex session id")
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 0:
        raise ValueError("bad round count")
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        raise ValueError("bad time")
    if verdict is not None and (not isinstance(verdict, str) or verdict not in _STANDINGS):
        raise ValueError(f"unknown verdict {str(verdict)[:40]!r}")
    if not isinstance(summary, str):
        raise ValueError("bad summary")
    standing = Standing(verdict) if verdict is not None else None
    return Link(claude_session, codex, agent, rounds, standing, summary, float(at), member)
