"""The device backends on the emulated board."""

from __future__ import annotations

import asyncio

import pytest

from hcs_devices.camera.trigger_backend import CameraTriggerBackend
from hcs_devices.filterwheel.backend import FilterWheelBackend
from hcs_devices.illumination.backend import IlluminationBackend
from hcs_devices.squid.backends import SquidBackends, build_squid_backends
from hcs_devices.squid.config import AxisLimits, SquidConfig
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.protocol import Axis
from hcs_devices.stage import Axis as StageAxis
from hcs_devices.stage.backend import AxisBackend


def test_backends_implement_device_protocols_when_built(limits: dict[str, AxisLimits]) -> None:
    built = build_squid_backends(SquidConfig(port="/dev/null"), limits)
    for axis in (built.x, built.y, built.z, built.piezo):
        assert isinstance(axis, AxisBackend)
    assert isinstance(built.illumination, IlluminationBackend)
    assert isinstance(built.filter_wheel, FilterWheelBackend)
    assert isinstance(built.trigger, CameraTriggerBackend)


def test_build_refuses_when_axis_limits_missing(limits: dict[str, AxisLimits]) -> None:
    del limits["z"]
    with pytest.raises(ValueError, match="missing for z"):
        build_squid_backends(SquidConfig(port="/dev/null"), limits)


@pytest.mark.slow
async def test_stage_reaches_well_centres_when_moving_along_a_plate_row(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    # With the HCS v2 X limit (112.5 mm) column 12 (x = 113.38 mm) is out of reach.
    with pytest.raises(ValueError, match=r"x: target 113380\.0 um is outside"):
        await backends.x.move_to(14_380.0 + 9_000.0 * 11, timeout_s=None)
    for col in range(11):
        for row in (0, 7):
            x_um, y_um = 14_380.0 + 9_000.0 * col, 11_240.0 + 9_000.0 * row
            await backends.x.move_to(x_um, timeout_s=None)
            await backends.y.move_to(y_um, timeout_s=None)
            assert await backends.x.position_um() == pytest.approx(
                x_um, abs=backends.x.um_per_ustep
            )
            assert await backends.y.position_um() == pytest.approx(
                y_um, abs=backends.y.um_per_ustep
            )
            cfg = backends.driver.config
            assert board.emulator.position_usteps(Axis.X) == cfg.x.um_to_usteps(x_um)
            assert board.emulator.position_usteps(Axis.Y) == cfg.y.um_to_usteps(y_um)


async def test_stage_refuses_target_outside_limits_when_nothing_sent(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    received = board.emulator.bytes_received
    with pytest.raises(ValueError, match=r"y: target 80000.0 um is outside .*6000.0\.\.76000.0 um"):
        await backends.y.move_to(80_000.0, timeout_s=None)
    with pytest.raises(ValueError, match="z: target nan um"):
        await backends.z.move_to(float("nan"), timeout_s=None)
    with pytest.raises(ValueError, match="piezo: target 301 um"):
        await backends.piezo.move_to(301, timeout_s=None)  # type: ignore[union-attr]
    assert board.emulator.bytes_received == received


async def test_z_device_ends_moving_up_on_the_board_when_moving_down(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    # The backlash habit lives in the stage device, for every backend alike.
    z = StageAxis(backends.z, low_limit_um=50.0, high_limit_um=7_000.0, backlash_overshoot_um=5.0)
    await z.connect()
    await z.set(3_000.0)
    board.emulator.clear_log()
    await z.set(2_000.0)
    moves = [e for e in board.emulator.executed if e.opcode_name == "MOVETO_Z"]
    cfg = backends.driver.config.z
    assert [e.to_usteps for e in moves] == [cfg.um_to_usteps(1_995.0), cfg.um_to_usteps(2_000.0)]
    assert await backends.z.position_um() == pytest.approx(2_000.0, abs=backends.z.um_per_ustep)
    board.emulator.clear_log()
    await z.set(2_500.0)  # upward: no overshoot
    assert board.emulator.executed_opcodes() == ["MOVETO_Z"]


async def test_stage_reads_position_when_mid_move(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    board.emulator.speed_factor = 10.0  # 90 mm: 3.06 s, here 0.31 s
    move = asyncio.create_task(backends.x.move_to(100_000.0, timeout_s=None))
    await asyncio.sleep(0.1)
    middle = await backends.x.position_um()
    await move
    assert 0.0 < middle < 100_000.0
    assert backends.x.move_time_s(90_000.0) == pytest.approx(3.06)


async def test_illumination_switches_selected_source_when_set_on(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    light = backends.illumination
    await light.select("561", 25.0)
    assert (board.emulator.illumination_source, board.emulator.illumination_intensity) == (
        14,
        16383,
    )
    assert not board.emulator.light_on
    await light.set_on(True)
    assert board.emulator.port_on[2]  # source 14 is port D3
    await light.select("638", 10.0)  # another source starts off
    assert not board.emulator.light_on
    await light.set_on(True)
    await light.all_off()
    assert not board.emulator.light_on


async def test_illumination_sets_led_matrix_colour_when_matrix_selected(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    await backends.illumination.select("led_matrix_full", 50.0)
    assert board.emulator.led_matrix == (0, 128, 128, 128)
    with pytest.raises(ValueError, match="unknown illumination source 'UV'"):
        await backends.illumination.select("UV", 10.0)


async def test_filter_wheel_moves_when_position_valid(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    wheel = backends.filter_wheel
    assert wheel is not None
    assert await wheel.position() == 1
    await wheel.move_to(5)
    assert await wheel.position() == 5
    assert board.emulator.position_usteps(Axis.W) == 4 * 1600
    with pytest.raises(ValueError, match=r"1\.\.8, got 9"):
        await wheel.move_to(9)


async def test_trigger_counts_pulses_when_triggered(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    for _ in range(3):
        await backends.trigger.trigger(15_000, control_illumination=True)
    assert board.emulator.trigger.counts[0] == 3
    assert board.emulator.trigger.last_on_time_us == 15_000
    assert board.emulator.trigger.last_control_illumination


async def test_piezo_writes_dac_when_moved(board: EmulatedSquid, backends: SquidBackends) -> None:
    piezo = backends.piezo
    assert piezo is not None
    await piezo.move_to(75.0, timeout_s=None)
    assert board.emulator.dac[7] == round(75 / 300 * 65535)
    assert await piezo.position_um() == pytest.approx(75.0, abs=300 / 65535)
