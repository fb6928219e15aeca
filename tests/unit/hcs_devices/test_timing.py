"""Precise waits on the event loop, below its millisecond timer resolution."""

from __future__ import annotations

import asyncio
import time

import pytest

from hcs_devices.timing import LOOP_TIMER_RESOLUTION_S, sleep_precisely

#: Wall-clock waits of a millisecond or less: run in the serial timing phase.
pytestmark = pytest.mark.timing


async def test_sleep_precisely_waits_a_sub_millisecond_duration_not_a_whole_timer_tick() -> None:
    durations = []
    for _ in range(50):
        start = time.monotonic()
        await sleep_precisely(100e-6)
        durations.append(time.monotonic() - start)
    assert min(durations) >= 100e-6
    # asyncio.sleep(100e-6) takes a whole timer tick (about 1 ms); most waits here do not
    assert sorted(durations)[len(durations) // 2] < 0.5 * LOOP_TIMER_RESOLUTION_S


async def test_sleep_precisely_lets_other_tasks_run_while_it_waits() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await sleep_precisely(1.5e-3)  # all of it yielding to the loop
    task.cancel()
    assert ticks > 1


async def test_sleep_precisely_does_not_wait_for_a_duration_of_zero_or_less() -> None:
    start = time.monotonic()
    await sleep_precisely(-1.0)
    await sleep_precisely(0.0)
    assert time.monotonic() - start < LOOP_TIMER_RESOLUTION_S


async def test_sleep_precisely_ends_close_to_its_deadline_when_longer_than_a_timer_tick() -> None:
    late = []
    for _ in range(20):
        start = time.monotonic()
        await sleep_precisely(5e-3)
        late.append(time.monotonic() - start - 5e-3)
    assert min(late) >= 0.0
    # asyncio.sleep(5e-3) ends up to a timer tick late; most waits here end well before
    assert sorted(late)[len(late) // 2] < 0.5 * LOOP_TIMER_RESOLUTION_S
