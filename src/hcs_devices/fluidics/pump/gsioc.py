"""GSIOC over RS-232: the link layer of Gilson (and Rainin) peristaltic pumps.

Raw bytes on the wire, never text-encoded:

* select a unit: one byte ``0x80 | unit_id``; the unit echoes it. ``0xFF``
  disconnects every unit.
* buffered command: ``LF`` + ASCII command + ``CR``, each byte echoed by the unit.
* immediate command: one ASCII byte; the unit answers one byte at a time, the host
  sends ``ACK`` after each, and the last byte has bit 7 set.

:class:`GsiocLink` does this with blocking calls on a :class:`SerialTransport`.
A model whose buffered framing differs (the Rainin RP-1 waits for the unit to
answer ``LF`` before it sends the command) overrides :meth:`GsiocLink.buffered`.
"""

from __future__ import annotations

import threading
import time

from hcs_devices.fluidics.errors import ProtocolError, SilentDeviceError
from hcs_devices.fluidics.transport import SerialTransport

ACK = 0x06
LF = 0x0A
CR = 0x0D
DISCONNECT = 0xFF

#: Longest immediate reply accepted before the link calls it garbage.
MAX_IMMEDIATE_REPLY = 64

#: Highest GSIOC unit id.
MAX_UNIT_ID = 63


def select_byte(unit_id: int) -> bytes:
    """The byte that selects unit ``unit_id`` (0..63); 30 gives ``0x9e``.

    Raises:
        ValueError: unit id outside 0..63.
    """
    if not 0 <= unit_id <= MAX_UNIT_ID:
        raise ValueError(f"unit_id {unit_id} is outside 0..{MAX_UNIT_ID}")
    return bytes([0x80 | unit_id])


def immediate_reply_done(reply: bytes) -> bool:
    """Whether an immediate reply is complete (its last byte has bit 7 set)."""
    return bool(reply) and reply[-1] >= 0x80


def decode_immediate(reply: bytes) -> str:
    """Turn a complete immediate reply into its text (bit 7 of the last byte cleared).

    Raises:
        ProtocolError: empty, not terminated, a byte with bit 7 before the end, or
            a control byte in the text.
    """
    if not immediate_reply_done(reply):
        raise ProtocolError(f"immediate reply {reply!r} does not end on a byte above 0x80")
    if any(b >= 0x80 for b in reply[:-1]):
        raise ProtocolError(f"immediate reply {reply!r} has bit 7 set before its last byte")
    text = bytes(reply[:-1]) + bytes([reply[-1] & 0x7F])
    if any(b < 0x20 or b == 0x7F for b in text):
        raise ProtocolError(f"immediate reply {reply!r} has control bytes")
    return text.decode("ascii")


def encode_buffered(command: str) -> bytes:
    """The bytes of a buffered command (``LF`` + command + ``CR``).

    Raises:
        ValueError: the command is not printable ASCII.
    """
    raw = command.encode("ascii")
    if not raw or any(b < 0x20 or b >= 0x7F for b in raw):
        raise ValueError(f"buffered command {command!r} must be printable ASCII")
    return bytes([LF]) + raw + bytes([CR])


class GsiocLink:
    """One GSIOC unit on a serial line (blocking).

    Args:
        transport: the serial port.
        unit_id: the unit's GSIOC id (0..63).
        reply_timeout_s: how long to wait for each byte of a reply or echo.
        name: what errors call the unit.
    """

    def __init__(
        self, transport: SerialTransport, unit_id: int, *, reply_timeout_s: float, name: str
    ) -> None:
        self.transport = transport
        self.unit_id = unit_id
        self.reply_timeout_s = reply_timeout_s
        self.name = name
        self._select = select_byte(unit_id)
        self._selected = False

    def _read_byte(self, asked: str) -> int:
        data = self.transport.read(1, self.reply_timeout_s)
        if not data:
            self._selected = False
            raise SilentDeviceError(
                f"{self.name}: no answer to {asked} within {self.reply_timeout_s} s"
            )
        return data[0]

    def _select_unit(self) -> None:
        self.transport.discard_input()
        self.transport.write(bytes([DISCONNECT]) + self._select)
        echo = self._read_byte(f"unit selection (byte {self._select[0]:#04x})")
        if echo != self._select[0]:
            self._selected = False
            raise ProtocolError(
                f"{self.name}: unit selection {self._select[0]:#04x} answered {echo:#04x}"
            )
        self._selected = True

    def connect(self) -> None:
        """Select the unit (disconnecting any other unit first).

        Raises:
            SilentDeviceError: the unit did not echo its selection byte.
            ProtocolError: something else answered.
        """
        with self.transport.locked():
            self._select_unit()

    def disconnect(self) -> None:
        """Disconnect every unit on the line (``0xFF``)."""
        with self.transport.locked():
            self.transport.write(bytes([DISCONNECT]))
            self._selected = False

    def immediate(self, command: str) -> str:
        """Send a one-character immediate command and return the decoded reply.

        Raises:
            SilentDeviceError: the unit stopped answering.
            ProtocolError: the reply is malformed.
        """
        raw = command.encode("ascii")
        if len(raw) != 1 or raw[0] >= 0x80:
            raise ValueError(f"immediate command {command!r} must be one ASCII character")
        asked = f"immediate command {command!r}"
        with self.transport.locked():
            if not self._selected:
                self._select_unit()
            self.transport.discard_input()
            self.transport.write(raw)
            reply = bytearray()
            while True:
                reply.append(self._read_byte(asked))
                if immediate_reply_done(bytes(reply)):
                    break
                if len(reply) >= MAX_IMMEDIATE_REPLY:
                    self._selected = False
                    raise ProtocolError(
                        f"{self.name}: {asked} answered {bytes(reply)!r}... with no end byte"
                    )
                self.transport.write(bytes([ACK]))
        try:
            return decode_immediate(bytes(reply))
        except ProtocolError as err:
            raise ProtocolError(f"{self.name}: {asked}: {err}") from None

    def buffered(self, command: str, *, act_at_s: float | None = None) -> float:
        """Send a buffered command, checking the echo of every byte.

        The unit acts on the closing CR. With ``act_at_s`` (a ``time.monotonic()``
        time) every byte but the CR goes out first and the CR is held until then, so
        the unit acts at that moment however long the echoes before it took.

        Returns:
            The ``time.monotonic()`` time at which the CR was written: when the unit
            acts.

        Raises:
            SilentDeviceError: a byte was not echoed.
            ProtocolError: a byte was echoed wrong.
        """
        frame = encode_buffered(command)
        asked = f"buffered command {command!r}"
        acted_at = 0.0
        with self.transport.locked():
            if not self._selected:
                self._select_unit()
            self.transport.discard_input()
            for index, byte in enumerate(frame):
                if index == len(frame) - 1:
                    if act_at_s is not None:
                        threading.Event().wait(max(0.0, act_at_s - time.monotonic()))
                    acted_at = time.monotonic()
                self.transport.write(bytes([byte]))
                echo = self._read_byte(asked)
                if echo != byte:
                    self._selected = False
                    raise ProtocolError(
                        f"{self.name}: {asked}: sent {byte:#04x}, echo was {echo:#04x}"
                    )
        return acted_at
