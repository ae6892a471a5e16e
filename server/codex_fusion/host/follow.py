"""Keep Codex in step with Claude's conversation, from the records the hooks write (``nonce.py``).

Claude Code does not restart the MCP server on ``/clear``, ``/resume``, a fork or a compaction; the
plugin's hook records each event, and the :class:`Follower` reacts at once (it watches the record
with ``watchfiles``, looks again every second the watch is quiet — an event written before the watch
began, or lost, is not missed — and checks again before every new turn):

- a new conversation (``/clear``, or any event under a new Claude session id — some clients report
  ``startup`` after ``/clear``): reset — the turn in flight stops, Codex's session closes, the next
  call starts fresh. The old conversation keeps its link: ``claude --resume`` of it brings its Codex
  session back (a ``/clear`` starts a new conversation, it does not erase the old one);
- a compaction when ``CODEX_FUSION_RESET_ON`` lists ``compact`` (the default): reset, and the
  conversation's link is dropped (Codex was meant to forget);
- ``resume`` of another conversation: switch to that conversation's Codex session, if it had one;
- ``fork``: fork Codex's session too (``session/fork``), so both conversations keep their context;
- SessionEnd: close Codex's session; its link stays, so a later ``--resume`` brings it back;
- the record vanishing (the hook could not write it: a full disk): reset, to be safe, and say so.

A record is marked handled only once its action succeeded: a cancel or a failure mid-way leaves it
to the next check. After every turn the follower saves the *link* (:mod:`codex_fusion.host.continuity`)
from Claude's session id to Codex's, and a one-line debate state the hook shows Claude after a
compaction. Files are read and written in worker threads, never on the event loop; a check only
``stat``s the record and its directory on the loop, and skips the read when neither changed since a
read it can trust (ADR 0031).

Which record: this window's (``pid-<pid>.json``, where ``pid`` is ``CLAUDE_PID`` if that is one of
the server's ancestors, else the nearest ancestor with a record — looked up again until one appears,
as the server may start before the hook first runs). Without one, the workspace record, but only
when it names no window or the server cannot see its ancestors: the documented fallback, which
follows the latest event of any window on the workspace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from codex_fusion.errors import FusionError
from codex_fusion.hookside import nonce, private, serverside, windows
from codex_fusion.hookside.nonce import Record
from codex_fusion.host import continuity
from codex_fusion.launch.config import Config
from codex_fusion.member import render_status
from codex_fusion.member.debate import VerdictLine
from codex_fusion.member.notes import Note, NoteKind
from codex_fusion.member.reports import Reopen
from codex_fusion.member.signal import Changes
from codex_fusion.text.redact import redact_credentials

if TYPE_CHECKING:
    from codex_fusion.council.council import Council

log = logging.getLogger(__name__)

#: When the watcher cannot run (no inotify, a watch limit), the record is polled this often.
POLL_SECONDS = 1.0
#: A read is trusted to stand for its record while its stat stays the same only when the record and
#: its directory had not changed for this long before it (git's "racily clean" rule: a change within
#: the file system's timestamp granularity — a jiffy, a second on some — may leave the stat as it was).
SETTLED_S = 2.0


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


class _Missing:
    """The record file does not exist (as opposed to existing and being unusable)."""


MISSING = _Missing()


class Follower:
    """Follows one window's records for one Member; runs in the server's task group."""

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
        self._lock = anyio.Lock(fast_acquire=True)  # no checkpoint when free: a check is often instant
        self._changed = Changes()  # what the save loop waits for
        self._cleaned: dict[str, str] = {}
        self._stopped = anyio.Event()
        self._nonce: str | None = None  # the last record acted on
        self._paths = nonce.record_paths(state, workspace, None)  # realpath and hash computed once
        self._raw: tuple[Path, bytes | str | None] | None = None  # the record file as last read
        self._last_read: Record | _Missing | None = MISSING
        self._kept = _Kept()
        self._saved_links: dict[str, continuity.Link] = {}
        self._saved_state: tuple[str, int | None, str | None] | None = None
        #: The Claude Code window (pid) whose record we follow; None until one is found.
        self.window: int | None = None
        #: The Claude session id of the conversation we serve, once a record named it.
        self.followed: str | None = None
        #: Why the latest record could not be acted on (it is tried again), if it could not.
        self.problem: str | None = None

    # -- reading the record ----------------------------------------------------------------------

    def _record(self) -> Record | _Missing | None:
        """The record we follow now: a Record, :data:`MISSING`, or None when there is one but it is
        unusable or not ours. Blocking (a worker thread runs it); cheap when nothing changed: a
        record is parsed (and a bad one warned about) only when its bytes changed."""
        if self.window is None:
            pids = serverside.record_pids(self._state, self._workspace)
            self.window = windows.choose_window_pid(self._env, self._ancestors, pids)
            self._paths = nonce.record_paths(self._state, self._workspace, self.window)
        if self._paths.window is not None:
            return self._read(self._paths.window)
        record = self._read(self._paths.workspace)
        if isinstance(record, Record) and record.claude_pid is not None and self._ancestors:
            return None  # another window's event: not ours to follow
        return record

    def _read(self, path: Path) -> Record | _Missing | None:
        raw: bytes | str | None
        try:
            raw = private.read_bytes(path, "reset record")
        except ValueError as exc:
            raw = str(exc)
        if self._raw != (path, raw):
            self._raw = (path, raw)
            if raw is None:
                self._last_read = MISSING
            elif isinstance(raw, str):
                log.warning("ignoring reset record %s: %s", path, raw)
                self._last_read = None
            else:
                self._last_read = serverside.parse_record(raw, path)
        return self._last_read

    async def start(self) -> None:
        """Take the current record as the conversation we serve — or, before the hook has written one,
        the session Claude Code started the server in — and have its Codex session reopened (called
        before the server answers anything). After a ``/clear`` that is the new conversation's own
        session, if it consulted Codex before a restart."""
        record = await anyio.to_thread.run_sync(self._record)
        if not isinstance(record, Record):
            self.followed = self._config.claude_session
            if self.followed is not None:
                await self._adopt(self.followed)
            return
        self._nonce, self.followed = record.nonce, record.session_id
        if record.event != "end":  # an ended conversation is not the one this server serves
            await self._adopt(record.session_id)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch the record and save links until cancelled; warm the session first if configured."""
        async with anyio.create_task_group() as tg:
            if self._config.warm:
                tg.start_soon(self._consultant.warm)
            tg.start_soon(self._save_loop)
            tg.start_soon(self._turns_ended)
            await self._watch()

    async def _watch(self) -> None:
        directory = nonce.window_dir(self._state, self._workspace)
        try:
            await anyio.to_thread.run_sync(private.write_files, self._state, directory, [])
            import watchfiles  # lazily: off the server's start-up path

            # watchfiles' thread notices a cancel only at its stop event or its timeout: the event is
            # set by stop() before the server cancels us, the 1 s timeout is the backstop. Every quiet
            # second yields too: a record written before the watch began (or an event the kernel
            # dropped) is seen within a second, not at the next turn.
            async for _ in watchfiles.awatch(
                directory,
                debounce=50,
                step=25,
                recursive=False,
                watch_filter=_is_record,
                stop_event=self._stopped,
                rust_timeout=1000,
                yield_on_timeout=True,
            ):
                await self.check()
        except (OSError, RuntimeError) as exc:  # no inotify, a watch limit, an unusable directory
            log.warning("cannot watch %s (%s); polling every %gs", directory, exc, POLL_SECONDS)
            while True:
                await anyio.sleep(POLL_SECONDS)
                await self.check()

    def stop(self) -> None:
        """Let the watcher's thread go (call it before cancelling :meth:`run`)."""
        self._stopped.set()

    async def check(self) -> bool:
        """Read the record and act on what changed (the watcher calls it; so does every new turn).

        The record is marked handled only when its action succeeded; a failure is logged, kept in
        :attr:`problem`, and the next check tries again. Returns whether Codex is in step with
        Claude's conversation. Never raises (but a cancel)."""
        async with self._lock:
            try:
                await self._check()
            except FusionError as exc:  # e.g. the agent died: the next check tries again
                self.problem = f"could not follow Claude's latest event: {exc.summary}"
                log.warning("%s", self.problem)
            except Exception as exc:
                self.problem = f"could not follow Claude's latest event ({type(exc).__name__}: {exc})"
                log.exception("following Claude's conversation failed; the next check tries again")
            else:
                self.problem = None
            return self.problem is None

    async def _check(self) -> None:
        kept = self._kept.get(self._paths)  # two stats on the loop can spare a worker thread's read
        record = kept[0] if kept else await anyio.to_thread.run_sync(self._kept.read, self)
        if isinstance(record, _Missing):
            if self._nonce is not None:  # we saw a record, and it is gone
                await self._lost_track()
            return
        if record is None or record.nonce == self._nonce:
            return
        action = react(self.followed, record, self._config.reset_on)
        log.info("Claude %s (session %s): %s", record.event, record.session_id, action)
        self.followed = await self._apply(action, record)
        self._nonce = record.nonce  # handled: only now, after its action succeeded
        self._changed.notify()

    async def _lost_track(self) -> None:
        """The record we followed vanished: the hook could not write this event (the disk may be full),
        so whatever happened (a /clear?) is unknown. Reset, say so, and save no link until the next
        record names the conversation."""
        why = "the hook's record of it vanished: the hook could not write it, is the disk full?"
        log.warning(
            "Claude's conversation record %s vanished: resetting Codex to be safe", self._paths.window
        )
        await self._consultant.reset(notice=Note(NoteKind.LOST_TRACK, why))
        self._nonce, self.followed = None, None
        self._changed.notify()

    async def _apply(self, action: Action, record: Record) -> str | None:
        """Carry out ``action``; returns the conversation followed from now on."""
        previous = self.followed
        if action is Action.RESET:
            await self._consultant.reset()
            if previous is not None and previous == record.session_id:  # a compaction: Codex forgets
                members = list(self._consultant.members)
                await anyio.to_thread.run_sync(
                    continuity.drop, self._state, self._workspace, previous, members
                )
            # a new conversation (/clear): the old one keeps its link, for a resume back
        elif action is Action.SWITCH:  # the other conversation's link stays for a resume back
            await self._consultant.reset(then=await self._link(record.session_id))
        elif action is Action.FORK:
            await self._consultant.fork()
        elif action is Action.CLOSE:
            await self._consultant.reset()  # the link stays: `claude --resume` brings Codex back
            return previous or record.session_id
        elif action is Action.ADOPT:
            await self._adopt(record.session_id)
        return record.session_id

    async def _adopt(self, claude_session: str) -> None:
        """Reopen ``claude_session``'s sessions next (each member's), unless one is open already."""
        adopted = await self._consultant.adopt(await self._link(claude_session))
        if adopted:
            log.info(
                "will restore the sessions of %s for Claude session %s", ", ".join(adopted), claude_session
            )

    async def _link(self, claude_session: str) -> dict[str, Reopen]:
        """Each member's session linked to ``claude_session``, where there is a usable link."""

        def load() -> dict[str, continuity.Link]:
            found = {}
            for member in self._consultant.members:
                link = continuity.load(self._state, self._workspace, claude_session, member)
                if link is not None:
                    found[member] = link
            return found

        reopens = {}
        for member, link in (await anyio.to_thread.run_sync(load)).items():
            verdict = VerdictLine(link.verdict, link.summary) if link.verdict is not None else None
            reopens[member] = Reopen(link.codex_session, link.rounds, verdict)
        return reopens

    # -- saving ----------------------------------------------------------------------------------

    async def _turns_ended(self) -> None:
        """A member's turn ended (the council's ``ended`` stream): its link may have changed."""
        while True:
            await self._consultant.ended.wait()
            self._changed.notify()

    async def _save_loop(self) -> None:
        """Save what changed: after each turn that ends, and after each record acted on."""
        while True:
            await self._changed.wait()
            try:
                links, state = self._to_save()
                if not links and state is None:
                    continue  # nothing changed: a steady run of consults writes nothing
                await anyio.to_thread.run_sync(self._write, links, state)
            except (OSError, ValueError) as exc:
                log.warning("cannot save the session links: %s", exc)
            except Exception:
                log.exception("saving the session links failed")

    async def flush(self) -> None:
        """Save what changed since the last save (the server is stopping: the loop may not run
        again). Bounded and quiet: a failure is logged."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            try:
                links, state = self._to_save()
                if links or state is not None:
                    await anyio.to_thread.run_sync(self._write, links, state)
            except Exception as exc:
                log.warning("cannot save the session links at shutdown: %s", exc)

    def _to_save(self) -> tuple[list[continuity.Link], tuple[str, int | None, str | None] | None]:
        """Each member's link and the debate state for the hook, from the members' status now, each
        only if it changed since the last save."""
        links = []
        if self.followed is not None:
            for spec, status, _ in self._consultant.statuses(stderr=False):
                if status.session_id is None:
                    continue
                verdict = status.last_verdict
                link = continuity.Link(
                    claude_session=self.followed,
                    codex_session=status.session_id,
                    agent=status.agent_name or "",
                    rounds=status.debate_round,
                    verdict=verdict.standing if verdict is not None else None,
                    summary=self._clean(verdict.summary) if verdict is not None else "",
                    member=spec.name,
                )
                if link != self._saved_links.get(spec.name):
                    links.append(link)
        status = self._consultant.status(stderr=False)
        debate = self._clean(render_status.debate_state(status, self._config.reset_on))  # Claude reads it
        state = (debate, self.window, self.followed)
        return links, (state if state != self._saved_state else None)

    def _clean(self, text: str) -> str:
        """``text`` redacted as what Claude reads; a text seen at the last save is not scanned again
        (after every turn the same verdicts and debate line come back)."""
        cleaned = self._cleaned.get(text)
        if cleaned is None:
            cleaned = redact_credentials(text)
            if len(self._cleaned) > 64:
                self._cleaned.clear()
            self._cleaned[text] = cleaned
        return cleaned

    def _write(self, links: list[continuity.Link], state: tuple[str, int | None, str | None] | None) -> None:
        for link in links:
            continuity.save(self._state, self._workspace, link)
            self._saved_links[link.member] = link
        if state is not None:
            summary, window, followed = state
            serverside.write_debate_state(self._state, self._workspace, window, summary, followed)
            self._saved_state = state


class _Kept:
    """The last read of the record, kept while a stat shows neither it nor its directory changed —
    only a read whose stat was settled (:data:`SETTLED_S`) and the same after the read as before."""

    def __init__(self) -> None:
        self._kept: tuple[object, Record | _Missing | None] | None = None

    def get(self, paths: nonce.RecordPaths) -> tuple[Record | _Missing | None] | None:
        """What the kept read found, if it still stands (on the loop: two ``stat`` calls)."""
        kept = self._kept
        now = _stat(paths) if kept is not None else None
        return (kept[1],) if kept is not None and now is not None and now[0] == kept[0] else None

    def read(self, follower: Follower) -> Record | _Missing | None:
        """The ``follower``'s record (blocking: a worker thread runs it; it may choose the window)."""
        self._kept, began, before = None, time.time_ns(), _stat(follower._paths)
        found = follower._record()
        if before is not None and before[1] < began - SETTLED_S * 1e9 and _stat(follower._paths) == before:
            self._kept = (before[0], found)
        return found


def _stat(paths: nonce.RecordPaths) -> tuple[object, int] | None:
    """The stat (identity, size, times) of the record followed (and of its directory while no window is
    known), and the newest of their times; None when one cannot be stat'ed. Cheap enough for the loop."""
    path = paths.window or paths.workspace
    try:
        # The directory only while no window is known: a window's record appearing there may be ours.
        stats = [os.stat(paths.directory)] if paths.window is None else []
        with contextlib.suppress(FileNotFoundError):
            stats.append(os.stat(path, follow_symlinks=False))
    except OSError:
        return None
    if not stats:
        return (path, None), 0  # no window record yet: a record appearing changes this
    key = [(s.st_ino, s.st_dev, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in stats]
    return (path, *key), max(stamp for s in stats for stamp in (s.st_mtime_ns, s.st_ctime_ns))


def _is_record(change: object, path: str) -> bool:
    """The files worth a look: records (``pid-*.json``, ``workspace.json``), not our debate states or
    the hook's temporary files."""
    name = os.path.basename(path)
    return name.endswith(".json") and not name.endswith(".debate.json") and not name.startswith(".")
