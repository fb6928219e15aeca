"""Signals held in memory: read and written without a timeout task."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from ophyd_async.core import soft_signal_rw

from hcs_devices.memory_signals import (
    memory_signal_r_and_setter,
    memory_signal_rw,
    read_now,
    write_now,
)


def count_tasks(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Count the tasks the loop starts from now on (in the returned one-item list)."""
    started = [0]

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any):
        started[0] += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)  # pyright: ignore[reportArgumentType]
    return started


async def test_memory_signals_keep_values_and_metadata_and_start_no_task_per_access() -> None:
    setpoint = memory_signal_rw(float, 1.5, units="um", precision=3, name="setpoint")
    readback, set_readback = memory_signal_r_and_setter(int, 7, name="readback")
    soft = soft_signal_rw(float, 0.0, name="soft")
    for signal in (setpoint, readback, soft):
        await signal.connect()
    described = (await setpoint.describe())["setpoint"]
    assert (described.get("units"), described.get("precision")) == ("um", 3)

    started = count_tasks(asyncio.get_running_loop())
    try:
        assert await setpoint.get_value() == 1.5
        set_readback(9)
        assert await readback.get_value() == 9
        assert started[0] == 0
        await soft.get_value()  # the library's soft signal: a task for its timeout
        assert started[0] == 1
    finally:
        asyncio.get_running_loop().set_task_factory(None)
    await setpoint.set(2.5)
    assert await setpoint.get_value() == 2.5


async def test_memory_signal_setter_checks_each_value_within_its_own_timeout() -> None:
    async def refuse_negative(value: float | None) -> None:
        if value is not None and value < 0:
            raise ValueError(f"exposure_ms {value} is below 0")

    async def hang(value: float | None) -> None:
        await asyncio.sleep(10)

    checked = memory_signal_rw(float, 1.0, setter=refuse_negative, name="checked")
    stuck = memory_signal_rw(float, 1.0, setter=hang, setter_timeout_s=0.05, name="stuck")
    for signal in (checked, stuck):
        await signal.connect()
    await checked.set(2.0)
    with pytest.raises(ValueError, match=r"exposure_ms -1\.0 is below 0"):
        await checked.set(-1.0)
    assert await checked.get_value() == 2.0
    with pytest.raises(TimeoutError):
        await stuck.set(5.0)
    assert await stuck.get_value() == 1.0


async def test_read_now_returns_what_get_value_returns_and_reads_memory_in_place() -> None:
    setpoint = memory_signal_rw(int, 3, name="setpoint")
    readback, set_readback = memory_signal_r_and_setter(float, 0.5, name="readback")
    soft = soft_signal_rw(str, "DAPI", name="soft")
    for signal in (setpoint, readback, soft):
        await signal.connect()
    await write_now(setpoint, 4)
    set_readback(1.25)
    await soft.set("GFP")
    for signal in (setpoint, readback, soft):
        assert await read_now(signal) == await signal.get_value()
    assert (await read_now(setpoint), await read_now(readback)) == (4, 1.25)
    assert await read_now(soft) == "GFP"  # not in memory here: read with get_value

    started = count_tasks(asyncio.get_running_loop())
    try:
        await read_now(setpoint)
        await read_now(readback)
        assert started[0] == 0
        await read_now(soft)  # the library's soft signal keeps its timeout task
        assert started[0] == 1
    finally:
        asyncio.get_running_loop().set_task_factory(None)
