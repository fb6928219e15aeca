"""The filter wheel: moves the shorter way round, refuses positions it does not have."""

from __future__ import annotations

import time

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel
from hcs_devices.sim.hardware import SimFilterWheelBackend


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
