"""The Squid command surface: moves, homing, stops, the filter wheel, illumination off.

Every method here runs on the link's writer thread. The ``*_sync`` methods take the
port lock and restore the board's state first if the port was re-opened; the
``*_locked`` methods expect the caller to hold the lock (start-up, fail-safe).

* Stage moves are absolute (MOVETO_*), so a resend cannot move twice; relative moves
  are converted to absolute targets once, before the first byte is sent.
* Targets outside the soft limits are refused before any byte is sent.
* A move that does not arrive in time stops the axis, switches illumination off and
  raises :class:`~hcs_devices.squid.errors.SquidTimeoutError`.
"""

from __future__ import annotations

import logging
from functools import partial

from hcs_devices.squid.axes import SquidAxes
from hcs_devices.squid.errors import SquidConnectionError, SquidError, SquidMoveStoppedError
from hcs_devices.squid.link import LinkLost, SquidLink
from hcs_devices.squid.protocol import (
    MOVETO_OPCODES,
    Axis,
    HomeDirection,
    Opcode,
    Status,
    int32,
    uint8,
)

_log = logging.getLogger(__name__)


class SquidCommands:
    """Commands of one board, sent through its link.

    Args:
        link: the board's link.
        axes: the board's axis geometry (soft limits, speeds).
    """

    def __init__(self, link: SquidLink, axes: SquidAxes) -> None:
        self._link = link
        self._axes = axes
        self._stop_epochs: dict[Axis, int] = dict.fromkeys(Axis, 0)
        self._wheel_usteps: dict[Axis, int] = {}

    # -- state the async API reads --

    def stop_epoch(self, axis: Axis) -> int:
        """How many stops were requested for ``axis`` (a move remembers it when queued)."""
        return self._stop_epochs[axis]

    def request_stop(self, axis: Axis) -> None:
        """Mark moves of ``axis`` queued or running now as stopped."""
        self._stop_epochs[axis] += 1

    def position_usteps(self, axis: Axis) -> int:
        """Last reported position of a stage axis (or commanded position of a wheel).

        Raises:
            SquidConnectionError: before the first status packet.
        """
        if axis in (Axis.W, Axis.W2):
            return self._wheel_usteps.get(axis, 0)
        status = self._link.latest_status
        if status is None:
            raise SquidConnectionError(f"no status from the Squid board on {self._link.port} yet")
        return status.position(axis)

    def wheel_initialised(self, axis: Axis) -> bool:
        """Whether a filter wheel axis was initialised (homed) through these commands."""
        return axis in self._wheel_usteps

    # -- commands (writer thread) --

    def execute_sync(self, opcode: int, payload: bytes, timeout_s: float | None) -> Status:
        """Send any command (hardware triggers are never resent on silence alone)."""
        with self._link.cmd_lock:
            self._link.ensure_configured()
            return self._link.transact(
                opcode,
                payload,
                timeout_s=timeout_s,
                idempotent=opcode != Opcode.SEND_HARDWARE_TRIGGER,
            )

    def move_sync(
        self,
        axis: Axis,
        target: int | None,
        delta: int | None,
        timeout_s: float | None,
        epoch: int,
    ) -> Status:
        """Move to ``target``, or by ``delta`` from where the axis is now, unless stopped.

        Raises:
            SquidMoveStoppedError: when a stop was requested since ``epoch``.
            ValueError: when the target computed from ``delta`` is outside the limits.
        """
        link = self._link
        with link.cmd_lock:
            link.ensure_configured()
            if self._stop_epochs[axis] != epoch:
                raise SquidMoveStoppedError(
                    f"move of {axis.name} cancelled by stop() before it started",
                    command=f"{MOVETO_OPCODES[axis].name}",
                )
            start = self.position_usteps(axis)
            if target is None:
                target = start + (delta or 0)
                self._axes.check_target(axis, target)
            if timeout_s is None:
                timeout_s = self._axes.move_timeout_s(axis, abs(target - start))
            status = link.transact(
                MOVETO_OPCODES[axis],
                int32(target),
                timeout_s=timeout_s,
                stop_requested=lambda: self._stop_epochs[axis] != epoch,
                halt=partial(self._halt_locked, axis),
                on_timeout=partial(self._fail_safe, axis),
            )
            if axis in (Axis.W, Axis.W2):
                self._wheel_usteps[axis] = target
            return status

    def home_sync(self, axis: Axis, direction: HomeDirection | None) -> Status:
        """Home (or zero) an axis."""
        with self._link.cmd_lock:
            self._link.ensure_configured()
            return self.home_locked(axis, direction)

    def home_locked(self, axis: Axis, direction: HomeDirection | None) -> Status:
        """Home (or zero) an axis, towards ``direction`` (default: from config)."""
        axes = self._axes
        if axis is Axis.XY:
            dx = direction if direction is not None else axes.home_direction(Axis.X)
            dy = direction if direction is not None else axes.home_direction(Axis.Y)
            payload = uint8(axis) + uint8(dx) + uint8(dy)
        else:
            d = direction if direction is not None else axes.home_direction(axis)
            payload = uint8(axis) + uint8(d)
        timeout = None if direction is HomeDirection.ZERO else self._link.config.home_timeout_s
        return self._link.transact(Opcode.HOME_OR_ZERO, payload, timeout_s=timeout)

    def init_wheel_sync(self, axis: Axis) -> None:
        """Initialise (home) a filter wheel."""
        with self._link.cmd_lock:
            self._link.ensure_configured()
            self.init_wheel_locked(axis)

    def init_wheel_locked(self, axis: Axis) -> None:
        """Initialise (home) a filter wheel: it is then at position 0 microsteps."""
        opcode = Opcode.INITFILTERWHEEL if axis is Axis.W else Opcode.INITFILTERWHEEL_W2
        self._link.transact(opcode, timeout_s=self._link.config.filter_wheel.init_timeout_s)
        self._wheel_usteps[axis] = 0

    def illumination_off_sync(self) -> None:
        """Switch the selected source and every TTL port off."""
        with self._link.cmd_lock:
            self._link.ensure_configured()
            self.illumination_off_locked()

    def illumination_off_locked(self) -> None:
        """Switch the selected source and every TTL port off (lock held)."""
        self._link.transact(Opcode.TURN_OFF_ILLUMINATION)
        self._link.transact(Opcode.TURN_OFF_ALL_PORTS)

    def safe_state_on_close(self) -> None:
        """Switch illumination off if the port is open (best effort, logged)."""
        try:
            with self._link.cmd_lock:
                if self._link.transport.connected:
                    self.illumination_off_locked()
        except (SquidError, LinkLost) as exc:
            _log.warning("Squid: could not switch illumination off at close: %s", exc)

    # -- fail-safe --

    def _halt_locked(self, axis: Axis) -> None:
        """Stop an axis where it is (the nearest soft limit if outside them)."""
        if axis in (Axis.W, Axis.W2):
            return  # wheel moves are short and their position is not reported
        here = self.position_usteps(axis)
        bounds = self._axes.soft_limits_usteps(axis)
        if bounds is not None:
            here = min(max(here, bounds[0]), bounds[1])
        self._link.transact(
            MOVETO_OPCODES[axis], int32(here), timeout_s=self._link.config.min_move_timeout_s
        )

    def _fail_safe(self, axis: Axis, name: str) -> None:
        """After a move timed out: stop the axis and switch illumination off."""
        _log.error("Squid %s timed out: stopping %s, illumination off", name, axis.name)
        for action in (partial(self._halt_locked, axis), self.illumination_off_locked):
            try:
                action()
            except (SquidError, LinkLost) as exc:
                _log.error("Squid fail-safe after %s: %s", name, exc)
