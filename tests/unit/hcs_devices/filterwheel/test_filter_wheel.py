"""The filter wheel: moves the shorter way round, refuses positions it does not have."""

from __future__ import annotations

import asyncio
import time

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel
from hcs_devices.sim.hardware import SimFilterWheelBackend
from stopped_moves import stop_before_the_move_runs


@pytest.fixture
async def wheel(profile_config: MicroscopeConfig) -> FilterWheel:
    cfg = profile_config.filter_wheel
    device = FilterWheel(
        SimFilterWheelBackend(cfg),
        positions=cfg.positions,
        filter_names={f.position: f.name for f in cfg.filters},
        name="filter_wheel",
    )
    await device.connect()
    return device


@pytest.mark.timing
@pytest.mark.parametrize(("target", "steps"), [(2, 1), (5, 4), (8, 1), (6, 3)])
async def test_filter_wheel_takes_time_per_position_when_moving_the_shorter_way(
    wheel: FilterWheel, profile_config: MicroscopeConfig, target: int, steps: int
) -> None:
    per_step = profile_config.filter_wheel.move_time_per_position_s
    turns = []
    for _ in range(3):  # the quickest of three: a busy machine only ever adds time
        await wheel.set(1)
        t0 = time.monotonic()
        await wheel.set(target)
        turns.append(time.monotonic() - t0)
    assert min(turns) >= steps * per_step - 0.005
    assert min(turns) < steps * per_step + 0.04
    assert await wheel.position.get_value() == target
    assert (await wheel.read())["filter_wheel"]["value"] == target


@pytest.mark.parametrize("target", [0, 9, -1])
async def test_filter_wheel_refuses_when_the_position_does_not_exist(
    wheel: FilterWheel, target: int
) -> None:
    with pytest.raises(ValueError, match=rf"filter_wheel: position {target} is outside 1\.\.8"):
        await wheel.set(target)
    assert await wheel.position.get_value() == 1


@pytest.mark.parametrize("success", [True, False])
async def test_filter_wheel_does_not_turn_when_stopped_before_its_move_began(
    wheel: FilterWheel, success: bool
) -> None:
    # The RunEngine asks for a turn, then an abort or a pause stops the wheel before
    # the move's task has run once: the stop must not be lost.
    backend = wheel.backend
    assert isinstance(backend, SimFilterWheelBackend)
    status = wheel.set(5)
    await stop_before_the_move_runs(wheel, status, success=success)
    await asyncio.sleep(0.3)  # longer than the turn would take
    assert backend.current == 1
    assert await wheel.position.get_value() == 1
    # and the next turn is not stopped by that stop
    await wheel.set(3)
    assert await wheel.position.get_value() == 3 == backend.current
