"""Shut a test's RunEngine down completely, failing the test if it left tasks running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from bluesky import RunEngine
from bluesky.utils import TransitionError


def shut_down_run_engine(RE: RunEngine, before_stop: Callable[[], None] | None = None) -> None:
    """Halt the RunEngine if needed, run ``before_stop``, then stop its loop and thread.

    Raises:
        AssertionError: when tasks were still running on the RunEngine's loop.
    """
    if RE.state not in ("idle", "panicked"):
        with contextlib.suppress(TransitionError):
            RE.halt()
    if before_stop is not None:
        before_stop()
    loop = RE.loop

    async def leftover_tasks() -> list[asyncio.Task[Any]]:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_default_executor()
        return tasks

    leaked = asyncio.run_coroutine_threadsafe(leftover_tasks(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    RE._th.join(timeout=10)
    loop.close()
    assert not leaked, f"tasks left running on the RunEngine's loop: {leaked}"
