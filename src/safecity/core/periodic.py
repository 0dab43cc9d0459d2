"""Work done again and again in the background (escalations, overdue checks, sweeps) until shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less if `stop` is set meanwhile; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def repeat(
    stop: asyncio.Event, seconds: float, work: Callable[[], Awaitable[object]], *, what: str
) -> None:
    """Run `work` every `seconds` until `stop` is set, the first time one interval after start. A round that
    fails is logged (as "`what` failed") and tried again the next time: the database may be away a moment,
    and one bad round must never end the loop or take the process down."""
    while not await stopped(stop, seconds):
        try:
            await work()
        except Exception:
            logger.exception("%s failed; tried again in %s s", what, seconds)
