"""Waiting precisely on an asyncio event loop, even for less than a millisecond.

On Linux the loop waits in ``epoll``, whose timeout is whole milliseconds: an
``asyncio.sleep`` shorter than 1 ms takes about 1 ms. Simulated hardware with
sub-millisecond timings (short exposures, tiny moves) would then be slower than the
hardware it stands for. :func:`sleep_precisely` yields to the loop until the deadline
instead, for waits that short; other tasks keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import time

#: Shortest wait the event loop times faithfully (s).
LOOP_TIMER_RESOLUTION_S = 1e-3


async def sleep_precisely(seconds: float) -> None:
    """Wait ``seconds``; below the loop's timer resolution, by yielding until the deadline."""
    if seconds >= LOOP_TIMER_RESOLUTION_S:
        await asyncio.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    await asyncio.sleep(0)
    while time.monotonic() < deadline:
        await asyncio.sleep(0)
