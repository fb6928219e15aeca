"""Errors raised by the Squid driver; each names the command it concerns."""

from __future__ import annotations


class SquidError(Exception):
    """Something went wrong talking to a Squid board.

    Attributes:
        command: the command concerned, as ``OPCODE_NAME (id N)``, or ``""``.
    """

    def __init__(self, message: str, *, command: str = "") -> None:
        super().__init__(message)
        self.command = command


class SquidConnectionError(SquidError, ConnectionError):
    """The serial port could not be opened, or vanished and did not come back."""


class SquidCommandError(SquidError):
    """The board refused a command (status 4: execution error; nothing moved)."""


class SquidTimeoutError(SquidError, TimeoutError):
    """A command got no reply, or a move did not arrive, in time."""


class SquidMoveStoppedError(SquidError):
    """A move was interrupted by :meth:`SquidDriver.stop` before it arrived."""
