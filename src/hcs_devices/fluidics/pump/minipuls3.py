"""Gilson Minipuls 3 peristaltic pump: command codec and driver (GSIOC over RS-232).

Serial line: 19200 baud, 8 data bits, even parity, 1 stop bit (check the stop
bits against the manual of your unit). Default unit id 30.

Buffered commands: ``SR`` remote, ``SK`` keypad, ``K>`` run forward, ``K<`` run
reverse, ``Rdddd`` speed in 0.01 rpm (0..48.00 rpm, 0 stops).
Immediate commands: ``%`` identification, ``R`` display: first character ``' '``,
``'+'`` or ``'-'`` (stopped, forward, reverse), then the speed shown, last
character ``K`` or ``R`` (keypad or remote control).
"""

from __future__ import annotations

import re

from hcs_devices.fluidics.errors import FluidicsValueError, ProtocolError
from hcs_devices.fluidics.pump.base import FlowDirection, PumpStatus
from hcs_devices.fluidics.pump.gsioc import GsiocLink
from hcs_devices.fluidics.pump.ratings import GILSON_MINIPULS3
from hcs_devices.fluidics.transport import SerialSettings, SerialTransport

MAX_RPM = GILSON_MINIPULS3.max_rpm
DEFAULT_UNIT_ID = 30

_DISPLAY = re.compile(r"^([ +\-])(.*)([KR])$")


def minipuls3_serial_settings(port: str) -> SerialSettings:
    """The line settings of a Minipuls 3 on ``port`` (19200 baud, 8 data bits, even parity)."""
    return SerialSettings(port=port, baudrate=19200, bytesize=8, parity="E", stopbits=1)


def speed_command(rpm: float) -> str:
    """The buffered command that sets ``rpm`` (e.g. 12.5 rpm -> ``R1250``).

    Raises:
        FluidicsValueError: speed outside 0..48 rpm.
    """
    if not 0 <= rpm <= MAX_RPM:
        raise FluidicsValueError(f"speed_rpm {rpm} is outside 0..{MAX_RPM} rpm")
    return f"R{round(rpm * 100):04d}"


def start_command(direction: FlowDirection) -> str:
    """The buffered command that runs the pump in ``direction``."""
    return "K>" if direction is FlowDirection.FORWARD else "K<"


def parse_display(text: str) -> PumpStatus:
    """Parse the answer to the immediate ``R`` (display) command.

    Raises:
        ProtocolError: when it does not start with ``' '``/``'+'``/``'-'`` and end
            with ``K``/``R``.
    """
    match = _DISPLAY.match(text)
    if match is None:
        raise ProtocolError(
            f"display {text!r} should start with ' ', '+' or '-' and end with K or R"
        )
    sign, middle, mode = match.groups()
    direction = {
        "+": FlowDirection.FORWARD,
        "-": FlowDirection.REVERSE,
        " ": None,
    }[sign]
    try:
        speed: float | None = float(middle.strip()) if middle.strip() else None
    except ValueError:
        speed = None
    return PumpStatus(
        running=direction is not None,
        direction=direction,
        speed_rpm=speed,
        remote=mode == "R",
    )


def format_display(direction: FlowDirection | None, speed_rpm: float, remote: bool) -> str:
    """What the display shows (the emulator's answer to ``R``), e.g. ``"+12.50R"``."""
    sign = {FlowDirection.FORWARD: "+", FlowDirection.REVERSE: "-", None: " "}[direction]
    return f"{sign}{speed_rpm:05.2f}{'R' if remote else 'K'}"


class Minipuls3Driver:
    """A Gilson Minipuls 3 on a serial line (blocking).

    Args:
        transport: the serial port (see :func:`minipuls3_serial_settings`).
        unit_id: GSIOC unit id set on the pump (default 30).
        reply_timeout_s: how long to wait for each byte of a reply or echo.
        name: what errors call the pump.
    """

    model = "Gilson Minipuls 3"

    def __init__(
        self,
        transport: SerialTransport,
        *,
        unit_id: int = DEFAULT_UNIT_ID,
        reply_timeout_s: float = 0.5,
        name: str = "",
    ) -> None:
        self.transport = transport
        self._name = name or (f"{self.model} unit {unit_id} on {transport.settings.port}")
        self.link = GsiocLink(transport, unit_id, reply_timeout_s=reply_timeout_s, name=self._name)
        self.identification = ""

    @property
    def name(self) -> str:
        """What errors call the pump."""
        return self._name

    @property
    def max_rpm(self) -> float:
        """48 rpm."""
        return MAX_RPM

    def connect(self) -> None:
        """Select the unit, read its identification and switch it to remote control."""
        self.link.connect()
        self.identification = self.link.immediate("%")
        self.link.buffered("SR")

    def disconnect(self) -> None:
        """Stop, give control back to the keypad and release the line."""
        self.stop()
        self.link.buffered("SK")
        self.link.disconnect()

    def set_speed_rpm(self, rpm: float) -> None:
        """Set the speed (0..48 rpm; 0 stops)."""
        self.link.buffered(speed_command(rpm))

    def start(self, direction: FlowDirection) -> float:
        """Run in ``direction`` at the speed set; returns when the pump was told."""
        return self.link.buffered(start_command(direction))

    def stop(self, at_s: float | None = None) -> float:
        """Stop the rotor (speed 0) at ``at_s`` (``time.monotonic()``; None: now).

        Returns:
            When the pump was told to stop.
        """
        return self.link.buffered(speed_command(0.0), act_at_s=at_s)

    def status(self) -> PumpStatus:
        """Read the display: direction, speed and control mode."""
        text = self.link.immediate("R")
        try:
            return parse_display(text)
        except ProtocolError as err:
            raise ProtocolError(f"{self._name}: {err}") from None
