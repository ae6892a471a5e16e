"""The one tool boundary: how every tool runs, and how a waiting call shows progress.

:func:`guarded` wraps each tool of the table (httpx's ``map_exceptions``, Serena's ``apply_ex``): its
text arguments made well-formed (a lone surrogate can reach neither an agent nor a log, ADR 0012),
its result too, and every error converted here and only here — a
:class:`~codex_fusion.errors.FusionError` becomes the error result the host's model reads, redacted
as every text it reads; anything else is a bug, logged with its traceback and said to be one.

:func:`with_progress` is the one way a tool waits on work below it with progress: a
:class:`~codex_fusion.mcp.progress.ProgressPump` runs beside the step, follows what the step tells it
to follow, and is flushed before the result.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from codex_fusion.errors import FusionError
from codex_fusion.mcp.progress import FIRST_LOOK_S, ProgressPump
from codex_fusion.member.signal import Changes
from codex_fusion.text import wellformed
from codex_fusion.text.redact import redact_credentials

log = logging.getLogger(__name__)
T = TypeVar("T")


def guarded(fn: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
    """``fn`` at the MCP boundary: arguments and result well-formed, every error an error result."""

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> str:
        args = tuple(_clean(value) for value in args)
        kwargs = {name: _clean(value) for name, value in kwargs.items()}
        try:
            return wellformed.text(await fn(*args, **kwargs))
        except FusionError as exc:
            message = str(exc)
        except Exception as exc:
            log.exception("the %s tool failed", fn.__name__)
            message = (
                f"codex-fusion failed on this call ({type(exc).__name__}: {exc}); this is a bug in "
                "codex-fusion, logged with its traceback. The server is still up: try again, or call "
                "`status`."
            )
        raise ToolError(wellformed.text(redact_credentials(message))) from None

    return call


def _call_later(delay: float, fn: Callable[[], None]) -> Callable[[], None]:
    """Call ``fn`` in ``delay`` seconds on the event loop; returns what cancels that. Off asyncio (anyio
    on trio), at once."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return lambda: None
    return loop.call_later(delay, fn).cancel


def _clean(value: Any) -> Any:
    return wellformed.data(value) if isinstance(value, str | list) else value


async def with_progress(
    ctx: Context,
    step: Callable[[ProgressPump], Awaitable[T]],
    *,
    status: str,
    changes: Changes | None = None,
) -> T:
    """Run ``step`` with a progress pump beside it (woken by ``changes``, the member layer's event
    stream), then send the last state once more. Errors pass through to :func:`guarded`, whole."""

    async def send(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    pump = ProgressPump(send, changes=changes)
    pump.set_status(status)
    failure: BaseException | None = None
    async with anyio.create_task_group() as tg:
        # Most calls end before the pump's first look: its task starts only then, from a timer of the
        # loop that the call cancels as it ends (spawning a task to cancel it cost ~0.1 ms a call).
        # The task is still the call's: this group owns it.
        started, began = False, time.monotonic()

        def start() -> None:
            nonlocal started
            started = True
            tg.start_soon(pump.run, time.monotonic() - began)

        timer = _call_later(FIRST_LOOK_S, start)
        try:
            result = await step(pump)
        except Exception as exc:
            failure = exc  # raised outside the task group: one error, not an exception group
        finally:
            timer()
            if started:
                tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    await pump.flush()
    return result
