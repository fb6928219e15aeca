"""The driver against the emulated board over a real pseudo-terminal, faults included."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from hcs_devices.squid.config import AxisLimits, SquidConfig
from hcs_devices.squid.driver import SquidDriver
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.errors import (
    SquidCommandError,
    SquidConnectionError,
    SquidMoveStoppedError,
    SquidTimeoutError,
)
from hcs_devices.squid.protocol import Axis, Opcode, int32, uint8, uint16

MakeDriver = Callable[..., SquidDriver]


@pytest.fixture
async def make_driver(
    make_config: Callable[..., SquidConfig], limits: dict[str, AxisLimits]
) -> AsyncIterator[MakeDriver]:
    """Connected drivers (no homing, no wheel unless asked), closed after the test."""
    drivers: list[SquidDriver] = []

    def make(**overrides: object) -> SquidDriver:
        options: dict[str, object] = {"home_on_connect": ()}
        options.update(overrides)
        driver = SquidDriver(make_config(**options), limits)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        await driver.close()


async def connected(make_driver: MakeDriver, **overrides: object) -> SquidDriver:
    driver = make_driver(**overrides)
    await driver.connect()
    return driver


def _x(um: float) -> int:
    return SquidConfig(port="-").x.um_to_usteps(um)


async def test_driver_runs_startup_sequence_when_connecting(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    await connected(make_driver, home_on_connect=("z", "x", "y"))
    ops = board.emulator.executed_opcodes()
    assert ops[:2] == ["RESET", "INITIALIZE"]
    assert ops[2:7] == [
        "SET_LEAD_SCREW_PITCH",
        "CONFIGURE_STEPPER_DRIVER",
        "SET_MAX_VELOCITY_ACCELERATION",
        "SET_LIM_SWITCH_POLARITY",
        "SET_HOME_SAFETY_MARGIN",
    ]
    assert ops.count("SET_LIM") == 6
    assert ops.index("SET_ILLUMINATION_INTENSITY_FACTOR") < ops.index("TURN_OFF_ALL_PORTS")
    assert ops.index("SET_LIM") < ops.index("HOME_OR_ZERO")
    assert ops.count("HOME_OR_ZERO") == 3
    assert "INITFILTERWHEEL" in ops
    assert ops[-2:] == ["SET_WATCHDOG_TIMEOUT", "HEARTBEAT"] or ops[-1] == "HEARTBEAT"
    assert board.emulator.soft_limits_usteps(Axis.X) == (_x(10_000), _x(112_500))
    assert board.emulator.velocity_acceleration(Axis.Z) == (3.8, 100.0)
    assert board.emulator.watchdog_timeout_s == 5.0


async def test_driver_moves_to_target_when_commanded(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    status = await driver.move_to_usteps(Axis.X, _x(50_000))
    assert status.x_usteps == _x(50_000) == board.emulator.position_usteps(Axis.X)
    assert driver.position_usteps(Axis.X) == _x(50_000)


@pytest.mark.slow
async def test_driver_resends_when_packets_dropped(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    board.emulator.drop_next_commands(2)
    await driver.move_to_usteps(Axis.Y, 300_000)
    assert driver.stats.resends == 2
    assert board.emulator.position_usteps(Axis.Y) == 300_000
    moves = [e for e in board.emulator.executed if e.opcode_name == "MOVETO_Y"]
    assert len(moves) == 1


async def test_driver_fails_naming_command_when_every_packet_dropped(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, resend_timeout_s=0.05, max_resends=3)
    # (a reply slower than 50 ms on a loaded machine may already have cost a resend)
    resends_before = driver.stats.resends
    board.emulator.drop_next_commands(100)
    with pytest.raises(SquidTimeoutError, match=r"MOVETO_X \(id \d+\): no reply after 4 sends"):
        await driver.move_to_usteps(Axis.X, _x(20_000))
    assert driver.stats.resends - resends_before == 3


async def test_driver_recovers_when_status_bytes_corrupted(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    board.emulator.corrupt_next_status(30)
    await driver.move_to_usteps(Axis.X, _x(30_000))
    await driver.execute(Opcode.HEARTBEAT)
    assert board.emulator.position_usteps(Axis.X) == _x(30_000)
    assert driver.transport.parser.discarded_bytes > 0


async def test_driver_resends_when_board_reports_checksum_error(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    # A resend timeout far longer than the move: only a resend on status 2 ends in time.
    driver = await connected(make_driver, resend_timeout_s=2.0)
    board.emulator.corrupt_next_received(1)
    started = time.monotonic()
    await driver.move_to_usteps(Axis.Z, -100_000)
    assert time.monotonic() - started < 2.0  # resent on status 2, not after a timeout
    assert driver.stats.checksum_errors >= 1
    assert board.emulator.checksum_errors == 1
    assert board.emulator.position_usteps(Axis.Z) == -100_000


async def test_driver_fails_at_once_naming_command_when_board_refuses(
    make_driver: MakeDriver,
) -> None:
    # The filter wheel is initialised at start-up. A refusal must not wait for a resend.
    driver = await connected(make_driver, resend_timeout_s=2.0)
    await driver.execute(Opcode.MOVETO_W, int32(1600))
    started = time.monotonic()
    with pytest.raises(SquidCommandError, match=r"MOVETO_W2 \(id \d+\): the board refused it"):
        await driver.execute(Opcode.MOVETO_W2, int32(1600))
    assert time.monotonic() - started < 2.0
    assert driver.stats.resends == 0


async def test_driver_refuses_relative_opcode_when_executed_raw(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    received = board.emulator.bytes_received
    with pytest.raises(ValueError, match="relative move"):
        await driver.execute(Opcode.MOVE_X, int32(100))
    assert board.emulator.bytes_received == received


async def test_driver_never_runs_relative_move_twice_when_resent(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, resend_timeout_s=0.1)
    await driver.move_to_usteps(Axis.X, _x(20_000))
    board.emulator.clear_log()
    # Every status for 0.3 s is garbled: the host sees no reply and resends.
    board.emulator.corrupt_next_status(round(0.3 / board.emulator.status_period_s))
    await driver.move_by_usteps(Axis.X, 50_000)
    assert driver.stats.resends >= 1
    log = board.emulator.executed
    assert all(e.opcode_name != "MOVE_X" for e in log)
    moves = [e for e in log if e.opcode_name == "MOVETO_X"]
    assert len(moves) >= 2  # the resends reached the board...
    assert [e.to_usteps for e in moves] == [_x(20_000) + 50_000] * len(moves)
    assert sum(1 for e in moves if e.from_usteps != e.to_usteps) == 1  # ...it moved once
    assert board.emulator.position_usteps(Axis.X) == _x(20_000) + 50_000


async def test_driver_refuses_target_outside_soft_limits_before_sending(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, watchdog_timeout_s=None)
    received = board.emulator.bytes_received
    with pytest.raises(ValueError, match=r"x: .*outside the soft limits .*10000.0\.\.112500.0 um"):
        await driver.move_to_usteps(Axis.X, _x(5_000))
    with pytest.raises(ValueError, match="outside the soft limits"):
        await driver.move_by_usteps(Axis.X, -(10**9))
    assert board.emulator.bytes_received == received


@pytest.mark.slow
async def test_driver_recovers_when_port_vanishes_mid_move(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    board.emulator.speed_factor = 4.0  # 100 mm at 30 mm/s: 3.4 s, here 0.85 s
    target = _x(110_000)
    move = asyncio.create_task(driver.move_to_usteps(Axis.X, target))
    await asyncio.sleep(0.15)
    board.vanish()
    await asyncio.sleep(0.3)
    board.emulator.clear_log()
    board.reappear()
    await move
    assert board.emulator.position_usteps(Axis.X) == target
    assert driver.stats.restores == 1
    ops = board.emulator.executed_opcodes()
    assert ops.count("SET_LIM") == 6  # the state was restored on the new port...
    assert "TURN_OFF_ALL_PORTS" in ops
    assert ops[-1] == "MOVETO_X"  # ...then the move resent with its own id
    assert driver.transport.disconnects == 1


@pytest.mark.slow
async def test_driver_fails_naming_command_when_port_does_not_come_back(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, reconnect_timeout_s=0.3)
    board.emulator.speed_factor = 1.0
    move = asyncio.create_task(driver.move_to_usteps(Axis.Y, 1_000_000))
    await asyncio.sleep(0.1)
    board.vanish()
    with pytest.raises(SquidConnectionError, match=r"MOVETO_Y \(id \d+\): the port .* vanished"):
        await move


@pytest.mark.slow
async def test_driver_times_out_and_switches_light_off_when_axis_stalls(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, min_move_timeout_s=0.3)
    await driver.execute(Opcode.SET_ILLUMINATION, uint8(12) + uint16(40000))
    await driver.execute(Opcode.TURN_ON_ILLUMINATION)
    assert board.emulator.light_on
    await driver.move_to_usteps(Axis.Z, -100_000)
    board.emulator.stall(Axis.Z)
    started = time.monotonic()
    with pytest.raises(
        SquidTimeoutError, match=r"MOVETO_Z \(id \d+\) did not complete within 0\.\d+ s"
    ):
        await driver.move_to_usteps(Axis.Z, -150_000)
    assert time.monotonic() - started < 1.0
    assert not board.emulator.light_on
    assert not board.emulator.moving(Axis.Z)  # stopped where it stalled
    board.emulator.stall(Axis.Z, False)
    await driver.move_to_usteps(Axis.Z, -300_000)  # the driver is usable again
    assert board.emulator.position_usteps(Axis.Z) == -300_000


async def test_driver_stops_move_when_stop_requested(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    board.emulator.speed_factor = 1.0
    move = asyncio.create_task(driver.move_to_usteps(Axis.Y, 1_000_000))
    await asyncio.sleep(0.2)
    await driver.stop(Axis.Y)
    with pytest.raises(SquidMoveStoppedError, match=r"MOVETO_Y \(id \d+\): stopped"):
        await move
    assert not board.emulator.moving(Axis.Y)
    assert 0 < board.emulator.position_usteps(Axis.Y) < 1_000_000


@pytest.mark.slow
async def test_driver_heartbeat_feeds_watchdog_when_idle(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, watchdog_timeout_s=0.3)
    await driver.execute(Opcode.TURN_ON_PORT, uint8(0))
    await asyncio.sleep(0.8)
    assert board.emulator.light_on
    assert board.emulator.watchdog_trips == 0
    assert board.emulator.executed_opcodes().count("HEARTBEAT") >= 3


async def test_driver_resends_when_replies_delayed(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, resend_timeout_s=0.1)
    board.emulator.reply_delay_s = 0.15
    await driver.move_to_usteps(Axis.X, _x(15_000))
    board.emulator.reply_delay_s = 0.0
    assert driver.stats.resends >= 1
    assert board.emulator.position_usteps(Axis.X) == _x(15_000)


async def test_driver_does_not_resend_trigger_when_board_took_it(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver, resend_timeout_s=0.1)
    board.emulator.corrupt_next_status(round(0.25 / board.emulator.status_period_s))
    await driver.execute(Opcode.SEND_HARDWARE_TRIGGER, uint8(0) + int32(1000))
    assert board.emulator.trigger.counts[0] == 1
    board.emulator.drop_next_commands(1)  # the board never got it: resent once
    await driver.execute(Opcode.SEND_HARDWARE_TRIGGER, uint8(0) + int32(1000))
    assert board.emulator.trigger.counts[0] == 2


async def test_driver_acks_button_when_pressed(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = await connected(make_driver)
    board.emulator.press_button()
    for _ in range(100):
        if driver.stats.button_presses:
            break
        await asyncio.sleep(0.01)
    assert driver.stats.button_presses == 1
    assert not board.emulator.button_pressed


async def test_driver_wraps_ids_when_more_than_255_commands(
    make_driver: MakeDriver,
) -> None:
    driver = await connected(make_driver)
    ids = [(await driver.execute(Opcode.HEARTBEAT)).command_id for _ in range(20)]
    assert all(1 <= i <= 255 for i in ids)
    driver.link.next_id = 250  # jump close to the wrap instead of sending 200 commands
    ids = [(await driver.execute(Opcode.HEARTBEAT)).command_id for _ in range(10)]
    assert ids == [250, 251, 252, 253, 254, 255, 1, 2, 3, 4]


async def test_driver_refuses_second_owner_when_port_in_use(make_driver: MakeDriver) -> None:
    await connected(make_driver)
    with pytest.raises(SquidConnectionError, match="cannot open Squid port"):
        await connected(make_driver)


async def test_driver_reports_missing_board_when_port_absent() -> None:
    driver = SquidDriver(SquidConfig(port="/nonexistent/ttyACM9"))
    try:
        with pytest.raises(SquidConnectionError, match="by-id"):
            await driver.connect()
    finally:
        await driver.close()


async def test_driver_accepts_legacy_board_when_crc_zero(limits: dict[str, AxisLimits]) -> None:
    with EmulatedSquid(speed_factor=50.0, legacy_crc=True) as legacy:
        config = SquidConfig(port=legacy.path, reset_settle_s=0.01, home_on_connect=())
        driver = SquidDriver(config, limits)
        try:
            await driver.connect()
            await driver.move_to_usteps(Axis.X, _x(12_000))
            assert legacy.emulator.position_usteps(Axis.X) == _x(12_000)
        finally:
            await driver.close()


async def test_driver_switches_light_off_when_closed(
    board: EmulatedSquid, make_config: Callable[..., SquidConfig], limits: dict[str, AxisLimits]
) -> None:
    driver = SquidDriver(make_config(home_on_connect=()), limits)
    await driver.connect()
    await driver.execute(Opcode.TURN_ON_PORT, uint8(2))
    assert board.emulator.light_on
    await driver.close()
    assert not board.emulator.light_on
    with pytest.raises(SquidConnectionError, match="closed"):
        await driver.execute(Opcode.HEARTBEAT)


async def test_driver_refuses_commands_when_not_connected(
    board: EmulatedSquid, make_driver: MakeDriver
) -> None:
    driver = make_driver()
    with pytest.raises(SquidConnectionError, match=r"call connect\(\) first"):
        await driver.execute(Opcode.HEARTBEAT)
    assert board.emulator.bytes_received == 0
