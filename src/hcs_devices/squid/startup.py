"""The Squid start-up sequence and the board state restored after a reconnect.

RESET, INITIALIZE, per-axis set-up (lead screw, driver currents, speeds, limit
switches, homing margins), illumination off, soft limits, trigger set-up and the
watchdog; then homing of ``config.home_on_connect``, the filter wheel and the first
heartbeat.
"""

from __future__ import annotations

import logging

from hcs_devices.squid.axes import STAGE_AXES, SquidAxes
from hcs_devices.squid.commands import SquidCommands
from hcs_devices.squid.errors import SquidConnectionError
from hcs_devices.squid.heartbeat import SquidHeartbeat
from hcs_devices.squid.link import SquidLink
from hcs_devices.squid.protocol import (
    LIMIT_CODES,
    Axis,
    LimitSwitchPolarity,
    Opcode,
    int32,
    uint8,
    uint16,
    uint32,
)

_log = logging.getLogger(__name__)


class SquidStartup:
    """Brings one board up and restores its state; installs itself as the link's restore.

    Args:
        link: the board's link.
        axes: the board's axis geometry.
        commands: the board's commands (homing, filter wheel, illumination off).
    """

    def __init__(self, link: SquidLink, axes: SquidAxes, commands: SquidCommands) -> None:
        self._link = link
        self._axes = axes
        self._commands = commands
        self.firmware_version: int | None = None
        """Firmware version byte of the board (0x14 = v1.4), once connected."""
        self.heartbeat: SquidHeartbeat | None = None
        link.restore_state = self.configure_board

    def connect_sync(self) -> None:
        """Open the port and run the start-up sequence (writer thread; idempotent).

        Raises:
            SquidConnectionError: when the port cannot be opened or no status arrives.
            SquidError: when a start-up command fails.
        """
        link = self._link
        if link.started:
            return
        link.transport.open()
        status = link.wait_first_status(2.0)
        if status is None:
            raise SquidConnectionError(
                f"no status packets from {link.port} within 2 s: is it a Squid board "
                "(Teensyduino) running the Squid firmware?"
            )
        self.firmware_version = status.firmware_version
        if status.firmware_version >> 4 != 1:
            _log.warning(
                "Squid board on %s reports firmware 0x%02x; this driver speaks v1.x",
                link.port,
                status.firmware_version,
            )
        with link.cmd_lock:
            self._startup()
        link.started = True
        if link.config.watchdog_timeout_s is not None:
            self.heartbeat = SquidHeartbeat(link, link.config.watchdog_timeout_s)
            self.heartbeat.start()

    def _startup(self) -> None:
        link = self._link
        cfg = link.config
        link.send_unacknowledged(Opcode.RESET)
        link.closing.wait(cfg.reset_settle_s)
        link.transact(Opcode.INITIALIZE)
        link.closing.wait(cfg.reset_settle_s)
        self.configure_board()
        link.configured_generation = link.transport.generation
        for name in cfg.home_on_connect:
            self._commands.home_locked(STAGE_AXES[name], None)
        if cfg.filter_wheel.enabled:
            self._commands.init_wheel_locked(Axis.W if cfg.filter_wheel.axis == "w" else Axis.W2)
        if cfg.watchdog_timeout_s is not None:
            link.transact(Opcode.HEARTBEAT)

    def configure_board(self) -> None:
        """Everything the board must know; sent at start-up and after a reconnect."""
        transact = self._link.transact
        cfg = self._link.config
        for name, axis in STAGE_AXES.items():
            ax = cfg.axis(name)
            v_mm, a_mm = self._axes.speed_mm(axis)
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
            transact(Opcode.SET_LIM_SWITCH_POLARITY, uint8(axis) + uint8(polarity))
            transact(Opcode.SET_HOME_SAFETY_MARGIN, uint8(axis) + uint16(ax.home_safety_margin_um))
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
        transact(Opcode.SET_ILLUMINATION_INTENSITY_FACTOR, uint8(cfg.intensity_factor_percent))
        self._commands.illumination_off_locked()
        for axis in STAGE_AXES.values():
            bounds = self._axes.soft_limits_usteps(axis)
            if bounds is None:
                continue
            negative, positive = LIMIT_CODES[axis]
            transact(Opcode.SET_LIM, uint8(positive) + int32(bounds[1]))
            transact(Opcode.SET_LIM, uint8(negative) + int32(bounds[0]))
        trigger = cfg.trigger
        transact(Opcode.SET_TRIGGER_MODE, uint8(0 if trigger.mode == "edge" else 1))
        if trigger.strobe_delay_us is not None:
            transact(
                Opcode.SET_STROBE_DELAY,
                uint8(trigger.camera_channel) + uint32(trigger.strobe_delay_us),
            )
        if cfg.watchdog_timeout_s is not None:
            ms = max(1, round(cfg.watchdog_timeout_s * 1000))
            transact(Opcode.SET_WATCHDOG_TIMEOUT, uint32(ms))

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
        transact = self._link.transact
        transact(Opcode.SET_LEAD_SCREW_PITCH, uint8(axis) + uint16(round(pitch_mm * 1000)))
        transact(
            Opcode.CONFIGURE_STEPPER_DRIVER,
            uint8(axis)
            + uint8(255 if microstepping == 256 else microstepping)
            + uint16(rms_current_ma)
            + uint8(round(hold_fraction * 255)),
        )
        transact(
            Opcode.SET_MAX_VELOCITY_ACCELERATION,
            uint8(axis) + uint16(round(v_mm_s * 100)) + uint16(round(a_mm_s2 * 10)),
        )
