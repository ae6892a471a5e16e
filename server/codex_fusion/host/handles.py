"""Calls that outlast the host's tool timeout: answered with a handle, collected by a later call.

Codex CLI abandons a tool call after its ``tool_timeout_sec`` (progress does not extend it) while the
agent keeps working; the answer would be lost. A :class:`CallTable` runs such a call in the server's
own task group instead: the tool waits up to the host's limit, then answers with a handle (``c1``)
and the call goes on; ``task`` with that id waits for it again and gives its result once. Every
running call ends with the server (the table's task group is the lifespan's).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

log = logging.getLogger(__name__)

PREFIX = "c"


class HandleError(LookupError):
    """No such call (never started, or its result was already collected)."""


@dataclass
class Call:
    id: str
    what: str  # the tool's name
    started: float
    done: anyio.Event = field(default_factory=anyio.Event)
    text: str | None = None  # the result (or the error result's text)
    failed: bool = False


class CallTable:
    """Use as ``async with CallTable() as calls:``; what still runs is cancelled on exit."""

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self._ids = itertools.count(1)
        self._group: TaskGroup | None = None

    async def __aenter__(self) -> CallTable:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(exc_type, exc, tb)

    @staticmethod
    def owns(ref: str) -> bool:
        """``ref`` is a call's handle (``c1``), not a task's (``t1``)."""
        return ref.startswith(PREFIX) and ref[len(PREFIX) :].isdigit()

    async def run(
        self,
        what: str,
        call: Callable[[], Awaitable[str]],
        wait_s: float,
        is_error: Callable[[BaseException], str | None],
    ) -> Call:
        """Start ``call`` in the table's task group and wait up to ``wait_s`` for it. ``is_error`` turns
        an exception into the text of an error result (None: a bug, raised as it is when collected)."""
        if self._group is None:
            raise RuntimeError("the call table is closed")
        entry = Call(f"{PREFIX}{next(self._ids)}", what, anyio.current_time())
        self.calls[entry.id] = entry

        async def body() -> None:
            try:
                entry.text = await call()
            except Exception as exc:
                text = is_error(exc)
                if text is None:
                    log.exception("the %s call %s failed", what, entry.id)
                    text = f"codex-fusion failed on this call ({type(exc).__name__}); logged. Call `status`."
                entry.text, entry.failed = text, True
            finally:
                entry.done.set()

        self._group.start_soon(body)
        await self.wait(entry, wait_s)
        return entry

    def get(self, ref: str) -> Call:
        found = self.calls.get(ref.strip())
        if found is None:
            held = ", ".join(self.calls) or "none"
            raise HandleError(f"No running call {ref!r} (held: {held}); its result may have been collected.")
        return found

    async def wait(self, entry: Call, wait_s: float) -> None:
        with anyio.move_on_after(wait_s if math.isfinite(wait_s) else None):
            await entry.done.wait()

    def collect(self, entry: Call) -> str | None:
        """The finished call's text, handed out once (the handle is dropped); None while it runs."""
        if not entry.done.is_set():
            return None
        self.calls.pop(entry.id, None)
        return entry.text

    def running_text(self, entry: Call) -> str:
        seconds = anyio.current_time() - entry.started
        return (
            f"⏳ `{entry.what}` is still running after {seconds:.0f} s (handle {entry.id}); it goes on in "
            f'the server. Collect it with `task` {{"id": "{entry.id}", "action": "show", "wait_s": 200}}.'
        )
