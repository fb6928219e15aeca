"""The emulator on its own: bytes in through receive(), status packets out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hcs_devices.squid.emulator import SquidEmulator
from hcs_devices.squid.emulator_wire import PULSE, parse_wire
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


def test_emulator_pulses_the_wire_of_its_channel_and_records_the_stage_when_triggered(
    host: Host,
) -> None:
    pulses: list[tuple[int, int, int]] = []
    host.emulator.wire_trigger(1, lambda: pulses.append(host.emulator.positions_usteps))
    host.send(1, Opcode.MOVETO_X, int32(51_200))  # 2.54 mm at 256 x 200 usteps per 2.54 mm
    host.send(2, Opcode.MOVETO_Z, int32(-8_533))
    host.wait_for(lambda s: s.command_id == 2 and s.status == 0)
    host.wait_for(lambda s: s.x_usteps == 51_200)
    host.send(3, Opcode.SET_ILLUMINATION, uint8(12) + uint16(30_000))
    host.send(4, Opcode.SEND_HARDWARE_TRIGGER, uint8(0x81) + uint32(20_000))
    host.send(5, Opcode.SEND_HARDWARE_TRIGGER, uint8(0x02) + uint32(0))  # not wired
    assert pulses == [(51_200, 0, -8_533)]
    first, second = host.emulator.trigger.pulses
    assert (first.channel, first.wired, second.channel, second.wired) == (1, True, 2, False)
    assert first.position_usteps == (51_200, 0, -8_533)
    assert first.position_mm == pytest.approx((2.54, 0.0, -8_533 / (256 * 200 / 0.3)))
    assert (first.control_illumination, first.on_time_us) == (True, 20_000)
    assert (first.illumination_source, first.intensity) == (12, 30_000)
    assert second.control_illumination is False


def test_emulator_sends_a_datagram_per_pulse_when_wired_to_a_udp_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as line:
        line.bind(("127.0.0.1", 0))
        line.settimeout(2.0)
        emulator = SquidEmulator(trigger_wires={0: line.getsockname()})
        try:
            for cid in (1, 2):
                emulator.receive(
                    Command.build(cid, Opcode.SEND_HARDWARE_TRIGGER, uint8(0) + uint32(0)).encode()
                )
            assert [line.recv(16) for _ in range(2)] == [PULSE, PULSE]
        finally:
            emulator.close()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (("10.0.0.2", 4000), "use a loopback address"),
        (("camera.local", 4000), "use a loopback address"),
        (("127.0.0.1", 0), "port 0 is outside 1..65535"),
    ],
)
def test_emulator_refuses_a_trigger_wire_off_this_machine(
    target: tuple[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SquidEmulator(trigger_wires={0: target})
    with pytest.raises(ValueError, match=r"channel 4 is outside 0\.\.3"):
        SquidEmulator().wire_trigger(4, lambda: None)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("127.0.0.1:4000", (0, ("127.0.0.1", 4000))), ("2=127.0.0.5:9", (2, ("127.0.0.5", 9)))],
)
def test_trigger_wire_option_reads_channel_and_address(
    text: str, parsed: tuple[int, tuple[str, int]]
) -> None:
    assert parse_wire(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "expected \\[CHANNEL=\\]HOST:PORT"),
        ("x=127.0.0.1:4000", "must be integers"),
        ("5=127.0.0.1:4000", "channel 5 is outside 0..3"),
    ],
)
def test_trigger_wire_option_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_wire(text)


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
