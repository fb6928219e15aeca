"""A move to where an axis already arrived commands nothing, unless it moved since."""

from __future__ import annotations

import asyncio

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.stage import Axis
from hcs_devices.stage.axis import SoftLimitError


async def make_axis(config: MicroscopeConfig) -> tuple[Axis, SimAxisBackend]:
    cfg = config.stage.x
    backend = SimAxisBackend(cfg)
    axis = Axis(
        backend,
        low_limit_um=cfg.low_limit_um,
        high_limit_um=cfg.high_limit_um,
        initial_um=cfg.start_um,
        name="x",
    )
    await axis.connect()
    return axis, backend


async def test_axis_commands_nothing_when_moved_again_to_where_it_arrived(
    profile_config: MicroscopeConfig,
) -> None:
    axis, backend = await make_axis(profile_config)
    target = profile_config.stage.x.start_um + 500.0
    await axis.set(target)
    await axis.set(target)
    assert backend.moves.since(0) == [target]
    assert await axis.user_readback.get_value() == target


@pytest.mark.slow
async def test_axis_moves_again_to_the_same_target_when_a_stop_cut_the_move_short(
    profile_config: MicroscopeConfig,
) -> None:
    axis, backend = await make_axis(profile_config)
    target = profile_config.stage.x.start_um + 80000.0  # seconds of travel
    status = axis.set(target)
    await asyncio.sleep(0.2)
    await axis.stop(success=True)  # what a pause does
    await status
    assert backend.position_now() < target
    await axis.set(target)
    assert backend.moves.since(0) == [target, target]
    assert backend.position_now() == target


async def test_axis_moves_again_when_something_else_moved_it_since_it_arrived(
    profile_config: MicroscopeConfig,
) -> None:
    axis, backend = await make_axis(profile_config)
    target = profile_config.stage.x.start_um + 500.0
    await axis.set(target)
    await backend.move_to(target + 20.0, None)  # a joystick, a hardware sequence...
    await axis.set(target)
    assert backend.moves.since(0) == [target, target + 20.0, target]
    assert backend.position_now() == target


async def test_axis_says_it_arrived_only_at_the_target_of_its_last_unstopped_move(
    profile_config: MicroscopeConfig,
) -> None:
    axis, _ = await make_axis(profile_config)
    start = profile_config.stage.x.start_um
    assert not axis.arrived_at(start)  # it has not moved yet
    await axis.set(start + 500.0)
    assert axis.arrived_at(start + 500.0)
    assert not axis.arrived_at(start + 499.0)
    status = axis.set(start + 80000.0)
    await asyncio.sleep(0.05)
    assert not axis.arrived_at(start + 500.0)  # moving elsewhere now
    await axis.stop(success=True)
    await status
    assert not axis.arrived_at(start + 80000.0)  # stopped short


async def test_axis_refuses_a_move_to_where_it_arrived_when_the_soft_limits_exclude_it_now(
    profile_config: MicroscopeConfig,
) -> None:
    axis, backend = await make_axis(profile_config)
    target = profile_config.stage.x.start_um + 500.0
    await axis.set(target)
    await axis.high_limit_um.set(target - 1.0)
    with pytest.raises(SoftLimitError, match=r"outside the soft limits"):
        await axis.set(target)
    assert backend.moves.since(0) == [target]
