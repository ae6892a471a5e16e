"""The one event stream of the member layer: "something changed", broadcast to whoever waits.

A :class:`Changes` is not a queue and carries no data: a waiter wakes at the next :meth:`notify`
and reads the state it cares about (a turn's transcript, a seat, a task) through the owners'
methods. Turns notify it on every update and every state change; a member notifies it when a turn
ends. Readers live above (the MCP layer's progress, the follower that saves links); nothing here
calls them.
"""

from __future__ import annotations

import anyio


class Changes:
    def __init__(self) -> None:
        self._event: anyio.Event | None = None
        #: Bumped on every notify: a reader compares it with the version it last saw.
        self.version = 0

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def wait(self) -> None:
        """Until the next :meth:`notify`."""
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()
