"""What every peristaltic pump driver offers, whatever its wire protocol.

A driver is blocking (it does serial I/O); the pump backend runs it in its
transport's worker thread. Adding a pump model means one module with its command
codec and a class satisfying :class:`PeristalticPumpDriver`, registered in
:mod:`hcs_devices.fluidics.pump.kinds`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class FlowDirection(enum.Enum):
    """Which way the pump head turns."""

    FORWARD = "forward"
    REVERSE = "reverse"


@dataclass(frozen=True)
class PumpStatus:
    """What a pump reports about itself.

    Attributes:
        running: whether the rotor turns.
        direction: the direction shown (None when stopped or not reported).
        speed_rpm: the speed shown, in revolutions per minute (None if not reported).
        remote: whether the pump takes commands from the serial line (not the keypad).
    """

    running: bool
    direction: FlowDirection | None
    speed_rpm: float | None
    remote: bool


class PeristalticPumpDriver(Protocol):
    """A pump on a serial line (blocking calls)."""

    @property
    def name(self) -> str:
        """What errors call the pump (model, unit id and port)."""
        ...

    @property
    def max_rpm(self) -> float:
        """The highest speed the model accepts, in rpm."""
        ...

    def connect(self) -> None:
        """Select the pump on the line and put it in remote mode."""
        ...

    def disconnect(self) -> None:
        """Give the pump back to its keypad and release the line."""
        ...

    def set_speed_rpm(self, rpm: float) -> None:
        """Set the rotor speed (0 stops the pump)."""
        ...

    def start(self, direction: FlowDirection) -> float:
        """Start turning in ``direction`` at the speed set.

        Returns:
            The ``time.monotonic()`` time at which the pump was told to turn.
        """
        ...

    def stop(self, at_s: float | None = None) -> float:
        """Stop the rotor at ``at_s`` (``time.monotonic()``; None or past: now).

        Returns:
            The ``time.monotonic()`` time at which the pump was told to stop.
        """
        ...

    def status(self) -> PumpStatus:
        """Read what the pump reports."""
        ...
