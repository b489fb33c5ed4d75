"""Background work a service runs beside its routes: a task repeated forever (a feed follower) and
its orderly stop. One loop for every service, so each only says what one tick does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("skillpass.background")


async def repeat_forever(tick: Callable[[], Awaitable[object]], interval_s: float, what: str) -> None:
    """Runs ``tick`` every ``interval_s``; a failure is logged and retried at the next tick, never
    fatal (a follower must survive any upstream or database hiccup). Only the exception's type is
    logged: its message may carry an upstream's answer or a row's values."""
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed: %s", what, type(exc).__name__)
        await asyncio.sleep(interval_s)


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancels ``task`` and waits until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
