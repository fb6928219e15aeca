"""The emulator on its own: bytes in through receive(), status packets out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hcs_devices.squid.emulator import SquidEmulator
from hcs_devices.squid.protocol import (
    Axis,
    Command,
    CommandStatus,
    LimitCode,
    Opcode,
    Status,
    StatusStreamParser,
    int32,
    uint8,
    uint16,
    uint32,
)


class Host:
    """The host end of the wire: collects and parses what the emulator sends."""

    def __init__(self, emulator: SquidEmulator) -> None:
        self.emulator = emulator
        self._parser = StatusStreamParser("strict")
        self._cond = threading.Condition()
        self.statuses: list[Status] = []
        emulator.attach(self._receive)

    def _receive(self, data: bytes) -> None:
        with self._cond:
            self.statuses += self._parser.feed(data)
            self._cond.notify_all()

    def send(self, cid: int, opcode: int, payload: bytes = b"") -> bytes:
        packet = Command.build(cid, opcode, payload).encode()
        self.emulator.receive(packet)
        return packet

    def wait_for(self, predicate: Callable[[Status], bool], timeout: float = 2.0) -> Status:
        with self._cond:
            start = len(self.statuses)
            ok = self._cond.wait_for(
                lambda: any(predicate(s) for s in self.statuses[start:]), timeout
            )
            assert ok, f"no matching status; last: {self.statuses[-1:]}"
            return next(s for s in self.statuses[start:] if predicate(s))


@pytest.fixture
def host() -> Iterator[Host]:
    emulator = SquidEmulator(speed_factor=20.0, seed=3)
    wire = Host(emulator)
    emulator.start()
    yield wire
    emulator.close()


def test_emulator_sends_status_every_period_when_running(host: Host) -> None:
    status = host.wait_for(lambda s: True)
    assert status.firmware_version == 0x14
    count = len(host.statuses)
    threading.Event().wait(0.2)
    assert 12 <= len(host.statuses) - count <= 25


def test_emulator_reports_checksum_error_and_flushes_when_crc_bad(host: Host) -> None:
    bad = bytearray(Command.build(9, Opcode.MOVETO_X, int32(500)).encode())
    bad[7] ^= 0xFF
    good = Command.build(10, Opcode.MOVETO_X, int32(800)).encode()
    host.emulator.receive(bytes(bad) + good)  # the good packet is flushed with the bad one
    status = host.wait_for(lambda s: s.command_id == 9)
    assert status.status == CommandStatus.CHECKSUM_ERROR
    assert host.emulator.checksum_errors == 1
    assert host.emulator.executed == []


def test_emulator_completes_when_opcode_unknown(host: Host) -> None:
    host.send(5, 99)
    assert host.wait_for(lambda s: s.command_id == 5).status == CommandStatus.COMPLETED


def test_emulator_clamps_when_relative_move_passes_soft_limit(host: Host) -> None:
    host.send(1, Opcode.SET_LIM, uint8(LimitCode.X_POSITIVE) + int32(1000))
    host.send(2, Opcode.MOVE_X, int32(5000))
    done = host.wait_for(lambda s: s.command_id == 2 and s.status == 0)
    assert done.x_usteps == 1000


def test_emulator_never_completes_when_absolute_move_passes_soft_limit(host: Host) -> None:
    host.send(1, Opcode.SET_LIM, uint8(LimitCode.Y_POSITIVE) + int32(1000))
    host.send(2, Opcode.MOVETO_Y, int32(5000))
    stuck = host.wait_for(lambda s: s.command_id == 2 and s.y_usteps == 1000)
    assert stuck.status == CommandStatus.IN_PROGRESS
    threading.Event().wait(0.1)
    assert host.statuses[-1].status == CommandStatus.IN_PROGRESS
    assert host.emulator.moving(Axis.Y)


@pytest.mark.timing
def test_emulator_move_takes_trapezoid_time_when_speed_set(host: Host) -> None:
    # Z: 0.3 mm pitch, 256 microsteps: 1 mm/s, 10 mm/s^2 -> 2 mm take 2.1 s (0.105 s at 20x)
    host.send(1, Opcode.SET_MAX_VELOCITY_ACCELERATION, uint8(Axis.Z) + uint16(100) + uint16(100))
    start = time.monotonic()
    host.send(2, Opcode.MOVETO_Z, int32(2 * 170667))
    host.wait_for(lambda s: s.command_id == 2 and s.status == CommandStatus.IN_PROGRESS)
    done = host.wait_for(lambda s: s.command_id == 2 and s.status == 0)
    elapsed = time.monotonic() - start
    assert done.z_usteps == 2 * 170667
    assert 0.09 <= elapsed <= 0.2


def test_emulator_refuses_wheel_move_when_not_initialised(host: Host) -> None:
    host.send(1, Opcode.MOVETO_W, int32(1600))
    assert host.wait_for(lambda s: s.command_id == 1).status == CommandStatus.EXECUTION_ERROR
    host.send(2, Opcode.INITFILTERWHEEL)
    host.wait_for(lambda s: s.command_id == 2 and s.status == 0)
    host.send(3, Opcode.MOVETO_W, int32(1600))
    host.wait_for(lambda s: s.command_id == 3 and s.status == 0)
    assert host.emulator.position_usteps(Axis.W) == 1600


def test_emulator_watchdog_turns_illumination_off_when_host_silent(host: Host) -> None:
    host.send(1, Opcode.SET_ILLUMINATION, uint8(12) + uint16(30000))
    host.send(2, Opcode.TURN_ON_ILLUMINATION)
    host.send(3, Opcode.SET_WATCHDOG_TIMEOUT, uint32(100))
    assert host.emulator.light_on
    assert host.emulator.port_on[1]  # source 12 is port D2
    threading.Event().wait(0.2)
    assert not host.emulator.light_on
    assert host.emulator.watchdog_trips == 1


def test_emulator_counts_triggers_when_sent(host: Host) -> None:
    host.send(1, Opcode.SEND_HARDWARE_TRIGGER, uint8(0x81) + uint32(20000))
    host.send(2, Opcode.SEND_HARDWARE_TRIGGER, uint8(0x01) + uint32(0))
    assert host.emulator.trigger.counts == [0, 2, 0, 0]
    assert host.emulator.trigger.last_control_illumination is False


def test_emulator_reports_id_zero_when_reset(host: Host) -> None:
    host.send(7, Opcode.HEARTBEAT)
    host.wait_for(lambda s: s.command_id == 7)
    host.send(8, Opcode.RESET)
    assert host.wait_for(lambda s: s.command_id == 0).status == CommandStatus.COMPLETED


def test_emulator_sets_led_matrix_when_host_sends_grb(host: Host) -> None:
    host.send(1, Opcode.SET_ILLUMINATION_LED_MATRIX, bytes([0, 10, 20, 30]))
    assert host.emulator.led_matrix == (0, 20, 10, 30)


def test_emulator_homes_to_zero_when_homing(host: Host) -> None:
    host.send(1, Opcode.MOVETO_X, int32(400_000))
    host.wait_for(lambda s: s.command_id == 1 and s.status == 0)
    host.send(2, Opcode.HOME_OR_ZERO, bytes([Axis.X, 1]))
    host.wait_for(lambda s: s.command_id == 2 and s.status == CommandStatus.IN_PROGRESS)
    assert host.wait_for(lambda s: s.command_id == 2 and s.status == 0).x_usteps == 0
