"""Waiting precisely on an asyncio event loop, even for less than a millisecond.

On Linux the loop waits in ``epoll``, whose timeout is whole milliseconds: an
``asyncio.sleep`` shorter than 1 ms takes about 1 ms, and a longer one ends up to a
millisecond late. Simulated hardware (exposures, moves, filter turns) would then be
slower than the hardware it stands for, by a millisecond a step. :func:`sleep_precisely`
sleeps on the loop's timer until a millisecond before the deadline and yields to the
loop until the deadline from there; other tasks keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import time

#: Shortest wait the event loop times faithfully (s).
LOOP_TIMER_RESOLUTION_S = 1e-3


async def sleep_precisely(seconds: float) -> None:
    """Wait ``seconds``: on the loop's timer, then for the last millisecond by yielding."""
    deadline = time.monotonic() + seconds
    if seconds > 2 * LOOP_TIMER_RESOLUTION_S:
        await asyncio.sleep(seconds - LOOP_TIMER_RESOLUTION_S)
    await asyncio.sleep(0)
    while time.monotonic() < deadline:
        await asyncio.sleep(0)
