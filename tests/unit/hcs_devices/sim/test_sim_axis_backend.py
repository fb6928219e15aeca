"""The simulated axis: moves last as long as a trapezoidal velocity profile says."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from hcs_devices.config import AxisConfig
from hcs_devices.sim.axis import MoveLog, SimAxisBackend
from hcs_devices.timing import LOOP_TIMER_RESOLUTION_S

AXIS = AxisConfig.model_validate(
    {
        "low_limit_um": 0,
        "high_limit_um": 100000,
        "max_velocity_um_s": 30000,
        "max_acceleration_um_s2": 500000,
    }
)


def profile_time_s(distance_um: float, v: float, a: float) -> float:
    """Duration of a rest-to-rest move: trapezoid if full speed is reached, else triangle."""
    d = abs(distance_um)
    if d >= v * v / a:
        return d / v + v / a
    return 2 * math.sqrt(d / a)


@pytest.mark.parametrize("distance_um", [0.0, 1.0, 500.0, 1800.0, 6000.0, 90000.0])
def test_sim_axis_move_time_matches_the_trapezoid_when_asked(distance_um: float) -> None:
    backend = SimAxisBackend(AXIS)
    expected = profile_time_s(distance_um, AXIS.max_velocity_um_s, AXIS.max_acceleration_um_s2)
    assert backend.move_time_s(distance_um) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert backend.move_time_s(-distance_um) == pytest.approx(expected, rel=1e-9, abs=1e-12)


async def test_sim_axis_raises_timeout_and_stays_put_when_stalled() -> None:
    backend = SimAxisBackend(AXIS, stalled=True)
    start = backend.position_now()
    with pytest.raises(TimeoutError, match=r"did not reach 60000.000 um within 0.1 s"):
        await backend.move_to(60000.0, timeout_s=0.1)
    assert backend.position_now() == start


async def test_sim_axis_starts_at_home_when_configured() -> None:
    backend = SimAxisBackend(AXIS.model_copy(update={"home_um": 1234.0}))
    assert await backend.position_um() == 1234.0
    assert await SimAxisBackend(AXIS).position_um() == 50000.0  # the middle by default


@pytest.mark.timing  # wall-clock waits of a millisecond: run in the serial timing phase
async def test_sim_axis_move_ends_at_its_profiles_end_not_a_timer_tick_later() -> None:
    backend = SimAxisBackend(AXIS)
    distance_um = 5.0  # a focus step's size: a few milliseconds
    duration_s = backend.move_time_s(distance_um)
    assert duration_s > 2 * LOOP_TIMER_RESOLUTION_S
    late = []
    for i in range(20):
        start = time.monotonic()
        await backend.move_to(
            backend.position_now() + (distance_um if i % 2 else -distance_um), 1.0
        )
        late.append(time.monotonic() - start - duration_s)
    assert min(late) >= 0.0
    # The loop's timer alone ends a wait up to a tick late; most moves here end well before
    assert sorted(late)[len(late) // 2] < 0.5 * LOOP_TIMER_RESOLUTION_S


async def test_sim_axis_stops_where_it_is_when_stopped_during_a_move() -> None:
    backend = SimAxisBackend(AXIS)
    start = backend.position_now()
    moving = asyncio.create_task(backend.move_to(start + 60000.0, timeout_s=None))
    await asyncio.sleep(0.02)
    await backend.stop()
    await moving
    stopped_at = backend.position_now()
    assert start < stopped_at < start + 60000.0
    await asyncio.sleep(0.01)
    assert backend.position_now() == stopped_at


@pytest.mark.slow
async def test_sim_axis_counts_every_move_and_keeps_only_the_latest_targets() -> None:
    backend = SimAxisBackend(AXIS)
    backend.moves = MoveLog(keep=3)
    assert backend.moves.last is None and backend.moves.since(0) == []
    for target in range(1, 11):
        await backend.move_to(float(target), timeout_s=None)
    assert backend.moves.count == 10
    assert backend.moves.last == 10.0
    assert backend.moves.since(7) == [8.0, 9.0, 10.0]
    assert backend.moves.since(10) == []
    with pytest.raises(ValueError, match="moves since move 6 are not all kept: 10 moves"):
        backend.moves.since(6)
