"""Errors raised by the fluidics drivers and devices.

Every message names the device (valve address, pump unit, serial port or device
name) and what was asked of it, so an operator reading a failed run knows which
valve or pump to look at.
"""

from __future__ import annotations


class FluidicsError(RuntimeError):
    """A fluidics device failed to do what it was asked."""


class SilentDeviceError(FluidicsError, TimeoutError):
    """A device did not answer within its reply timeout."""


class RefusedError(FluidicsError):
    """A device answered NAK (refused the command)."""


class ProtocolError(FluidicsError):
    """A device answered something the protocol does not allow."""


class ValveMoveError(FluidicsError):
    """A valve did not reach the port it was asked for."""


class PumpStoppedError(FluidicsError):
    """A pump stopped before it delivered what it was asked (overload, stall, stop)."""


class FluidicsValueError(ValueError):
    """A request is outside what the hardware allows; nothing was sent."""
