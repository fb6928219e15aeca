"""An emulated Squid microcontroller board that speaks the real wire protocol.

:class:`SquidEmulator` is a :class:`~hcs_devices.serial.pty_server.WireDevice`: serve it
on a pseudo-terminal with :class:`~hcs_devices.serial.pty_server.PtyServer` (or use
:class:`EmulatedSquid`, which does that and cleans up) and point the real driver at
the path.

What it models, as the board does:

* a status packet every 10 ms (configurable) with the last command id, its state and
  the X/Y/Z positions;
* motion along a trapezoidal speed profile set by SET_MAX_VELOCITY_ACCELERATION,
  SET_LEAD_SCREW_PITCH and CONFIGURE_STEPPER_DRIVER; ``speed_factor`` makes every move
  (and homing) that many times faster than real time so tests stay fast;
* soft limits: relative moves are clamped; an absolute move past a limit stops at the
  limit and never completes;
* homing, zeroing, the filter wheels (W, W2) and their initialisation, illumination and
  TTL ports, the LED matrix, the DAC (objective piezo), hardware triggers (counted), pin
  levels, the watchdog (illumination off when the host is silent), the joystick button;
* a bad CRC flushes the receive buffer and reports status 2 for byte 0; unknown opcodes
  complete; the firmware version byte is 0x14.

Fault knobs for tests (all thread-safe): :meth:`~SquidEmulator.drop_next_commands`,
:meth:`~SquidEmulator.corrupt_next_received`, :meth:`~SquidEmulator.corrupt_next_status`,
:attr:`~SquidEmulator.reply_delay_s`, :meth:`~SquidEmulator.stall`,
:meth:`~SquidEmulator.inject`, and :meth:`EmulatedSquid.vanish` / :meth:`EmulatedSquid.reappear`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hcs_devices.serial.pty_server import PtyServer, SendBytes
from hcs_devices.squid.protocol import (
    COMMAND_LENGTH,
    FIRMWARE_VERSION,
    Axis,
    Command,
    CommandStatus,
    HomeDirection,
    LimitCode,
    Opcode,
    Status,
    crc8,
    read_int32,
    read_uint16,
    read_uint32,
)
from hcs_devices.stage.kinematics import move_duration_s, plan_move

_INT32_MAX = 2**31 - 1
_DEFAULT_LIMIT = 2**30
_PORT_OF_SOURCE = {11: 0, 12: 1, 14: 2, 13: 3, 15: 4}
_N_PORTS = 16
_WATCHDOG_DEFAULT_MS = 5000
_WATCHDOG_MAX_MS = 3_600_000


@dataclass
class _AxisDefaults:
    pitch_mm: float
    microstepping: int
    vmax_mm_s: float
    amax_mm_s2: float


_DEFAULTS: dict[Axis, _AxisDefaults] = {
    Axis.X: _AxisDefaults(2.54, 256, 30.0, 500.0),
    Axis.Y: _AxisDefaults(2.54, 256, 30.0, 500.0),
    Axis.Z: _AxisDefaults(0.3, 256, 3.8, 100.0),
    Axis.W: _AxisDefaults(1.0, 64, 3.19, 300.0),
    Axis.W2: _AxisDefaults(1.0, 64, 3.19, 300.0),
}


@dataclass
class _Motion:
    start: float
    end: float
    t0: float
    duration: float
    vmax: float
    amax: float
    never_completes: bool = False  # an absolute move past a soft limit
    homing: bool = False


@dataclass
class _EmuAxis:
    """One motor axis of the board, positions in microsteps."""

    axis: Axis
    pitch_mm: float
    microstepping: int
    vmax_mm_s: float
    amax_mm_s2: float
    full_steps_per_rev: int = 200
    position: float = 0.0
    low: int = -_DEFAULT_LIMIT
    high: int = _DEFAULT_LIMIT
    motion: _Motion | None = None
    stalled: bool = False
    enabled: bool = True
    rms_current_ma: int = 0
    limit_switch_polarity: int = 0
    home_safety_margin_um: int = 0

    @property
    def usteps_per_mm(self) -> float:
        return self.microstepping * self.full_steps_per_rev / self.pitch_mm

    def position_at(self, now: float, speed_factor: float) -> float:
        motion = self.motion
        if motion is None or self.stalled:
            return self.position
        elapsed = (now - motion.t0) * speed_factor
        profile = plan_move(motion.end - motion.start, motion.vmax, motion.amax)
        return motion.start + math.copysign(profile.distance_at(elapsed), motion.end - motion.start)

    def moving(self) -> bool:
        return self.motion is not None


@dataclass(frozen=True)
class ExecutedCommand:
    """One command the emulated board executed (CRC good, not dropped).

    Attributes:
        time: ``time.monotonic()`` at execution.
        command: the decoded packet.
        status: the status it got at once (0, 1 or 4).
        from_usteps: for motion, the axis position when it started.
        to_usteps: for motion, where the axis is heading (after clamping).
    """

    time: float
    command: Command
    status: int
    from_usteps: int | None = None
    to_usteps: int | None = None

    @property
    def opcode_name(self) -> str:
        """Name of the opcode."""
        try:
            return Opcode(self.command.opcode).name
        except ValueError:
            return f"OPCODE_{self.command.opcode}"


@dataclass
class _Wheel:
    initialised: bool = False


@dataclass
class TriggerRecord:
    """Hardware trigger state of the board.

    Attributes:
        counts: triggers sent per camera channel 0..3.
        last_on_time_us: illumination on-time of the last trigger, us.
        last_control_illumination: whether the last trigger strobed illumination.
        strobe_delay_us: per channel strobe delay, us.
        mode: 0 edge, 1 level.
    """

    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    last_on_time_us: int = 0
    last_control_illumination: bool = False
    strobe_delay_us: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    mode: int = 0


class SquidEmulator:
    """An emulated Squid board (firmware v1.4).

    Args:
        speed_factor: motion and homing run this many times faster than real time.
        status_period_s: interval between status packets (10 ms on real boards).
        firmware_version: byte 22 of status packets.
        legacy_crc: send CRC byte 0 in status packets, as legacy boards do.
        seed: seed of the random generator used by the corruption knobs.
        clock: monotonic clock in seconds (for tests).
    """

    def __init__(
        self,
        *,
        speed_factor: float = 1.0,
        status_period_s: float = 0.01,
        firmware_version: int = FIRMWARE_VERSION,
        legacy_crc: bool = False,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed_factor <= 0:
            raise ValueError(f"speed_factor must be > 0, got {speed_factor}")
        if status_period_s <= 0:
            raise ValueError(f"status_period_s must be > 0, got {status_period_s}")
        self.speed_factor = speed_factor
        self.status_period_s = status_period_s
        self.firmware_version = firmware_version
        self.legacy_crc = legacy_crc
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._send: SendBytes | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rx = bytearray()
        self._delayed: list[tuple[float, bytes]] = []
        self._log: list[ExecutedCommand] = []
        self._axes: dict[Axis, _EmuAxis] = {}
        self._wheels: dict[Axis, _Wheel] = {Axis.W: _Wheel(), Axis.W2: _Wheel()}
        self._reset_hardware()
        # command state
        self._command_id = 0
        self._status = int(CommandStatus.COMPLETED)
        self._command_axes: tuple[Axis, ...] = ()
        # I/O and illumination state
        self.illumination_source = 0
        self.illumination_intensity = 0
        self.illumination_on = False
        self.port_intensity = [0] * _N_PORTS
        self.port_on = [False] * _N_PORTS
        self.led_matrix: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.intensity_factor_percent = 100
        self.dac = [0] * 8
        self.pin_levels: dict[int, int] = {}
        self.trigger = TriggerRecord()
        self.button_pressed = False
        # watchdog
        self.watchdog_timeout_s: float | None = None
        self.watchdog_trips = 0
        self._last_rx = clock()
        self._watchdog_tripped = False
        # counters and faults
        self.bytes_received = 0
        self.packets_received = 0
        self.checksum_errors = 0
        self.status_packets_sent = 0
        self._drop_commands = 0
        self._corrupt_received = 0
        self._corrupt_status = 0
        self._reply_delay_s = 0.0

    # ------------------------------------------------------------------ WireDevice

    def attach(self, send: SendBytes) -> None:
        """Receive the function that sends bytes to the host (from the server)."""
        self._send = send

    def receive(self, data: bytes) -> None:
        """Bytes arrived from the host."""
        now = self._clock()
        with self._lock:
            self.bytes_received += len(data)
            self._last_rx = now
            self._watchdog_tripped = False
            if self._reply_delay_s > 0 or self._delayed:
                self._delayed.append((now + self._reply_delay_s, bytes(data)))
                return
            self._consume(data, now)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start sending status packets (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._status_loop, name="squid-emulator-status", daemon=True
            )
            self._thread.start()

    def close(self, join_timeout_s: float = 2.0) -> bool:
        """Stop sending status packets.

        Returns:
            Whether the status thread ended (it may be blocked writing to a port nobody
            reads; :class:`EmulatedSquid` drains the port in that case).
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout=join_timeout_s)
        return not thread.is_alive()

    @property
    def status_thread(self) -> threading.Thread | None:
        """The thread sending status packets, if started."""
        return self._thread

    # ------------------------------------------------------------------ state for tests

    def position_usteps(self, axis: Axis) -> int:
        """Position of an axis in microsteps, now."""
        with self._lock:
            return round(self._axes[axis].position_at(self._clock(), self.speed_factor))

    @property
    def positions_usteps(self) -> tuple[int, int, int]:
        """(X, Y, Z) positions in microsteps, now."""
        return (
            self.position_usteps(Axis.X),
            self.position_usteps(Axis.Y),
            self.position_usteps(Axis.Z),
        )

    def moving(self, axis: Axis) -> bool:
        """Whether an axis has a motion in progress (including a stall)."""
        with self._lock:
            self._update(self._clock())
            return self._axes[axis].moving()

    def soft_limits_usteps(self, axis: Axis) -> tuple[int, int]:
        """(negative, positive) soft limits of a stage axis, microsteps."""
        with self._lock:
            a = self._axes[axis]
            return (a.low, a.high)

    def velocity_acceleration(self, axis: Axis) -> tuple[float, float]:
        """(mm/s, mm/s^2) set for an axis."""
        with self._lock:
            a = self._axes[axis]
            return (a.vmax_mm_s, a.amax_mm_s2)

    def wheel_initialised(self, axis: Axis = Axis.W) -> bool:
        """Whether a filter wheel axis (W or W2) was initialised."""
        with self._lock:
            return self._wheels[axis].initialised

    @property
    def light_on(self) -> bool:
        """Whether any light is on: the selected source or any TTL port."""
        with self._lock:
            return self.illumination_on or any(self.port_on)

    @property
    def command_id(self) -> int:
        """The id of the last received command."""
        with self._lock:
            return self._command_id

    @property
    def executed(self) -> list[ExecutedCommand]:
        """A copy of the log of executed commands, oldest first."""
        with self._lock:
            return list(self._log)

    def executed_opcodes(self) -> list[str]:
        """Names of the executed commands' opcodes, oldest first."""
        return [entry.opcode_name for entry in self.executed]

    def clear_log(self) -> None:
        """Forget the executed-command log."""
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------------ fault knobs

    def drop_next_commands(self, count: int) -> None:
        """Ignore the next ``count`` command packets entirely (no status update)."""
        with self._lock:
            self._drop_commands += count

    def corrupt_next_received(self, count: int) -> None:
        """Flip a bit in the next ``count`` received command packets (line noise)."""
        with self._lock:
            self._corrupt_received += count

    def corrupt_next_status(self, count: int) -> None:
        """Flip a byte in each of the next ``count`` status packets sent."""
        with self._lock:
            self._corrupt_status += count

    @property
    def reply_delay_s(self) -> float:
        """Delay between a command's arrival and its execution, s."""
        with self._lock:
            return self._reply_delay_s

    @reply_delay_s.setter
    def reply_delay_s(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"reply_delay_s must be >= 0, got {value}")
        with self._lock:
            self._reply_delay_s = value

    def stall(self, axis: Axis, stalled: bool = True) -> None:
        """Freeze an axis where it is (a jammed stage); moves then never complete.

        ``stall(axis, False)`` lets it go on towards its target.
        """
        now = self._clock()
        with self._lock:
            a = self._axes[axis]
            if stalled and not a.stalled:
                a.position = float(round(a.position_at(now, self.speed_factor)))
                a.stalled = True
                if a.motion is not None:
                    a.motion = replace(a.motion, start=a.position, t0=now, duration=math.inf)
            elif not stalled and a.stalled:
                a.stalled = False
                m = a.motion
                if m is not None:
                    self._start_motion(
                        a, m.end, now, never_completes=m.never_completes, homing=m.homing
                    )

    def inject(self, data: bytes) -> None:
        """Send raw bytes to the host (garbage between status packets)."""
        send = self._send
        if send is not None:
            send(data)

    def press_button(self) -> None:
        """Press the joystick button (bit 0 of byte 18 until the host acks)."""
        with self._lock:
            self.button_pressed = True

    # ------------------------------------------------------------------ internals

    def _reset_hardware(self) -> None:
        for axis, d in _DEFAULTS.items():
            old = self._axes.get(axis)
            a = _EmuAxis(axis, d.pitch_mm, d.microstepping, d.vmax_mm_s, d.amax_mm_s2)
            if old is not None:
                a.position = old.position
                a.stalled = old.stalled
            self._axes[axis] = a

    def _status_loop(self) -> None:
        period = self.status_period_s
        next_tick = self._clock()
        while not self._stop.is_set():
            next_tick += period
            now = self._clock()
            if next_tick < now - period:  # fell behind (blocked writing): skip ticks
                next_tick = now
            if self._stop.wait(max(0.0, next_tick - now)):
                return
            packet = self._tick(self._clock())
            send = self._send
            if send is not None:
                send(packet)

    def _tick(self, now: float) -> bytes:
        with self._lock:
            if self._delayed:
                due = [d for d in self._delayed if d[0] <= now]
                self._delayed = [d for d in self._delayed if d[0] > now]
                for _, data in due:
                    self._consume(data, now)
            self._update(now)
            self._check_watchdog(now)
            packet = bytearray(self._status_packet(now))
            if self._corrupt_status > 0:
                self._corrupt_status -= 1
                index = self._random.randrange(len(packet))
                packet[index] ^= self._random.randrange(1, 256)
            self.status_packets_sent += 1
            return bytes(packet)

    def _status_packet(self, now: float) -> bytes:
        status = self._status
        if status == CommandStatus.COMPLETED and any(
            self._axes[a].moving() for a in self._command_axes
        ):
            status = int(CommandStatus.IN_PROGRESS)
        x, y, z = (
            round(self._axes[a].position_at(now, self.speed_factor))
            for a in (Axis.X, Axis.Y, Axis.Z)
        )
        return Status(
            self._command_id,
            status,
            x,
            y,
            z,
            0,
            self.button_pressed,
            self.firmware_version,
        ).encode(legacy_crc=self.legacy_crc)

    def _update(self, now: float) -> None:
        for a in self._axes.values():
            m = a.motion
            if m is None or a.stalled:
                continue
            if (now - m.t0) * self.speed_factor >= m.duration:
                a.position = m.end
                if not m.never_completes:
                    a.motion = None

    def _check_watchdog(self, now: float) -> None:
        timeout = self.watchdog_timeout_s
        if timeout is None or self._watchdog_tripped:
            return
        if now - self._last_rx >= timeout:
            self._watchdog_tripped = True
            self.watchdog_trips += 1
            self.illumination_on = False
            self.port_on = [False] * _N_PORTS

    def _consume(self, data: bytes, now: float) -> None:
        self._rx += data
        while len(self._rx) >= COMMAND_LENGTH:
            packet = bytearray(self._rx[:COMMAND_LENGTH])
            del self._rx[:COMMAND_LENGTH]
            if self._drop_commands > 0:
                self._drop_commands -= 1
                continue
            self.packets_received += 1
            if self._corrupt_received > 0:
                self._corrupt_received -= 1
                packet[2] ^= 0x10
            if crc8(packet[:7]) != packet[7]:
                # As the board does: flush everything, keep byte 0 as the id, status 2.
                self.checksum_errors += 1
                self._rx.clear()
                self._command_id = packet[0]
                self._status = int(CommandStatus.CHECKSUM_ERROR)
                self._command_axes = ()
                return
            command = Command(packet[0], packet[1], bytes(packet[2:7]))
            self._execute(command, now)

    def _start_motion(
        self, a: _EmuAxis, target: float, now: float, *, never_completes: bool, homing: bool = False
    ) -> None:
        start = a.position_at(now, self.speed_factor)
        a.position = start
        vmax = a.vmax_mm_s * a.usteps_per_mm
        amax = a.amax_mm_s2 * a.usteps_per_mm
        distance = abs(target - start)
        if distance < 1.0 and not never_completes:
            a.position = target
            a.motion = None
            return
        duration = math.inf if a.stalled else move_duration_s(distance, vmax, amax)
        a.motion = _Motion(start, target, now, duration, vmax, amax, never_completes, homing)

    def _move_to(self, axis: Axis, target: int, now: float, *, clamp: bool) -> tuple[int, int]:
        a = self._axes[axis]
        start = round(a.position_at(now, self.speed_factor))
        never = False
        if axis in (Axis.X, Axis.Y, Axis.Z):
            clamped = min(max(target, a.low), a.high)
            never = not clamp and clamped != target
            target = clamped
        self._start_motion(a, float(target), now, never_completes=never)
        return start, target

    def _log_entry(
        self, command: Command, now: float, frm: int | None = None, to: int | None = None
    ) -> None:
        self._log.append(ExecutedCommand(now, command, self._status, frm, to))

    def _execute(self, command: Command, now: float) -> None:
        self._command_id = command.command_id
        self._status = int(CommandStatus.COMPLETED)
        self._command_axes = ()
        p = command.payload
        try:
            op = Opcode(command.opcode)
        except ValueError:
            self._log_entry(command, now)  # unknown opcodes complete
            return
        relative = {
            Opcode.MOVE_X: Axis.X,
            Opcode.MOVE_Y: Axis.Y,
            Opcode.MOVE_Z: Axis.Z,
            Opcode.MOVE_W: Axis.W,
            Opcode.MOVE_W2: Axis.W2,
        }
        absolute = {
            Opcode.MOVETO_X: Axis.X,
            Opcode.MOVETO_Y: Axis.Y,
            Opcode.MOVETO_Z: Axis.Z,
            Opcode.MOVETO_W: Axis.W,
            Opcode.MOVETO_W2: Axis.W2,
        }
        if op in relative or op in absolute:
            axis = relative.get(op, absolute.get(op, Axis.X))
            if axis in self._wheels and not self._wheels[axis].initialised:
                self._status = int(CommandStatus.EXECUTION_ERROR)
                self._log_entry(command, now)
                return
            value = read_int32(p)
            a = self._axes[axis]
            if op in relative:
                here = round(a.motion.end if a.motion is not None else a.position)
                target = max(-(2**31), min(_INT32_MAX, here + value))
                frm, to = self._move_to(axis, target, now, clamp=True)
            else:
                frm, to = self._move_to(axis, value, now, clamp=False)
            self._command_axes = (axis,)
            self._log_entry(command, now, frm, to)
            return
        handler = _HANDLERS.get(op)
        if handler is not None:
            handler(self, command, now)
        self._log_entry(command, now)

    # -- handlers (status may be changed by them) --

    def _home_or_zero(self, command: Command, now: float) -> None:
        p = command.payload
        try:
            axis = Axis(p[0])
        except ValueError:
            self._status = int(CommandStatus.EXECUTION_ERROR)
            return
        if axis is Axis.XY:
            targets = [(Axis.X, p[1]), (Axis.Y, p[2])]
        elif axis is Axis.THETA:
            return
        else:
            targets = [(axis, p[1])]
        moving: list[Axis] = []
        for ax, direction in targets:
            a = self._axes[ax]
            if direction == HomeDirection.ZERO:
                a.position = 0.0
                a.motion = None
                continue
            # Homing runs to the switch, which the emulator puts at position 0.
            self._start_motion(a, 0.0, now, never_completes=False, homing=True)
            if a.motion is None:  # already there: the switch still takes a short probe
                probe = a.vmax_mm_s * a.usteps_per_mm * 0.02
                a.motion = _Motion(0.0, 0.0, now, 0.05, probe, probe, homing=True)
            if ax in self._wheels:
                self._wheels[ax].initialised = True
            moving.append(ax)
        self._command_axes = tuple(moving)

    def _init_wheel(self, axis: Axis, now: float) -> None:
        a = self._axes[axis]
        # Initialisation homes the wheel: about one revolution at top speed.
        one_rev = a.microstepping * a.full_steps_per_rev
        vmax = a.vmax_mm_s * a.usteps_per_mm
        amax = a.amax_mm_s2 * a.usteps_per_mm
        a.position = 0.0
        a.motion = _Motion(
            0.0, 0.0, now, move_duration_s(one_rev, vmax, amax), vmax, amax, False, True
        )
        self._wheels[axis].initialised = True
        self._command_axes = (axis,)

    def _set_lim(self, command: Command) -> None:
        p = command.payload
        value = read_int32(p, 1)
        code = p[0]
        axis = {0: Axis.X, 1: Axis.X, 2: Axis.Y, 3: Axis.Y, 4: Axis.Z, 5: Axis.Z}.get(code)
        if axis is None:
            self._status = int(CommandStatus.EXECUTION_ERROR)
            return
        a = self._axes[axis]
        if code in (LimitCode.X_POSITIVE, LimitCode.Y_POSITIVE, LimitCode.Z_POSITIVE):
            a.high = value
        else:
            a.low = value

    def _axis_of(self, command: Command) -> _EmuAxis | None:
        try:
            axis = Axis(command.payload[0])
        except ValueError:
            self._status = int(CommandStatus.EXECUTION_ERROR)
            return None
        a = self._axes.get(axis)
        if a is None:
            self._status = int(CommandStatus.EXECUTION_ERROR)
        return a

    def _set_illumination_on(self, on: bool) -> None:
        self.illumination_on = on
        port = _PORT_OF_SOURCE.get(self.illumination_source)
        if port is not None:
            self.port_on[port] = on


