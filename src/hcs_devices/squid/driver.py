"""The Squid microcontroller driver: the public face of one board.

One :class:`SquidDriver` owns one board. It composes:

* :class:`~hcs_devices.squid.link.SquidLink`: the serial link, the one writer thread
  (a single-worker executor) and one lock per port, so exactly one command is in
  flight; completion, resends and reconnection.
* :class:`~hcs_devices.squid.startup.SquidStartup`: the start-up sequence and the
  board state restored after a reconnect; the heartbeat feeding the watchdog.
* :class:`~hcs_devices.squid.commands.SquidCommands`: moves, homing, stops, the
  filter wheel and illumination off, on top of
  :class:`~hcs_devices.squid.axes.SquidAxes` (soft limits, speeds, move timeouts).

The async API only awaits futures of the writer thread, so no blocking I/O ever runs
on the asyncio event loop. When the port vanishes, commands wait (up to
``reconnect_timeout_s``) for it to come back, restore the board's configuration
(limits, speeds, watchdog; illumination off) and resend.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from hcs_devices.squid.axes import STAGE_AXES, SquidAxes
from hcs_devices.squid.commands import SquidCommands
from hcs_devices.squid.config import AxisLimits, SquidConfig, StageAxisConfig
from hcs_devices.squid.errors import SquidError
from hcs_devices.squid.link import DriverStats, SquidLink
from hcs_devices.squid.protocol import RELATIVE_MOVES, Axis, HomeDirection, Opcode, Status
from hcs_devices.squid.startup import SquidStartup
from hcs_devices.squid.transport import SerialTransport

__all__ = ["STAGE_AXES", "DriverStats", "SquidDriver"]


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
        self.axes = SquidAxes(config, limits)
        self.limits: dict[str, AxisLimits] = self.axes.limits
        self.link = SquidLink(config, name=name)
        self.commands = SquidCommands(self.link, self.axes)
        self._startup = SquidStartup(self.link, self.axes, self.commands)
        self.stats: DriverStats = self.link.stats

    @property
    def port(self) -> str:
        """The serial device path."""
        return self.config.port

    @property
    def connected(self) -> bool:
        """Whether the start-up sequence ran and the port is open now."""
        return self.link.started and self.link.transport.connected

    @property
    def transport(self) -> SerialTransport:
        """The serial transport (its counters show re-synchronisation and disconnects)."""
        return self.link.transport

    @property
    def firmware_version(self) -> int | None:
        """Firmware version byte of the board (0x14 = v1.4), once connected."""
        return self._startup.firmware_version

    @property
    def on_button_pressed(self) -> Callable[[], None] | None:
        """Called (from the writer thread) after each joystick button press is acked."""
        return self.link.on_button_pressed

    @on_button_pressed.setter
    def on_button_pressed(self, callback: Callable[[], None] | None) -> None:
        self.link.on_button_pressed = callback

    @property
    def latest_status(self) -> Status | None:
        """The last status packet received, if any."""
        return self.link.latest_status

    async def connect(self) -> None:
        """Open the port and run the start-up sequence (idempotent).

        RESET, INITIALIZE, per-axis set-up, illumination off, soft limits, homing of
        ``config.home_on_connect``, the filter wheel and trigger set-up, the watchdog.

        Raises:
            SquidConnectionError: when the port cannot be opened or no status arrives.
            SquidError: when a start-up command fails.
        """
        await self.link.call(self._startup.connect_sync)

    async def close(self) -> None:
        """Switch illumination off (best effort), stop the threads and close the port."""
        link = self.link
        if link.closed:
            return
        link.closed = True
        link.closing.set()
        if link.started:
            with contextlib.suppress(SquidError, RuntimeError):
                await asyncio.wrap_future(link.executor.submit(self.commands.safe_state_on_close))
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
        return await self.link.call(self.commands.execute_sync, int(opcode), payload, timeout_s)

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
        epoch = self.commands.stop_epoch(axis)
        return await self.link.call(self.commands.move_sync, axis, target, None, timeout_s, epoch)

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
        epoch = self.commands.stop_epoch(axis)
        return await self.link.call(self.commands.move_sync, axis, None, delta, timeout_s, epoch)

    async def home(self, axis: Axis, direction: HomeDirection | None = None) -> Status:
        """Home an axis (X, Y, Z, or XY), towards ``direction`` (default: from config)."""
        return await self.link.call(self.commands.home_sync, axis, direction)

    async def zero(self, axis: Axis) -> Status:
        """Declare the current position of an axis to be 0."""
        return await self.link.call(self.commands.home_sync, axis, HomeDirection.ZERO)

    async def init_filter_wheel(self, axis: Axis = Axis.W) -> None:
        """Initialise (home) a filter wheel: it is then at position 0 microsteps."""
        await self.link.call(self.commands.init_wheel_sync, axis)

    async def stop(self, axis: Axis) -> None:
        """Stop an axis now: a move in progress stops and raises, queued moves do not run.

        The axis stops at its current position, or at the nearest soft limit when it
        is outside them.
        """
        self.commands.request_stop(axis)
        if self.link.closed:
            return
        await self.link.call(lambda: None)  # runs once everything queued before it is done

    async def all_illumination_off(self) -> None:
        """Switch the selected source and every TTL port off."""
        await self.link.call(self.commands.illumination_off_sync)

    def position_usteps(self, axis: Axis) -> int:
        """Last reported position of a stage axis (or commanded position of a wheel).

        Raises:
            SquidConnectionError: before the first status packet.
        """
        return self.commands.position_usteps(axis)

    def wheel_initialised(self, axis: Axis = Axis.W) -> bool:
        """Whether this driver initialised (homed) a filter wheel axis."""
        return self.commands.wheel_initialised(axis)

    def axis_config(self, axis: Axis) -> StageAxisConfig:
        """Mechanics of a stage axis."""
        return self.axes.axis_config(axis)

    def speed_usteps(self, axis: Axis) -> tuple[float, float]:
        """(max velocity, max acceleration) of an axis in microsteps/s and /s^2."""
        return self.axes.speed_usteps(axis)

    def move_timeout_s(self, axis: Axis, distance_usteps: float) -> float:
        """Time allowed for a move: max(min_move_timeout_s, factor x expected time)."""
        return self.axes.move_timeout_s(axis, distance_usteps)

    def soft_limits_usteps(self, axis: Axis) -> tuple[int, int] | None:
        """(low, high) soft limits of a stage axis in board microsteps, if configured."""
        return self.axes.soft_limits_usteps(axis)

    def check_target(self, axis: Axis, target: int) -> None:
        """Refuse a target outside an axis's soft limits.

        Raises:
            ValueError: naming the axis, the target and the allowed range.
        """
        self.axes.check_target(axis, target)

    def _teardown(self) -> None:
        self.link.executor.shutdown(wait=True, cancel_futures=True)
        heartbeat = self._startup.heartbeat
        if heartbeat is not None:
            heartbeat.join(timeout_s=5.0)
        self.link.transport.close()
