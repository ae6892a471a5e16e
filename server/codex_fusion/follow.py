"""Keep Codex in step with Claude's conversation, from the records the hooks write (``nonce.py``).

Claude Code does not restart the MCP server on ``/clear``, ``/resume``, a fork or a compaction; the
plugin's hook records each event, and the :class:`Follower` reacts at once (it watches the record
with ``watchfiles``, and checks again before every new turn in case an event was missed):

- a new conversation (``/clear``, or any event under a new Claude session id — some clients report
  ``startup`` after ``/clear``), and a compaction when ``CODEX_FUSION_RESET_ON`` lists ``compact``
  (the default): reset — the turn in flight stops, Codex's session closes, the next call starts fresh;
  the old conversation's link is dropped, so it is never restored;
- ``resume`` of another conversation: switch to that conversation's Codex session, if it had one;
- ``fork``: fork Codex's session too (``session/fork``), so both conversations keep their context;
- SessionEnd: close Codex's session; its link stays, so a later ``--resume`` brings it back.

After every turn the follower saves the *link* (:mod:`codex_fusion.continuity`) from Claude's
session id to Codex's, and a one-line debate state the hook shows Claude after a compaction.

Which record: this window's (``pid-<pid>.json``, where ``pid`` is ``CLAUDE_PID`` if that is one of
the server's ancestors, else the nearest ancestor with a record — looked up again until one appears,
as the server may start before the hook first runs). Without one, the workspace record, but only
when it names no window or the server cannot see its ancestors: the documented fallback, which
follows the latest event of any window on the workspace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from . import continuity, nonce, private, render, windows
from .config import Config
from .debate import Standing, VerdictLine
from .errors import FusionError
from .nonce import Record
from .redact import redact_credentials
from .turn import Turn

if TYPE_CHECKING:
    from .council import Council

log = logging.getLogger(__name__)

#: When the watcher cannot run (no inotify, a watch limit), the record is polled this often.
POLL_SECONDS = 1.0


class Action(StrEnum):
    NONE = "none"  # nothing changes for Codex
    ADOPT = "adopt"  # the first record of the conversation we serve: restore its Codex session
    RESET = "reset"  # a new conversation, /clear, or a compaction under CODEX_FUSION_RESET_ON
    SWITCH = "switch"  # Claude resumed another conversation: reopen its Codex session, if any
    FORK = "fork"  # Claude forked the conversation: fork Codex's session too
    CLOSE = "close"  # the conversation ended: close Codex's session (its link stays)


def react(followed: str | None, record: Record, reset_on: frozenset[str]) -> Action:
    """What one new record means for Codex, given the Claude session we follow (None: none yet).

    The session id changing is the signal for a new conversation; the event is a hint."""
    event, session = record.event, record.session_id
    if event == "end":
        return Action.CLOSE if followed in (None, session) else Action.NONE
    if event == "clear" or (event == "compact" and "compact" in reset_on):
        return Action.RESET
    if session == followed:
        return Action.NONE
    if followed is None:
        return Action.ADOPT
    if event == "fork":
        return Action.FORK
    if event == "resume":
        return Action.SWITCH
    return Action.RESET  # startup or compact under a new session id: a new conversation


class Follower:
    """Follows one window's records for one Consultant; runs in the server's task group."""

    def __init__(
        self,
        consultant: Council,
        config: Config,
        state: Path,
        workspace: Path,
        *,
        env: Mapping[str, str],
        ancestors: Sequence[int] | None = None,
    ) -> None:
        self._consultant = consultant
        self._config = config
        self._state = state
        self._workspace = workspace
        self._env = env
        self._ancestors = list(windows.ancestor_pids() if ancestors is None else ancestors)
        self._lock = anyio.Lock()
        self._dirty = anyio.Event()
        self._stopped = anyio.Event()
        self._nonce: str | None = None
        self._paths = nonce.record_paths(state, workspace, None)  # realpath and hash computed once
        self._directory_seen: int | None = -1  # the records directory's mtime when last looked at
        self._file_seen: tuple[tuple[int, ...] | None, Path | None] = (None, None)
        self._last_read: Record | None = None
        self._saved_link: continuity.Link | None = None
        self._saved_state: tuple[str, int | None, str | None] | None = None
        #: The Claude Code window (pid) whose record we follow; None until one is found.
        self.window: int | None = None
        #: The Claude session id of the conversation we serve, once a record named it.
        self.followed: str | None = None
        consultant.on_turn_finished(self._turn_finished)

    # -- reading the record ----------------------------------------------------------------------

    def _record(self) -> Record | None:
        """The record we follow now. Cheap when nothing changed (every new turn calls it): the
        window is looked up again only when the records directory changed, and a record file is
        read only when it was replaced."""
        directory = self._paths.directory
        if self.window is None:
            try:
                seen = os.stat(directory).st_mtime_ns
            except OSError:
                seen = None
            if seen is None or seen != self._directory_seen:
                self._directory_seen = seen
                pids = nonce.record_pids(self._state, self._workspace)
                self.window = windows.choose_window_pid(self._env, self._ancestors, pids)
                self._paths = nonce.record_paths(self._state, self._workspace, self.window)
        if self._paths.window is not None:
            return self._read(self._paths.window)
        record = self._read(self._paths.workspace)
        if record is None or (record.claude_pid is not None and self._ancestors):
            return None  # another window's event: not ours to follow
        return record

    def _read(self, path: Path) -> Record | None:
        try:
            info = os.stat(path)
            identity: tuple[int, ...] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            identity = None
        if identity is None or identity != self._file_seen[0] or path != self._file_seen[1]:
            self._file_seen = (identity, path)
            self._last_read = nonce.read_record(path)
        return self._last_read

    def start(self) -> None:
        """Take the current record as the conversation we serve — or, before the hook has written one,
        the session Claude Code started the server in — and schedule its Codex session to be reopened
        (synchronous and quick: called before the server answers anything)."""
        record = self._record()
        if record is None:
            self.followed = self._config.claude_session
            if self.followed is not None:
                self._restore(self.followed)
            return
        self._nonce, self.followed = record.nonce, record.session_id
        if record.event not in ("clear", "end"):
            self._restore(record.session_id)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch the record and save links until cancelled; warm the session first if configured."""
        async with anyio.create_task_group() as tg:
            if self._config.warm:
                tg.start_soon(self._consultant.warm)
            tg.start_soon(self._save_loop)
            await self._watch()

    async def _watch(self) -> None:
        directory = nonce.window_dir(self._state, self._workspace)
        try:
            await anyio.to_thread.run_sync(private.write_files, self._state, directory, [])
            import watchfiles  # lazily: off the server's start-up path

            # watchfiles' thread notices a cancel only at its stop event or its timeout: the event is
            # set by stop() before the server cancels us, the 1 s timeout is the backstop. Its first
            # timeout also checks once: a record written while the watch was being set up (after
            # start-up read the record, before inotify watched) has no event of its own.
            seen_timeout = False
            async for changes in watchfiles.awatch(
                directory,
                debounce=50,
                step=25,
                recursive=False,
                watch_filter=_is_record,
                stop_event=self._stopped,
                rust_timeout=1000,
                yield_on_timeout=True,
            ):
                if changes or not seen_timeout:
                    seen_timeout = seen_timeout or not changes
                    await self.check()
        except (OSError, RuntimeError) as exc:  # no inotify, a watch limit, an unusable directory
            log.warning("cannot watch %s (%s); polling every %gs", directory, exc, POLL_SECONDS)
            while True:
                await anyio.sleep(POLL_SECONDS)
                await self.check()

    def stop(self) -> None:
        """Let the watcher's thread go (call it before cancelling :meth:`run`)."""
        self._stopped.set()

    async def check(self) -> None:
        """Read the record and act on what changed (the watcher calls it; so does every new turn)."""
        async with self._lock:
            record = self._record()
            if record is None or record.nonce == self._nonce:
                return
            self._nonce = record.nonce
            action = react(self.followed, record, self._config.reset_on)
            log.info("Claude %s (session %s): %s", record.event, record.session_id, action)
            try:
                await self._apply(action, record)
            except FusionError as exc:  # e.g. the agent died while forking: the next call says so
                log.warning("could not follow Claude's %s: %s", record.event, exc.summary)
            self._dirty.set()

    async def _apply(self, action: Action, record: Record) -> None:
        previous, self.followed = self.followed, record.session_id
        if action is Action.RESET:
            await self._consultant.reset()
            if previous is not None:
                await anyio.to_thread.run_sync(continuity.drop, self._state, self._workspace, previous)
        elif action is Action.SWITCH:
            await self._consultant.reset()  # the other conversation's link stays for a resume back
            self._restore(record.session_id)
        elif action is Action.FORK:
            await self._consultant.fork()
        elif action is Action.CLOSE:
            self.followed = previous or record.session_id
            await self._consultant.reset()  # the link stays: `claude --resume` brings Codex back
        elif action is Action.ADOPT and self._consultant.codex_session is None:
            self._restore(record.session_id)

    def _restore(self, claude_session: str) -> None:
        link = continuity.load(self._state, self._workspace, claude_session)
        if link is not None:
            verdict = VerdictLine(Standing(link.verdict), link.summary) if link.verdict else None
            log.info(
                "will restore Codex session %s for Claude session %s", link.codex_session, claude_session
            )
            self._consultant.restore_later(link.codex_session, link.rounds, verdict)

    # -- saving ----------------------------------------------------------------------------------

    def _turn_finished(self, turn: Turn) -> None:
        self._dirty.set()

    async def _save_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty = anyio.Event()
            link, state = self._to_save()
            if link is None and state is None:
                continue  # nothing changed: a steady run of consults writes nothing
            try:
                await anyio.to_thread.run_sync(self._write, link, state)
            except (OSError, ValueError) as exc:
                log.warning("cannot save Codex's session link: %s", exc)

    def _to_save(self) -> tuple[continuity.Link | None, tuple[str, int | None, str | None] | None]:
        """The link and the debate state for the hook, from the Consultant's status now, each only
        if it changed since the last save."""
        status = self._consultant.status()
        link = None
        if self.followed is not None and status.session_id is not None:
            verdict = status.last_verdict
            link = continuity.Link(
                claude_session=self.followed,
                codex_session=status.session_id,
                agent=status.agent_name or "",
                rounds=status.debate_round,
                verdict=str(verdict.standing) if verdict is not None else None,
                summary=redact_credentials(verdict.summary) if verdict is not None else "",
            )
        debate = redact_credentials(render.debate_state(status, self._config.reset_on))  # Claude reads it
        state = (debate, self.window, self.followed)
        return (link if link != self._saved_link else None), (state if state != self._saved_state else None)

    def _write(self, link: continuity.Link | None, state: tuple[str, int | None, str | None] | None) -> None:
        if link is not None:
            continuity.save(self._state, self._workspace, link)
            self._saved_link = link
        if state is not None:
            summary, window, followed = state
            nonce.write_debate_state(self._state, self._workspace, window, summary, followed)
            self._saved_state = state


def _is_record(change: object, path: str) -> bool:
    """The files worth a look: records (``pid-*.json``, ``workspace.json``), not our debate states or
    the hook's temporary files."""
    name = os.path.basename(path)
    return name.endswith(".json") and not name.endswith(".debate.json") and not name.startswith(".")