def _h_home(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._home_or_zero(c, now)


def _h_set_lim(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._set_lim(c)


def _h_illum_on(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._set_illumination_on(True)


def _h_illum_off(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._set_illumination_on(False)


def _h_set_illumination(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.illumination_source = c.payload[0]
    emu.illumination_intensity = read_uint16(c.payload, 1)
    port = _PORT_OF_SOURCE.get(c.payload[0])
    if port is not None:
        emu.port_intensity[port] = emu.illumination_intensity


def _h_led_matrix(emu: SquidEmulator, c: Command, now: float) -> None:
    pattern, g, r, b = c.payload[0], c.payload[1], c.payload[2], c.payload[3]
    emu.illumination_source = pattern
    emu.led_matrix = (pattern, r, g, b)


def _h_ack_button(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.button_pressed = False


def _h_dac(emu: SquidEmulator, c: Command, now: float) -> None:
    channel = c.payload[0]
    if channel >= len(emu.dac):
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return
    emu.dac[channel] = read_uint16(c.payload, 1)


def _h_intensity_factor(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.intensity_factor_percent = min(100, c.payload[0])


def _h_init_w(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._init_wheel(Axis.W, now)


def _h_init_w2(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._init_wheel(Axis.W2, now)


def _h_polarity(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        a.limit_switch_polarity = c.payload[1]


def _h_driver(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        micro = c.payload[1]
        a.microstepping = 256 if micro > 128 or micro == 0 else micro
        a.rms_current_ma = read_uint16(c.payload, 2)


def _h_velocity(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        v = read_uint16(c.payload, 1) / 100.0
        acc = read_uint16(c.payload, 3) / 10.0
        if v <= 0 or acc <= 0:
            emu._status = int(CommandStatus.EXECUTION_ERROR)
            return
        a.vmax_mm_s, a.amax_mm_s2 = v, acc


def _h_pitch(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        pitch = read_uint16(c.payload, 1) / 1000.0
        if pitch <= 0:
            emu._status = int(CommandStatus.EXECUTION_ERROR)
            return
        a.pitch_mm = pitch


def _h_margin(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        a.home_safety_margin_um = read_uint16(c.payload, 1)


def _h_trigger(emu: SquidEmulator, c: Command, now: float) -> None:
    channel = c.payload[0] & 0x7F
    if channel > 3:
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return
    emu.trigger.counts[channel] += 1
    emu.trigger.last_control_illumination = bool(c.payload[0] & 0x80)
    emu.trigger.last_on_time_us = read_uint32(c.payload, 1)


def _h_strobe(emu: SquidEmulator, c: Command, now: float) -> None:
    channel = c.payload[0]
    if channel > 3:
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return
    emu.trigger.strobe_delay_us[channel] = read_uint32(c.payload, 1)


def _h_enable(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        a.enabled = bool(c.payload[1])


def _h_trigger_mode(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.trigger.mode = c.payload[0]


def _port(emu: SquidEmulator, c: Command) -> int | None:
    port = c.payload[0]
    if port >= _N_PORTS:
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return None
    return port


def _h_port_intensity(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_intensity[port] = read_uint16(c.payload, 1)


def _h_port_on(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_on[port] = True


def _h_port_off(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_on[port] = False


def _h_port_illumination(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_intensity[port] = read_uint16(c.payload, 1)
        emu.port_on[port] = bool(c.payload[3])


def _h_multi_port(emu: SquidEmulator, c: Command, now: float) -> None:
    mask = read_uint16(c.payload, 0)
    on = read_uint16(c.payload, 2)
    for port in range(_N_PORTS):
        if mask >> port & 1:
            emu.port_on[port] = bool(on >> port & 1)


def _h_all_ports_off(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.port_on = [False] * _N_PORTS
    if emu.illumination_source in _PORT_OF_SOURCE:
        emu.illumination_on = False


def _h_watchdog(emu: SquidEmulator, c: Command, now: float) -> None:
    ms = read_uint32(c.payload, 0)
    if ms == 0:
        ms = _WATCHDOG_DEFAULT_MS
    emu.watchdog_timeout_s = min(ms, _WATCHDOG_MAX_MS) / 1000.0


def _h_pin(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.pin_levels[c.payload[0]] = c.payload[1]


def _h_initialize(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._reset_hardware()
    emu.dac = [0] * 8


def _h_reset(emu: SquidEmulator, c: Command, now: float) -> None:
    for a in emu._axes.values():
        if a.motion is not None:
            a.position = float(round(a.position_at(now, emu.speed_factor)))
            a.motion = None
    emu._command_id = 0
    emu._command_axes = ()


def _h_nothing(emu: SquidEmulator, c: Command, now: float) -> None:
    return None


_HANDLERS: dict[Opcode, Callable[[SquidEmulator, Command, float], None]] = {
    Opcode.HOME_OR_ZERO: _h_home,
    Opcode.SET_LIM: _h_set_lim,
    Opcode.TURN_ON_ILLUMINATION: _h_illum_on,
    Opcode.TURN_OFF_ILLUMINATION: _h_illum_off,
    Opcode.SET_ILLUMINATION: _h_set_illumination,
    Opcode.SET_ILLUMINATION_LED_MATRIX: _h_led_matrix,
    Opcode.ACK_JOYSTICK_BUTTON_PRESSED: _h_ack_button,
    Opcode.ANALOG_WRITE_ONBOARD_DAC: _h_dac,
    Opcode.SET_ILLUMINATION_INTENSITY_FACTOR: _h_intensity_factor,
    Opcode.SET_LIM_SWITCH_POLARITY: _h_polarity,
    Opcode.CONFIGURE_STEPPER_DRIVER: _h_driver,
    Opcode.SET_MAX_VELOCITY_ACCELERATION: _h_velocity,
    Opcode.SET_LEAD_SCREW_PITCH: _h_pitch,
    Opcode.SET_HOME_SAFETY_MARGIN: _h_margin,
    Opcode.SEND_HARDWARE_TRIGGER: _h_trigger,
    Opcode.SET_STROBE_DELAY: _h_strobe,
    Opcode.SET_AXIS_DISABLE_ENABLE: _h_enable,
    Opcode.SET_TRIGGER_MODE: _h_trigger_mode,
    Opcode.SET_PORT_INTENSITY: _h_port_intensity,
    Opcode.TURN_ON_PORT: _h_port_on,
    Opcode.TURN_OFF_PORT: _h_port_off,
    Opcode.SET_PORT_ILLUMINATION: _h_port_illumination,
    Opcode.SET_MULTI_PORT_MASK: _h_multi_port,
    Opcode.TURN_OFF_ALL_PORTS: _h_all_ports_off,
    Opcode.SET_WATCHDOG_TIMEOUT: _h_watchdog,
    Opcode.SET_PIN_LEVEL: _h_pin,
    Opcode.HEARTBEAT: _h_nothing,
    Opcode.INITFILTERWHEEL: _h_init_w,
    Opcode.INITFILTERWHEEL_W2: _h_init_w2,
    Opcode.INITIALIZE: _h_initialize,
    Opcode.RESET: _h_reset,
}


class EmulatedSquid:
    """A :class:`SquidEmulator` served on a pseudo-terminal, ready for a driver.

    Use as a context manager; :meth:`close` stops the emulator, removes the port and
    its temporary directory.

    Args:
        speed_factor: motion runs this many times faster than real time.
        status_period_s: interval between status packets, s.
        legacy_crc: send CRC byte 0, as legacy boards do.
        seed: seed of the corruption knobs' random generator.
        directory: where the port's symlink lives (a new temporary directory by default).
        link_name: the symlink's file name.
    """

    def __init__(
        self,
        *,
        speed_factor: float = 1.0,
        status_period_s: float = 0.01,
        legacy_crc: bool = False,
        seed: int | None = None,
        directory: Path | None = None,
        link_name: str = "squid",
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hcs-squid-")
            directory = Path(self._tmp.name)
        self.emulator = SquidEmulator(
            speed_factor=speed_factor,
            status_period_s=status_period_s,
            legacy_crc=legacy_crc,
            seed=seed,
        )
        self.server = PtyServer(self.emulator, link_name=link_name, directory=directory)
        self.emulator.start()
        self._closed = False

    @property
    def path(self) -> str:
        """The serial device path to open."""
        return str(self.server.path)

    def vanish(self) -> None:
        """Remove the port, as when the USB cable is pulled (the board keeps running)."""
        self.server.vanish()

    def reappear(self) -> None:
        """Bring the port back under the same path."""
        self.server.reappear()

    def close(self) -> None:
        """Stop the emulator and remove the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self.emulator.close(join_timeout_s=0.5):
            self._drain_until_stopped()
        self.server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _drain_until_stopped(self) -> None:
        # The status thread is blocked writing to a full pseudo-terminal nobody reads:
        # read the port empty so it can finish.
        thread = self.emulator.status_thread
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError:
            return
        try:
            while thread is not None and thread.is_alive():
                try:
                    while os.read(fd, 65536):
                        pass
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                        break
                thread.join(timeout=0.01)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> EmulatedSquid:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
