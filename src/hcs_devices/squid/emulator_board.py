"""The emulated Squid board: a wire device that decodes commands and sends status packets.

:class:`SquidEmulator` is a :class:`~hcs_devices.serial.pty_server.WireDevice`; see
:mod:`hcs_devices.squid.emulator` for what it models and how to serve it.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from hcs_devices.serial.pty_server import SendBytes
from hcs_devices.squid.emulator_commands import HANDLERS
from hcs_devices.squid.emulator_state import (
    AXIS_DEFAULTS,
    INT32_MAX,
    N_PORTS,
    PORT_OF_SOURCE,
    AxisMotion,
    EmulatedAxis,
    ExecutedCommand,
    TriggerPulse,
    TriggerRecord,
    WheelState,
)
from hcs_devices.squid.emulator_wire import TriggerWire, UdpWire
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
)
from hcs_devices.stage.kinematics import move_duration_s


class SquidEmulator:
    """An emulated Squid board (firmware v1.4).

    Args:
        speed_factor: motion and homing run this many times faster than real time.
        status_period_s: interval between status packets (10 ms on real boards).
        firmware_version: byte 22 of status packets.
        legacy_crc: send CRC byte 0 in status packets, as legacy boards do.
        seed: seed of the random generator used by the corruption knobs.
        clock: monotonic clock in seconds (for tests).
        trigger_wires: per camera trigger output (0..3), where its pulse goes: a
            callable, or the (host, port) of a UDP line input on this machine (the fake
            camera's Line0, see :mod:`~hcs_devices.squid.emulator_wire`).
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
        trigger_wires: Mapping[int, TriggerWire | tuple[str, int]] | None = None,
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
        self._axes: dict[Axis, EmulatedAxis] = {}
        self._wheels: dict[Axis, WheelState] = {Axis.W: WheelState(), Axis.W2: WheelState()}
        self._reset_hardware()
        # command state
        self._command_id = 0
        self._status = int(CommandStatus.COMPLETED)
        self._command_axes: tuple[Axis, ...] = ()
        # I/O and illumination state
        self.illumination_source = 0
        self.illumination_intensity = 0
        self.illumination_on = False
        self.port_intensity = [0] * N_PORTS
        self.port_on = [False] * N_PORTS
        self.led_matrix: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.intensity_factor_percent = 100
        self.dac = [0] * 8
        self.pin_levels: dict[int, int] = {}
        self.trigger = TriggerRecord()
        self._wires: dict[int, TriggerWire] = {}
        self._udp_wires: list[UdpWire] = []
        for channel, target in (trigger_wires or {}).items():
            self.wire_trigger(channel, target)
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
        with self._lock:
            self._wires.clear()
            udp, self._udp_wires = self._udp_wires, []
        for wire in udp:
            wire.close()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout=join_timeout_s)
        return not thread.is_alive()

    @property
    def status_thread(self) -> threading.Thread | None:
        """The thread sending status packets, if started."""
        return self._thread

    # ------------------------------------------------------------------ trigger outputs

    def wire_trigger(self, channel: int, target: TriggerWire | tuple[str, int] | None) -> None:
        """Connect camera trigger output ``channel`` (0..3) to ``target`` (None: unplug).

        Args:
            channel: the trigger output.
            target: a callable called once per pulse, or the (host, port) of a UDP line
                input on a loopback address.

        Raises:
            ValueError: for a channel outside 0..3, or a UDP address not on loopback.
        """
        if not 0 <= channel <= 3:
            raise ValueError(f"trigger output channel {channel} is outside 0..3")
        wire: TriggerWire | None
        if isinstance(target, tuple):
            udp = UdpWire(target)
            self._udp_wires.append(udp)
            wire = udp
        else:
            wire = target
        with self._lock:
            if wire is None:
                self._wires.pop(channel, None)
            else:
                self._wires[channel] = wire

    def _pulse(self, channel: int, now: float) -> None:
        """Record a trigger pulse with the stage's position, and send it down its wire."""
        axes = [self._axes[a] for a in (Axis.X, Axis.Y, Axis.Z)]
        usteps = [round(a.position_at(now, self.speed_factor)) for a in axes]
        mm = [u / a.usteps_per_mm for u, a in zip(usteps, axes, strict=True)]
        wire = self._wires.get(channel)
        self.trigger.pulses.append(
            TriggerPulse(
                time=now,
                channel=channel,
                control_illumination=self.trigger.last_control_illumination,
                on_time_us=self.trigger.last_on_time_us,
                illumination_source=self.illumination_source,
                intensity=self.illumination_intensity,
                position_usteps=(usteps[0], usteps[1], usteps[2]),
                position_mm=(mm[0], mm[1], mm[2]),
                wired=wire is not None,
            )
        )
        if wire is not None:
            wire()

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
        for axis, d in AXIS_DEFAULTS.items():
            old = self._axes.get(axis)
            a = EmulatedAxis(axis, d.pitch_mm, d.microstepping, d.vmax_mm_s, d.amax_mm_s2)
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
            self.port_on = [False] * N_PORTS

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
        self,
        a: EmulatedAxis,
        target: float,
        now: float,
        *,
        never_completes: bool,
        homing: bool = False,
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
        a.motion = AxisMotion(start, target, now, duration, vmax, amax, never_completes, homing)

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
                target = max(-(2**31), min(INT32_MAX, here + value))
                frm, to = self._move_to(axis, target, now, clamp=True)
            else:
                frm, to = self._move_to(axis, value, now, clamp=False)
            self._command_axes = (axis,)
            self._log_entry(command, now, frm, to)
            return
        handler = HANDLERS.get(op)
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
                a.motion = AxisMotion(0.0, 0.0, now, 0.05, probe, probe, homing=True)
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
        a.motion = AxisMotion(
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

    def _axis_of(self, command: Command) -> EmulatedAxis | None:
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
        port = PORT_OF_SOURCE.get(self.illumination_source)
        if port is not None:
            self.port_on[port] = on
