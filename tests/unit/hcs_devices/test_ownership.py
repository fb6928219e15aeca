"""While a run owns the microscope, commands from anyone else are refused before anything moves."""

from __future__ import annotations

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel
from hcs_devices.illumination import Illumination
from hcs_devices.ownership import BusyError, HardwareOwner
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.sim.hardware import SimFilterWheelBackend, SimIlluminationBackend
from hcs_devices.stage import Axis


@pytest.fixture
def owner() -> HardwareOwner:
    return HardwareOwner()


@pytest.fixture
async def x_axis(owner: HardwareOwner, profile_config: MicroscopeConfig) -> Axis:
    cfg = profile_config.stage.x
    axis = Axis(
        SimAxisBackend(cfg),
        low_limit_um=cfg.low_limit_um,
        high_limit_um=cfg.high_limit_um,
        initial_um=cfg.start_um,
        owner=owner,
        name="x",
    )
    await axis.connect()
    return axis


async def test_axis_move_raises_busy_and_nothing_moves_when_a_run_owns_the_hardware(
    owner: HardwareOwner, x_axis: Axis
) -> None:
    token = owner.claim("run 7 (acquire_plate)")
    assert isinstance(x_axis.backend, SimAxisBackend)
    before = await x_axis.user_readback.get_value()
    with pytest.raises(BusyError, match=r"busy: x\.set refused, the microscope is owned by run 7"):
        await x_axis.set(before + 100.0)
    assert x_axis.backend.moves.count == 0
    assert x_axis.backend.position_now() == before
    assert await x_axis.user_readback.get_value() == before
    assert await x_axis.user_setpoint.get_value() == before

    with owner.acting_as(token):
        await x_axis.set(before + 100.0)
    assert await x_axis.user_readback.get_value() == before + 100.0


async def test_axis_move_works_when_a_task_is_started_by_the_owner(
    owner: HardwareOwner, x_axis: Axis
) -> None:
    token = owner.claim("run 8")
    start = await x_axis.user_readback.get_value()
    with owner.acting_as(token):
        status = x_axis.set(start + 10.0)  # its task inherits the owner's context
    await status
    assert await x_axis.user_readback.get_value() == start + 10.0
    # Outside the owner's context the same command is refused again.
    with pytest.raises(BusyError):
        await x_axis.set(start)


async def test_axis_move_works_again_when_the_run_releases_the_hardware(
    owner: HardwareOwner, x_axis: Axis
) -> None:
    token = owner.claim("run 9")
    owner.release(object())  # a stale token changes nothing
    assert owner.owned
    owner.release(token)
    assert not owner.owned
    start = await x_axis.user_readback.get_value()
    await x_axis.set(start + 5.0)
    assert await x_axis.user_readback.get_value() == start + 5.0


def test_owner_claim_raises_busy_naming_the_owner_when_already_claimed(
    owner: HardwareOwner,
) -> None:
    owner.claim("run 1 (acquire_plate)")
    with pytest.raises(BusyError, match=r"owned by run 1 \(acquire_plate\)"):
        owner.claim("run 2")


async def test_devices_refuse_commands_but_allow_light_off_when_a_run_owns_the_hardware(
    owner: HardwareOwner, profile_config: MicroscopeConfig
) -> None:
    sources = [s.name for s in profile_config.illumination.sources]
    light_backend = SimIlluminationBackend(sources)
    light = Illumination(light_backend, sources=sources, owner=owner, name="illumination")
    wheel_backend = SimFilterWheelBackend(profile_config.filter_wheel)
    wheel = FilterWheel(wheel_backend, positions=8, owner=owner, name="filter_wheel")
    await light.connect()
    await wheel.connect()
    token = owner.claim("run 3")
    with owner.acting_as(token):
        await light.source.set("488")
        await light.on.set(True)
    with pytest.raises(BusyError, match=r"illumination\.source refused"):
        await light.source.set("561")
    with pytest.raises(BusyError, match=r"illumination\.on refused"):
        await light.on.set(True)
    with pytest.raises(BusyError, match=r"filter_wheel\.set refused"):
        await wheel.set(3)
    assert light_backend.selected == "488"
    assert wheel_backend.current == 1
    # Switching the light off is the safe state: always allowed.
    await light.on.set(False)
    assert light_backend.is_on is False
