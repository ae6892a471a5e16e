"""Driving one turn: the prompt and its continuations, the stopper, and waiting for a pause or the end.

Plain functions the member calls with what they need; each returns to its caller and calls nobody
above. :func:`drive` owns a turn from its prompt until it ends; :func:`see_stops` makes sure a
stopped turn really stops (``session/cancel``, then the agent's process group killed after the
grace); :func:`wait_for` is where a caller waits, and where the idle clock runs.
"""

from __future__ import annotations

import logging
import time

import anyio

from codex_fusion.errors import AgentError, AuthRequired, ConsultError, RpcError
from codex_fusion.launch.login import login_refused, not_logged_in
from codex_fusion.member.ports import Live, SessionPort
from codex_fusion.member.turn import Event, Turn, TurnResult, TurnState

log = logging.getLogger(__name__)


async def drive(session: SessionPort, live: Live, turn: Turn, prompt: str, *, grace: float) -> None:
    """Own the turn until the agent answers its prompt (and any continuation after a deny). Ends the
    turn however it goes; raises only a cancellation (the server is stopping)."""
    try:
        next_prompt: str | None = prompt
        while next_prompt is not None:
            result = await live.agent.prompt(live.session_id, next_prompt)
            next_prompt = turn.prompt_ended(result)
    except AgentError as exc:  # the agent died under the turn
        session.lost(live.agent)
        if turn.state in (TurnState.CANCELLING, TurnState.TIMING_OUT):
            turn.hard_stop()
        elif not turn.done:
            summary = exc.summary + " It will be restarted on the next call."
            turn.fail(AgentError(summary, stderr_tail=exc.stderr_tail))
    except RpcError as exc:
        turn.fail(_rpc_failure(session.member.display, exc))
    except Exception as exc:  # a bug in codex-fusion: this turn fails, the server goes on
        log.exception("a %s turn failed unexpectedly", turn.tool)
        if not turn.done:
            turn.fail(
                ConsultError(
                    f"codex-fusion failed during this turn ({type(exc).__name__}: {exc}): a bug, "
                    "logged with its traceback. The session is kept: ask again, or call `status`."
                )
            )
        with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
            try:  # the agent may still be working on the prompt: the next turn must not overlap it
                await live.agent.cancel(live.session_id)
            except Exception:
                log.debug("session/cancel could not be sent", exc_info=True)
    except BaseException:  # cancelled (shutdown): never leave a waiter hanging
        if not turn.done:
            turn.fail(ConsultError("The turn was interrupted: codex-fusion is shutting down."))
        raise


def _rpc_failure(name: str, exc: RpcError) -> Exception:
    refused = login_refused(exc)
    if refused is not None:
        return AuthRequired(not_logged_in(name, refused) + ".", code=exc.code)
    return ConsultError(
        f"{name} failed this turn: {exc.describe()} (code {exc.code}). The session is "
        "kept; try again, or call `status` for the agent's stderr."
    )


async def wait_for(turn: Turn) -> TurnResult:
    """Wait for the turn's next pause or its end; a cancelled wait cancels the turn.

    The idle timeout runs only here, while someone waits and the agent works: it counts from the
    agent's last progress and is not running while the turn is paused for Claude."""
    try:
        while True:
            if turn.done:
                if turn.error is not None:
                    raise turn.error
                assert turn.outcome is not None
                return turn.outcome
            pause = turn.pause()
            if pause is not None:
                return pause
            if not turn.live:  # stopped (by us, by a cap, by a reset): its stopper ends it
                await turn.finished.wait()
                continue
            idle_left = turn.last_progress + turn.timeout - time.monotonic()
            if idle_left <= 0:
                log.warning("turn idle for %.0fs: timing out", turn.timeout)
                with anyio.CancelScope(shield=True):
                    await turn.stop_and_wait(Event.TIME_OUT)
                continue
            with anyio.move_on_after(idle_left):
                await turn.wait_changed()
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await turn.stop_and_wait(Event.CANCEL)
        raise


async def see_stops(session: SessionPort, turn: Turn, *, grace: float, closing: anyio.Event) -> None:
    """However a turn is stopped (a cap, a reset, a cancel, the idle clock), the agent is told and,
    if it does not stop, killed — also when nobody waits on the turn (it was paused). One task per
    turn in the member's task group: no caller's cancel can leave a turn stopping for ever."""
    while turn.live:
        await turn.wait_changed()
    if turn.done:
        return
    started = time.monotonic()
    agent = session.agent_for(turn.session_id)
    if agent is not None:
        try:
            await agent.cancel(turn.session_id)
        except Exception:  # a dead connection: the driver notices on its own
            log.debug("session/cancel could not be sent", exc_info=True)
        if not closing.is_set():
            with anyio.move_on_after(grace):
                await _first(turn.finished, closing)
    if turn.done:
        log.info("turn %s; the agent stopped in %.2fs", turn.state, time.monotonic() - started)
        return
    log.warning("the agent did not stop within %.1fs; killing it", grace)
    session.kill()
    with anyio.move_on_after(2.0):
        await turn.finished.wait()  # the driver sees the connection close and ends the turn
    if not turn.done:
        turn.hard_stop()


async def _first(*events: anyio.Event) -> None:
    """Wait until any of the events is set."""
    async with anyio.create_task_group() as tg:
        for event in events:

            async def wait(event: anyio.Event = event) -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(wait)
