"""The Squid microcontroller driver: commands, completion, resends, reconnection.

One :class:`SquidDriver` owns one board. All commands go through one writer thread
(a single-worker executor) under one lock per port, so exactly one command is in
flight; the async API only awaits futures of that executor, so no blocking I/O ever
runs on the asyncio event loop.

The rules, from the protocol:

* A command is done when a status packet shows its id with status 0; status 4 fails
  at once (:class:`~hcs_devices.squid.errors.SquidCommandError`).
* With no status showing its id within ``resend_timeout_s`` (0.5 s), or on status 2,
  the same bytes (same id) are sent again, up to ``max_resends`` (5) times.
  Commands that must not run twice (hardware triggers) are only resent when the
  board's status proves it did not take them (it shows another id, or status 2).
* Stage moves are absolute (MOVETO_*), so a resend cannot move twice; relative moves
  are converted to absolute targets once, before the first byte is sent.
* Targets outside the soft limits are refused before any byte is sent.
* A move that does not arrive in time stops the axis, switches illumination off and
  raises :class:`~hcs_devices.squid.errors.SquidTimeoutError`.
* When the port vanishes, commands wait (up to ``reconnect_timeout_s``) for it to come
  back, restore the board's configuration (limits, speeds, watchdog; illumination off)
  and resend.
* A heartbeat keeps the board's watchdog fed while the host is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from hcs_devices.squid.config import (
    AxisLimits,
    SquidConfig,
    StageAxisConfig,
)
from hcs_devices.squid.errors import (
    SquidCommandError,
    SquidConnectionError,
    SquidError,
    SquidMoveStoppedError,
    SquidTimeoutError,
)
from hcs_devices.squid.protocol import (
    LIMIT_CODES,
    MOVETO_OPCODES,
    RELATIVE_MOVES,
    Axis,
    Command,
    CommandStatus,
    HomeDirection,
    LimitSwitchPolarity,
    Opcode,
    Status,
    int32,
    uint8,
    uint16,
    uint32,
)
from hcs_devices.squid.transport import SerialTransport
from hcs_devices.stage.kinematics import move_duration_s

_log = logging.getLogger(__name__)

T = TypeVar("T")

STAGE_AXES: dict[str, Axis] = {"x": Axis.X, "y": Axis.Y, "z": Axis.Z}
"""Stage axis names and their protocol axes."""

_STALE_GRACE_S = 0.025
"""Status packets this soon after a send may predate it (one status period + latency)."""

_POLL_S = 0.02
"""Longest wait between checks of stop requests and the link."""


@dataclass
class DriverStats:
    """Counters of what the driver did (for tests, benchmarks and diagnostics).

    Attributes:
        commands: commands completed.
        sends: packets written, resends included.
        resends: packets written again after silence or status 2.
        checksum_errors: status 2 replies seen.
        restores: times the board's state was restored after the port came back.
        button_presses: joystick button presses acknowledged.
    """

    commands: int = 0
    sends: int = 0
    resends: int = 0
    checksum_errors: int = 0
    restores: int = 0
    button_presses: int = 0


class _LinkLost(Exception):
    """The port vanished while restoring state (internal: restart the restore)."""


class SquidDriver:
    """Drives one Squid board over its serial port.

    Args:
        config: the board's configuration.
        limits: stage axis name (``"x"``, ``"y"``, ``"z"``) -> travel and speed. Axes
            without limits get no soft limits and the speeds of ``config``.
        name: prefix of the driver's thread names.
    """

    def __init__(
        self,
        config: SquidConfig,
        limits: Mapping[str, AxisLimits] | None = None,
        *,
        name: str = "squid",
    ) -> None:
        self.config = config
        self.limits: dict[str, AxisLimits] = dict(limits or {})
        unknown = set(self.limits) - set(STAGE_AXES)
        if unknown:
            raise ValueError(f"limits for unknown axes {sorted(unknown)}; axes are x, y, z")
        self._name = name
        self._transport = SerialTransport(
            config.port,
            on_status=self._on_status,
            on_connection=self._on_connection,
            baudrate=config.baudrate,
            name=name,
        )
        self._cond = threading.Condition()
        self._latest: Status | None = None
        self._seq = 0
        self._cmd_lock = threading.Lock()  # one lock per port: one command in flight
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-writer")
        self._closing = threading.Event()
        self._closed = False
        self._started = False
        self._configured_generation = 0
        self._restoring = False
        self._next_id = 1
        self._last_write = 0.0
        self._stop_epochs: dict[Axis, int] = dict.fromkeys(Axis, 0)
        self._wheel_usteps: dict[Axis, int] = {}
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_future: Future[None] | None = None
        self._button_down = False
        self.stats = DriverStats()
        self.firmware_version: int | None = None
        """Firmware version byte of the board (0x14 = v1.4), once connected."""
        self.on_button_pressed: Callable[[], None] | None = None
        """Called (from the writer thread) after each joystick button press is acked."""

    # ================================================================ async API

    @property
    def port(self) -> str:
        """The serial device path."""
        return self.config.port

    @property
    def connected(self) -> bool:
        """Whether the start-up sequence ran and the port is open now."""
        return self._started and self._transport.connected

    @property
    def transport(self) -> SerialTransport:
        """The serial transport (its counters show re-synchronisation and disconnects)."""
        return self._transport

    async def connect(self) -> None:
        """Open the port and run the start-up sequence (idempotent).

        RESET, INITIALIZE, per-axis set-up, illumination off, soft limits, homing of
        ``config.home_on_connect``, the filter wheel and trigger set-up, the watchdog.

        Raises:
            SquidConnectionError: when the port cannot be opened or no status arrives.
            SquidError: when a start-up command fails.
        """
        await self._call(self._connect_sync)

    async def close(self) -> None:
        """Switch illumination off (best effort), stop the threads and close the port."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        if self._started:
            with contextlib.suppress(SquidError, RuntimeError):
                await asyncio.wrap_future(self._executor.submit(self._safe_state_on_close))
        await asyncio.to_thread(self._teardown)

    async def execute(
        self, opcode: Opcode | int, payload: bytes = b"", *, timeout_s: float | None = None
    ) -> Status:
        """Send one command and wait for it to complete.

        Args:
            opcode: the command.
            payload: up to 5 payload bytes (see the protocol tables).
            timeout_s: time allowed for completion after the first send (None: only the
                resend budget applies, right for commands that complete at once).

        Returns:
            The status packet that completed it.

        Raises:
            ValueError: for a relative move (use :meth:`move_by_usteps`).
            SquidCommandError: on status 4.
            SquidTimeoutError: on no reply after the resends, or past ``timeout_s``.
            SquidConnectionError: when the port vanished and did not come back.
        """
        if opcode in RELATIVE_MOVES:
            raise ValueError(
                f"{Opcode(opcode).name} is a relative move, which a resend could run twice; "
                "use move_by_usteps(), which sends an absolute target"
            )
        return await self._call(self._execute_sync, int(opcode), payload, timeout_s)

    async def move_to_usteps(
        self, axis: Axis, target: int, *, timeout_s: float | None = None
    ) -> Status:
        """Move an axis (X, Y, Z, W or W2) to an absolute position in microsteps.

        Raises:
            ValueError: when ``target`` is outside the soft limits (nothing is sent).
            SquidTimeoutError: when the axis does not arrive in time (it is then
                stopped and illumination switched off).
            SquidMoveStoppedError: when :meth:`stop` interrupted the move.
        """
        self.check_target(axis, target)
        epoch = self._stop_epochs[axis]
        return await self._call(self._move_sync, axis, target, None, timeout_s, epoch)

    async def move_by_usteps(
        self, axis: Axis, delta: int, *, timeout_s: float | None = None
    ) -> Status:
        """Move an axis by a distance in microsteps, sent as an absolute target.

        The target is computed once from the board's reported position (commanded
        position for filter wheels), before the first byte is sent, so a resend can
        never move twice.

        Raises:
            ValueError: when the target is outside the soft limits (nothing is sent).
        """
        epoch = self._stop_epochs[axis]
        return await self._call(self._move_sync, axis, None, delta, timeout_s, epoch)

    async def home(self, axis: Axis, direction: HomeDirection | None = None) -> Status:
        """Home an axis (X, Y, Z, or XY), towards ``direction`` (default: from config)."""
        return await self._call(self._home_sync, axis, direction)

    async def zero(self, axis: Axis) -> Status:
        """Declare the current position of an axis to be 0."""
        return await self._call(self._home_sync, axis, HomeDirection.ZERO)

    async def init_filter_wheel(self, axis: Axis = Axis.W) -> None:
        """Initialise (home) a filter wheel: it is then at position 0 microsteps."""
        await self._call(self._init_wheel_sync, axis)

    async def stop(self, axis: Axis) -> None:
        """Stop an axis now: a move in progress stops and raises, queued moves do not run.

        The axis stops at its current position, or at the nearest soft limit when it
        is outside them.
        """
        self._stop_epochs[axis] += 1
        if self._closed:
            return
        await self._call(lambda: None)  # runs once everything queued before it is done

    async def all_illumination_off(self) -> None:
        """Switch the selected source and every TTL port off."""
        await self._call(self._illumination_off_sync)

    def position_usteps(self, axis: Axis) -> int:
        """Last reported position of a stage axis (or commanded position of a wheel).

        Raises:
            SquidConnectionError: before the first status packet.
        """
        if axis in (Axis.W, Axis.W2):
            return self._wheel_usteps.get(axis, 0)
        status = self.latest_status
        if status is None:
            raise SquidConnectionError(f"no status from the Squid board on {self.port} yet")
        return status.position(axis)

    def wheel_initialised(self, axis: Axis = Axis.W) -> bool:
        """Whether this driver initialised (homed) a filter wheel axis."""
        return axis in self._wheel_usteps

    @property
    def latest_status(self) -> Status | None:
        """The last status packet received, if any."""
        with self._cond:
            return self._latest

    def axis_config(self, axis: Axis) -> StageAxisConfig:
        """Mechanics of a stage axis."""
        return self.config.axis(axis.name.lower())

    def speed_usteps(self, axis: Axis) -> tuple[float, float]:
        """(max velocity, max acceleration) of an axis in microsteps/s and /s^2."""
        if axis in (Axis.W, Axis.W2):
            fw = self.config.filter_wheel
            per_mm = fw.microstepping * fw.full_steps_per_rev / fw.lead_screw_pitch_mm
            return (fw.max_velocity_mm_s * per_mm, fw.max_acceleration_mm_s2 * per_mm)
        v_mm, a_mm = self._speed_mm(axis)
        per_mm = self.axis_config(axis).usteps_per_mm
        return (v_mm * per_mm, a_mm * per_mm)

    def move_timeout_s(self, axis: Axis, distance_usteps: float) -> float:
        """Time allowed for a move: max(min_move_timeout_s, factor x expected time)."""
        v, a = self.speed_usteps(axis)
        expected = move_duration_s(distance_usteps, v, a)
        return max(self.config.min_move_timeout_s, self.config.move_timeout_factor * expected)

    def soft_limits_usteps(self, axis: Axis) -> tuple[int, int] | None:
        """(low, high) soft limits of a stage axis in board microsteps, if configured."""
        name = axis.name.lower()
        limits = self.limits.get(name)
        if limits is None:
            return None
        cfg = self.config.axis(name)
        a, b = cfg.um_to_usteps(limits.low_um), cfg.um_to_usteps(limits.high_um)
        return (min(a, b), max(a, b))

    def check_target(self, axis: Axis, target: int) -> None:
        """Refuse a target outside an axis's soft limits.

        Raises:
            ValueError: naming the axis, the target and the allowed range.
        """
        if not -(2**31) <= target <= 2**31 - 1:
            raise ValueError(f"{axis.name}: target {target} microsteps does not fit in int32")
        bounds = self.soft_limits_usteps(axis) if axis in LIMIT_CODES else None
        if bounds is None:
            return
        low, high = bounds
        if not low <= target <= high:
            name = axis.name.lower()
            cfg = self.config.axis(name)
            limits = self.limits[name]
            raise ValueError(
                f"{name}: target {target} microsteps ({cfg.usteps_to_um(target):.3f} um) is "
                f"outside the soft limits {low}..{high} microsteps "
                f"({limits.low_um}..{limits.high_um} um); nothing was sent"
            )

    # ================================================================ sync core

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise SquidConnectionError(f"the Squid driver for {self.port} is closed")
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError as exc:  # executor shut down
            raise SquidConnectionError(f"the Squid driver for {self.port} is closed") from exc
        return await asyncio.wrap_future(future)

    def _speed_mm(self, axis: Axis) -> tuple[float, float]:
        name = axis.name.lower()
        limits = self.limits.get(name)
        if limits is not None:
            return (limits.max_velocity_um_s / 1000.0, limits.max_acceleration_um_s2 / 1000.0)
        cfg = self.config.axis(name)
        return (cfg.max_velocity_mm_s, cfg.max_acceleration_mm_s2)

    # -- status stream (reader thread) --

    def _on_status(self, status: Status) -> None:
        with self._cond:
            self._latest = status
            self._seq += 1
            self._cond.notify_all()
        pressed = status.button_pressed
        if pressed and not self._button_down and self._started and not self._closing.is_set():
            with contextlib.suppress(RuntimeError):
                self._executor.submit(self._ack_button_sync)
        self._button_down = pressed

    def _on_connection(self, connected: bool) -> None:
        with self._cond:
            self._cond.notify_all()
        if connected and self._started and not self._closing.is_set():
            # Restore the board's state now, even if no command is waiting.
            with contextlib.suppress(RuntimeError):
                self._executor.submit(self._ensure_configured_job)

    # -- connection and start-up (writer thread) --

    def _connect_sync(self) -> None:
        if self._started:
            return
        self._transport.open()
        with self._cond:
            got = self._cond.wait_for(lambda: self._latest is not None, timeout=2.0)
            status = self._latest
        if not got or status is None:
            raise SquidConnectionError(
                f"no status packets from {self.port} within 2 s: is it a Squid board "
                "(Teensyduino) running the Squid firmware?"
            )
        self.firmware_version = status.firmware_version
        if status.firmware_version >> 4 != 1:
            _log.warning(
                "Squid board on %s reports firmware 0x%02x; this driver speaks v1.x",
                self.port,
                status.firmware_version,
            )
        with self._cmd_lock:
            self._startup()
        self._started = True
        if self.config.watchdog_timeout_s is not None:
            self._heartbeat = threading.Thread(
                target=self._heartbeat_loop, name=f"{self._name}-heartbeat", daemon=True
            )
            self._heartbeat.start()

    def _startup(self) -> None:
        cfg = self.config
        self._send_unacknowledged(Opcode.RESET)
        self._closing.wait(cfg.reset_settle_s)
        self._transact(Opcode.INITIALIZE)
        self._closing.wait(cfg.reset_settle_s)
        self._configure_board()
        self._configured_generation = self._transport.generation
        for name in cfg.home_on_connect:
            axis = STAGE_AXES[name]
            self._home_locked(axis, None)
        if cfg.filter_wheel.enabled:
            self._init_wheel_locked(Axis.W if cfg.filter_wheel.axis == "w" else Axis.W2)
        if cfg.watchdog_timeout_s is not None:
            self._transact(Opcode.HEARTBEAT)

    def _configure_board(self) -> None:
        """Everything the board must know; sent at start-up and after a reconnect."""
        cfg = self.config
        for name, axis in STAGE_AXES.items():
            ax = cfg.axis(name)
            v_mm, a_mm = self._speed_mm(axis)
            self._configure_axis(
                axis,
                pitch_mm=ax.lead_screw_pitch_mm,
                microstepping=ax.microstepping,
                rms_current_ma=ax.rms_current_ma,
                hold_fraction=ax.hold_current_fraction,
                v_mm_s=v_mm,
                a_mm_s2=a_mm,
            )
            polarity = LimitSwitchPolarity[ax.limit_switch_polarity.upper()]
            self._transact(Opcode.SET_LIM_SWITCH_POLARITY, uint8(axis) + uint8(polarity))
            self._transact(
                Opcode.SET_HOME_SAFETY_MARGIN, uint8(axis) + uint16(ax.home_safety_margin_um)
            )
        fw = cfg.filter_wheel
        if fw.enabled:
            self._configure_axis(
                Axis.W if fw.axis == "w" else Axis.W2,
                pitch_mm=fw.lead_screw_pitch_mm,
                microstepping=fw.microstepping,
                rms_current_ma=fw.rms_current_ma,
                hold_fraction=0.5,
                v_mm_s=fw.max_velocity_mm_s,
                a_mm_s2=fw.max_acceleration_mm_s2,
            )
        self._transact(
            Opcode.SET_ILLUMINATION_INTENSITY_FACTOR, uint8(cfg.intensity_factor_percent)
        )
        self._illumination_off_sync_locked()
        for axis in STAGE_AXES.values():
            bounds = self.soft_limits_usteps(axis)
            if bounds is None:
                continue
            negative, positive = LIMIT_CODES[axis]
            self._transact(Opcode.SET_LIM, uint8(positive) + int32(bounds[1]))
            self._transact(Opcode.SET_LIM, uint8(negative) + int32(bounds[0]))
        trigger = cfg.trigger
        self._transact(Opcode.SET_TRIGGER_MODE, uint8(0 if trigger.mode == "edge" else 1))
        if trigger.strobe_delay_us is not None:
            self._transact(
                Opcode.SET_STROBE_DELAY,
                uint8(trigger.camera_channel) + uint32(trigger.strobe_delay_us),
            )
        if cfg.watchdog_timeout_s is not None:
            ms = max(1, round(cfg.watchdog_timeout_s * 1000))
            self._transact(Opcode.SET_WATCHDOG_TIMEOUT, uint32(ms))

    def _configure_axis(
        self,
        axis: Axis,
        *,
        pitch_mm: float,
        microstepping: int,
        rms_current_ma: int,
        hold_fraction: float,
        v_mm_s: float,
        a_mm_s2: float,
    ) -> None:
        self._transact(Opcode.SET_LEAD_SCREW_PITCH, uint8(axis) + uint16(round(pitch_mm * 1000)))
        self._transact(
            Opcode.CONFIGURE_STEPPER_DRIVER,
            uint8(axis)
            + uint8(255 if microstepping == 256 else microstepping)
            + uint16(rms_current_ma)
            + uint8(round(hold_fraction * 255)),
        )
        self._transact(
            Opcode.SET_MAX_VELOCITY_ACCELERATION,
            uint8(axis) + uint16(round(v_mm_s * 100)) + uint16(round(a_mm_s2 * 10)),
        )

    def _ensure_configured_job(self) -> None:
        with contextlib.suppress(SquidError, _LinkLost), self._cmd_lock:
            self._ensure_configured()

    def _ensure_configured(self) -> None:
        """Restore the board's state if the port was re-opened since it was set up.

        Raises:
            SquidConnectionError: before :meth:`connect`, or when the port is gone.
        """
        if not self._started and not self._transport.connected:
            raise SquidConnectionError(
                f"the Squid board on {self.port} is not connected: call connect() first"
            )
        if not self._started or self._configured_generation == self._transport.generation:
            return
        self._recover_link("restoring the board's state")

    def _recover_link(self, what: str, deadline: float | None = None) -> None:
        """Wait for the port, then restore the board's state; retried if the port flaps.

        Raises:
            SquidConnectionError: when the port does not come back in time.
        """
        if deadline is None:
            deadline = time.monotonic() + self.config.reconnect_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if self._closing.is_set():
                raise SquidConnectionError(f"{what}: the driver is closing", command=what)
            if not self._transport.wait_connected(max(0.0, min(remaining, _POLL_S))):
                if remaining <= 0:
                    raise SquidConnectionError(
                        f"{what}: the port {self.port} vanished and did not come back "
                        f"within {self.config.reconnect_timeout_s} s",
                        command=what,
                    )
                continue
            generation = self._transport.generation
            if self._configured_generation == generation or not self._started:
                return
            _log.warning("Squid port %s came back: restoring the board's state", self.port)
            self._configured_generation = generation
            self._restoring = True
            try:
                self._configure_board()
            except (_LinkLost, SquidConnectionError):
                self._configured_generation = 0
                continue
            finally:
                self._restoring = False
            self.stats.restores += 1
            if self._transport.generation == generation:
                return

    # -- the transaction --

    def _allocate_id(self) -> int:
        board_id = self._latest.command_id if self._latest is not None else None
        cid = self._next_id
        if cid == board_id:  # never reuse the id the board shows now: it would match stale
            cid = cid % 255 + 1
        self._next_id = cid % 255 + 1
        return cid

    def _write(self, packet: bytes) -> None:
        self._transport.write(packet)
        self._last_write = time.monotonic()
        self.stats.sends += 1

    def _send_unacknowledged(self, opcode: Opcode, payload: bytes = b"") -> None:
        """Send a command whose completion cannot be seen (RESET makes the board's id 0)."""
        self._write(Command.build(self._allocate_id(), opcode, payload).encode())

    def _transact(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        timeout_s: float | None = None,
        idempotent: bool = True,
        stop: tuple[Axis, int] | None = None,
        on_timeout: Callable[[str], None] | None = None,
    ) -> Status:
        """Send a command and wait for its completion; the caller holds the port lock."""
        cfg = self.config
        restoring = self._restoring
        command = Command.build(self._allocate_id(), opcode, payload)
        packet = command.encode()
        name = command.name
        closing_mode = self._closing.is_set()
        max_resends = 1 if closing_mode else cfg.max_resends
        sends = 0  # sends that count against the resend budget
        paused_s = 0.0  # time spent waiting for a vanished port (extends the deadline)
        generation = self._transport.generation
        t_sent = t_evidence = 0.0
        seen_seq = 0
        other_id = 0  # consecutive fresh status packets showing another command's id

        def recover() -> None:
            nonlocal paused_s
            if restoring or closing_mode:
                raise _LinkLost(name)
            t0 = time.monotonic()
            self._recover_link(name)
            paused_s += time.monotonic() - t0

        def send(*, counted: bool = True) -> None:
            nonlocal sends, t_sent, t_evidence, seen_seq, generation
            while True:
                try:
                    self._write(packet)
                    break
                except SquidConnectionError:
                    recover()
            if counted:
                sends += 1
                if sends > 1:
                    self.stats.resends += 1
            t_sent = t_evidence = time.monotonic()
            generation = self._transport.generation
            with self._cond:
                seen_seq = self._seq

        send()
        t_first = t_sent
        while True:
            with self._cond:
                if self._seq == seen_seq and not self._closing.is_set():
                    self._cond.wait(_POLL_S)
                status = self._latest if self._seq != seen_seq else None
                seen_seq = self._seq
            now = time.monotonic()
            if self._closing.is_set() and not closing_mode:
                raise SquidConnectionError(f"{name}: the driver is closing", command=name)
            if stop is not None and self._stop_epochs[stop[0]] != stop[1]:
                self._halt_locked(stop[0])
                raise SquidMoveStoppedError(f"{name}: stopped by request", command=name)
            if self._transport.generation != generation or not self._transport.connected:
                recover()
                send(counted=False)  # the port came back: same bytes, same id
                continue
            if status is not None:
                fresh = now - t_sent > _STALE_GRACE_S
                if status.command_id == command.command_id:
                    if status.status == CommandStatus.COMPLETED:
                        self.stats.commands += 1
                        return status
                    if status.status == CommandStatus.IN_PROGRESS:
                        t_evidence = now
                    elif status.status != CommandStatus.CHECKSUM_ERROR:
                        what = (
                            "execution error"
                            if status.status == CommandStatus.EXECUTION_ERROR
                            else f"status {status.status}"
                        )
                        raise SquidCommandError(
                            f"{name}: the board refused it ({what}, nothing moved)",
                            command=name,
                        )
                if status.status == CommandStatus.CHECKSUM_ERROR and fresh:
                    self.stats.checksum_errors += 1
                    self._resend_or_fail(name, sends, max_resends, "checksum error")
                    send()
                    continue
                other_id = other_id + 1 if fresh and status.command_id != command.command_id else 0
                if not idempotent and other_id >= 2 and now - t_evidence > cfg.resend_timeout_s:
                    # The board shows another id, twice in a row: it never took this command.
                    self._resend_or_fail(name, sends, max_resends, "no reply")
                    send()
                    continue
            if timeout_s is not None and now > t_first + timeout_s + paused_s:
                if on_timeout is not None:
                    on_timeout(name)
                raise SquidTimeoutError(
                    f"{name} did not complete within {timeout_s:.2f} s", command=name
                )
            if now - t_evidence > cfg.resend_timeout_s:
                if idempotent:
                    self._resend_or_fail(name, sends, max_resends, "no reply")
                    send()
                elif now - t_evidence > cfg.resend_timeout_s * (max_resends + 1):
                    raise SquidTimeoutError(
                        f"{name}: no status from the board for "
                        f"{now - t_evidence:.2f} s (not resent: it must not run twice)",
                        command=name,
                    )

    def _resend_or_fail(self, name: str, sends: int, max_resends: int, why: str) -> None:
        if sends > max_resends:
            raise SquidTimeoutError(
                f"{name}: {why} after {sends} sends "
                f"({self.config.resend_timeout_s} s each); is the board powered and connected?",
                command=name,
            )
        _log.info("Squid %s: %s, resending", name, why)

    # -- commands (writer thread) --

    def _execute_sync(self, opcode: int, payload: bytes, timeout_s: float | None) -> Status:
        with self._cmd_lock:
            self._ensure_configured()
            return self._transact(
                opcode,
                payload,
                timeout_s=timeout_s,
                idempotent=opcode != Opcode.SEND_HARDWARE_TRIGGER,
            )

    def _move_sync(
        self,
        axis: Axis,
        target: int | None,
        delta: int | None,
        timeout_s: float | None,
        epoch: int,
    ) -> Status:
        with self._cmd_lock:
            self._ensure_configured()
            if self._stop_epochs[axis] != epoch:
                raise SquidMoveStoppedError(
                    f"move of {axis.name} cancelled by stop() before it started",
                    command=f"{MOVETO_OPCODES[axis].name}",
                )
            start = self.position_usteps(axis)
            if target is None:
                target = start + (delta or 0)
                self.check_target(axis, target)
            if timeout_s is None:
                timeout_s = self.move_timeout_s(axis, abs(target - start))
            status = self._transact(
                MOVETO_OPCODES[axis],
                int32(target),
                timeout_s=timeout_s,
                stop=(axis, epoch),
                on_timeout=partial(self._fail_safe, axis),
            )
            if axis in (Axis.W, Axis.W2):
                self._wheel_usteps[axis] = target
            return status

    def _home_sync(self, axis: Axis, direction: HomeDirection | None) -> Status:
        with self._cmd_lock:
            self._ensure_configured()
            return self._home_locked(axis, direction)

    def _home_locked(self, axis: Axis, direction: HomeDirection | None) -> Status:
        if axis is Axis.XY:
            dx = direction if direction is not None else self._home_direction(Axis.X)
            dy = direction if direction is not None else self._home_direction(Axis.Y)
            payload = uint8(axis) + uint8(dx) + uint8(dy)
        else:
            d = direction if direction is not None else self._home_direction(axis)
            payload = uint8(axis) + uint8(d)
        timeout = None if direction is HomeDirection.ZERO else self.config.home_timeout_s
        return self._transact(Opcode.HOME_OR_ZERO, payload, timeout_s=timeout)

    def _home_direction(self, axis: Axis) -> HomeDirection:
        cfg = self.axis_config(axis)
        return (
            HomeDirection.NEGATIVE if cfg.home_direction == "negative" else HomeDirection.POSITIVE
        )

    def _init_wheel_sync(self, axis: Axis) -> None:
        with self._cmd_lock:
            self._ensure_configured()
            self._init_wheel_locked(axis)

    def _init_wheel_locked(self, axis: Axis) -> None:
        opcode = Opcode.INITFILTERWHEEL if axis is Axis.W else Opcode.INITFILTERWHEEL_W2
        self._transact(opcode, timeout_s=self.config.filter_wheel.init_timeout_s)
        self._wheel_usteps[axis] = 0

    def _illumination_off_sync(self) -> None:
        with self._cmd_lock:
            self._ensure_configured()
            self._illumination_off_sync_locked()

    def _illumination_off_sync_locked(self) -> None:
        self._transact(Opcode.TURN_OFF_ILLUMINATION)
        self._transact(Opcode.TURN_OFF_ALL_PORTS)

    def _halt_locked(self, axis: Axis) -> None:
        """Stop an axis where it is (the nearest soft limit if outside them)."""
        if axis in (Axis.W, Axis.W2):
            return  # wheel moves are short and their position is not reported
        here = self.position_usteps(axis)
        bounds = self.soft_limits_usteps(axis)
        if bounds is not None:
            here = min(max(here, bounds[0]), bounds[1])
        self._transact(MOVETO_OPCODES[axis], int32(here), timeout_s=self.config.min_move_timeout_s)

    def _fail_safe(self, axis: Axis, name: str) -> None:
        """After a move timed out: stop the axis and switch illumination off."""
        _log.error("Squid %s timed out: stopping %s, illumination off", name, axis.name)
        for action in (partial(self._halt_locked, axis), self._illumination_off_sync_locked):
            try:
                action()
            except (SquidError, _LinkLost) as exc:
                _log.error("Squid fail-safe after %s: %s", name, exc)

    def _ack_button_sync(self) -> None:
        with contextlib.suppress(SquidError, _LinkLost), self._cmd_lock:
            self._transact(Opcode.ACK_JOYSTICK_BUTTON_PRESSED)
            self.stats.button_presses += 1
            callback = self.on_button_pressed
            if callback is not None:
                callback()

    # -- heartbeat --

    def _heartbeat_loop(self) -> None:
        timeout = self.config.watchdog_timeout_s
        if timeout is None:
            return
        interval = timeout / 2.0
        while not self._closing.wait(min(interval / 4.0, 0.25)):
            if time.monotonic() - self._last_write < interval:
                continue
            pending = self._heartbeat_future
            if pending is not None and not pending.done():
                continue
            with contextlib.suppress(RuntimeError):
                self._heartbeat_future = self._executor.submit(self._heartbeat_job, interval)

    def _heartbeat_job(self, interval: float) -> None:
        if self._closing.is_set() or time.monotonic() - self._last_write < interval * 0.9:
            return
        try:
            with self._cmd_lock:
                self._ensure_configured()
                self._transact(Opcode.HEARTBEAT)
        except (SquidError, _LinkLost) as exc:
            _log.warning("Squid heartbeat on %s failed: %s", self.port, exc)

    # -- shutdown --

    def _safe_state_on_close(self) -> None:
        try:
            with self._cmd_lock:
                if self._transport.connected:
                    self._illumination_off_sync_locked()
        except (SquidError, _LinkLost) as exc:
            _log.warning("Squid: could not switch illumination off at close: %s", exc)

    def _teardown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.join(timeout=5.0)
        self._transport.close()
