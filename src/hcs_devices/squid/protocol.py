"""The Squid microcontroller wire protocol: packets, opcodes and the status stream parser.

Pure functions and small value objects, no I/O: the driver and the emulator both use
this module, so they agree on every byte. The protocol itself is described in
``/work/shared/spec/squid-microcontroller-protocol.md``:

* host to board: 8-byte command packets (id, opcode, 5 payload bytes, CRC-8);
* board to host: 24-byte status packets sent unsolicited every 10 ms;
* both checked with CRC-8/SMBUS (polynomial 0x07, initial value 0, no reflection).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

COMMAND_LENGTH = 8
"""Bytes in a command packet (host to board)."""

STATUS_LENGTH = 24
"""Bytes in a status packet (board to host)."""

PAYLOAD_LENGTH = 5
"""Payload bytes in a command packet (bytes 2..6)."""

FIRMWARE_VERSION = 0x14
"""Firmware version byte of current boards (high nibble major, low nibble minor: v1.4)."""


class Opcode(IntEnum):
    """Command opcodes (byte 1 of a command packet)."""

    MOVE_X = 0
    MOVE_Y = 1
    MOVE_Z = 2
    MOVE_W = 4
    HOME_OR_ZERO = 5
    MOVETO_X = 6
    MOVETO_Y = 7
    MOVETO_Z = 8
    SET_LIM = 9
    TURN_ON_ILLUMINATION = 10
    TURN_OFF_ILLUMINATION = 11
    SET_ILLUMINATION = 12
    SET_ILLUMINATION_LED_MATRIX = 13
    ACK_JOYSTICK_BUTTON_PRESSED = 14
    ANALOG_WRITE_ONBOARD_DAC = 15
    SET_ILLUMINATION_INTENSITY_FACTOR = 17
    MOVETO_W = 18
    MOVE_W2 = 19
    SET_LIM_SWITCH_POLARITY = 20
    CONFIGURE_STEPPER_DRIVER = 21
    SET_MAX_VELOCITY_ACCELERATION = 22
    SET_LEAD_SCREW_PITCH = 23
    SET_HOME_SAFETY_MARGIN = 28
    SEND_HARDWARE_TRIGGER = 30
    SET_STROBE_DELAY = 31
    SET_AXIS_DISABLE_ENABLE = 32
    SET_TRIGGER_MODE = 33
    SET_PORT_INTENSITY = 34
    TURN_ON_PORT = 35
    TURN_OFF_PORT = 36
    SET_PORT_ILLUMINATION = 37
    SET_MULTI_PORT_MASK = 38
    TURN_OFF_ALL_PORTS = 39
    SET_WATCHDOG_TIMEOUT = 40
    SET_PIN_LEVEL = 41
    HEARTBEAT = 42
    MOVETO_W2 = 43
    INITFILTERWHEEL_W2 = 252
    INITFILTERWHEEL = 253
    INITIALIZE = 254
    RESET = 255


RELATIVE_MOVES = frozenset(
    {Opcode.MOVE_X, Opcode.MOVE_Y, Opcode.MOVE_Z, Opcode.MOVE_W, Opcode.MOVE_W2}
)
"""Opcodes that move by a distance: a resend of one of them may move twice."""

ABSOLUTE_MOVES = frozenset(
    {Opcode.MOVETO_X, Opcode.MOVETO_Y, Opcode.MOVETO_Z, Opcode.MOVETO_W, Opcode.MOVETO_W2}
)
"""Opcodes that move to a position: resending them is harmless."""


class Axis(IntEnum):
    """Protocol axis numbers."""

    X = 0
    Y = 1
    Z = 2
    THETA = 3
    XY = 4
    W = 5
    W2 = 6


class CommandStatus(IntEnum):
    """Byte 1 of a status packet: the state of the last received command."""

    COMPLETED = 0
    IN_PROGRESS = 1
    CHECKSUM_ERROR = 2
    EXECUTION_ERROR = 4


class HomeDirection(IntEnum):
    """Byte 3 (and 4 for XY) of HOME_OR_ZERO."""

    POSITIVE = 0
    NEGATIVE = 1
    ZERO = 2


class LimitCode(IntEnum):
    """Byte 2 of SET_LIM: which soft limit."""

    X_POSITIVE = 0
    X_NEGATIVE = 1
    Y_POSITIVE = 2
    Y_NEGATIVE = 3
    Z_POSITIVE = 4
    Z_NEGATIVE = 5


class LimitSwitchPolarity(IntEnum):
    """Byte 3 of SET_LIM_SWITCH_POLARITY."""

    ACTIVE_LOW = 0
    ACTIVE_HIGH = 1
    DISABLED = 2


MOVE_OPCODES: dict[Axis, Opcode] = {
    Axis.X: Opcode.MOVE_X,
    Axis.Y: Opcode.MOVE_Y,
    Axis.Z: Opcode.MOVE_Z,
    Axis.W: Opcode.MOVE_W,
    Axis.W2: Opcode.MOVE_W2,
}
"""Relative move opcode of each axis."""

MOVETO_OPCODES: dict[Axis, Opcode] = {
    Axis.X: Opcode.MOVETO_X,
    Axis.Y: Opcode.MOVETO_Y,
    Axis.Z: Opcode.MOVETO_Z,
    Axis.W: Opcode.MOVETO_W,
    Axis.W2: Opcode.MOVETO_W2,
}
"""Absolute move opcode of each axis."""

LIMIT_CODES: dict[Axis, tuple[LimitCode, LimitCode]] = {
    Axis.X: (LimitCode.X_NEGATIVE, LimitCode.X_POSITIVE),
    Axis.Y: (LimitCode.Y_NEGATIVE, LimitCode.Y_POSITIVE),
    Axis.Z: (LimitCode.Z_NEGATIVE, LimitCode.Z_POSITIVE),
}
"""(negative, positive) soft limit codes of each stage axis."""


# --------------------------------------------------------------------------- CRC


def _crc8_table(poly: int) -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8_TABLE = _crc8_table(0x07)


def crc8(data: bytes | bytearray | memoryview) -> int:
    """CRC-8/SMBUS of ``data`` (polynomial 0x07, initial 0, no reflection, no final XOR).

    Args:
        data: the bytes to check.

    Returns:
        The checksum, 0..255. ``crc8(b"123456789") == 0xF4``.
    """
    crc = 0
    table = _CRC8_TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc


# ------------------------------------------------------------------ payload helpers


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def int32(value: int) -> bytes:
    """Big-endian two's-complement int32.

    Raises:
        ValueError: when ``value`` does not fit.
    """
    _check_range("int32 value", value, -(2**31), 2**31 - 1)
    return struct.pack(">i", value)


def uint32(value: int) -> bytes:
    """Big-endian uint32.

    Raises:
        ValueError: when ``value`` does not fit.
    """
    _check_range("uint32 value", value, 0, 2**32 - 1)
    return struct.pack(">I", value)


def uint16(value: int) -> bytes:
    """Big-endian uint16.

    Raises:
        ValueError: when ``value`` does not fit.
    """
    _check_range("uint16 value", value, 0, 0xFFFF)
    return struct.pack(">H", value)


def uint8(value: int) -> bytes:
    """One unsigned byte.

    Raises:
        ValueError: when ``value`` does not fit.
    """
    _check_range("byte value", value, 0, 0xFF)
    return bytes((value,))


def read_int32(payload: bytes, offset: int = 0) -> int:
    """Big-endian int32 at ``offset`` of ``payload``."""
    return struct.unpack_from(">i", payload, offset)[0]


def read_uint32(payload: bytes, offset: int = 0) -> int:
    """Big-endian uint32 at ``offset`` of ``payload``."""
    return struct.unpack_from(">I", payload, offset)[0]


def read_uint16(payload: bytes, offset: int = 0) -> int:
    """Big-endian uint16 at ``offset`` of ``payload``."""
    return struct.unpack_from(">H", payload, offset)[0]


def percent_to_uint16(percent: float) -> int:
    """Intensity in percent (0..100) as the board's uint16 (percent / 100 x 65535, truncated).

    Raises:
        ValueError: when ``percent`` is outside 0..100.
    """
    if not 0.0 <= percent <= 100.0:
        raise ValueError(f"intensity must be in 0..100 %, got {percent}")
    return int(percent / 100.0 * 0xFFFF)


# ------------------------------------------------------------------ command packet


def opcode_name(opcode: int) -> str:
    """The opcode's name, or ``OPCODE_<n>`` for one this module does not know."""
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"OPCODE_{opcode}"


@dataclass(frozen=True, slots=True)
class Command:
    """One command packet.

    Attributes:
        command_id: host counter 1..255 (0 only from a board that was just reset).
        opcode: what to do (an :class:`Opcode` or an unknown code 0..255).
        payload: bytes 2..6, exactly 5 bytes (shorter payloads are zero-padded by
            :meth:`build`).
    """

    command_id: int
    opcode: int
    payload: bytes = bytes(PAYLOAD_LENGTH)

    def __post_init__(self) -> None:
        _check_range("command id", self.command_id, 0, 255)
        _check_range("opcode", self.opcode, 0, 255)
        if len(self.payload) != PAYLOAD_LENGTH:
            raise ValueError(f"payload must be {PAYLOAD_LENGTH} bytes, got {len(self.payload)}")

    @classmethod
    def build(cls, command_id: int, opcode: int, payload: bytes = b"") -> Command:
        """A command with ``payload`` zero-padded to 5 bytes.

        Raises:
            ValueError: when the payload is longer than 5 bytes or a field is out of range.
        """
        if len(payload) > PAYLOAD_LENGTH:
            raise ValueError(f"payload must be at most {PAYLOAD_LENGTH} bytes, got {len(payload)}")
        return cls(command_id, int(opcode), bytes(payload).ljust(PAYLOAD_LENGTH, b"\0"))

    @property
    def name(self) -> str:
        """Opcode name and id, for messages: ``MOVETO_X (id 7)``."""
        return f"{opcode_name(self.opcode)} (id {self.command_id})"

    def encode(self) -> bytes:
        """The 8 bytes on the wire, CRC included."""
        body = bytes((self.command_id, self.opcode)) + self.payload
        return body + bytes((crc8(body),))

    def with_id(self, command_id: int) -> Command:
        """The same command under another id."""
        return Command(command_id, self.opcode, self.payload)


def decode_command(packet: bytes) -> Command:
    """Decode an 8-byte command packet.

    Raises:
        ValueError: when the length or the CRC is wrong.
    """
    if len(packet) != COMMAND_LENGTH:
        raise ValueError(f"a command packet is {COMMAND_LENGTH} bytes, got {len(packet)}")
    crc = crc8(packet[:7])
    if crc != packet[7]:
        raise ValueError(
            f"command CRC mismatch: computed 0x{crc:02x}, packet has 0x{packet[7]:02x}"
        )
    return Command(packet[0], packet[1], bytes(packet[2:7]))


# ------------------------------------------------------------------- status packet

_STATUS_STRUCT = struct.Struct(">BBiiiiB3xB")


@dataclass(frozen=True, slots=True)
class Status:
    """One status packet.

    Attributes:
        command_id: id of the last command the board received.
        status: state of that command (see :class:`CommandStatus`; other values are kept).
        x_usteps: X position in microsteps.
        y_usteps: Y position in microsteps.
        z_usteps: Z position in microsteps.
        theta_usteps: theta position (zero on these boards).
        button_pressed: joystick button bit.
        firmware_version: byte 22 (0x14 = v1.4).
    """

    command_id: int
    status: int
    x_usteps: int
    y_usteps: int
    z_usteps: int
    theta_usteps: int = 0
    button_pressed: bool = False
    firmware_version: int = FIRMWARE_VERSION

    def encode(self, *, legacy_crc: bool = False) -> bytes:
        """The 24 bytes on the wire.

        Args:
            legacy_crc: send CRC byte 0, as legacy boards do.
        """
        body = _STATUS_STRUCT.pack(
            self.command_id,
            self.status,
            self.x_usteps,
            self.y_usteps,
            self.z_usteps,
            self.theta_usteps,
            1 if self.button_pressed else 0,
            self.firmware_version,
        )
        return body + bytes((0 if legacy_crc else crc8(body),))

    def position(self, axis: Axis) -> int:
        """Position of a stage axis in microsteps.

        Raises:
            ValueError: for an axis the status packet does not report.
        """
        if axis is Axis.X:
            return self.x_usteps
        if axis is Axis.Y:
            return self.y_usteps
        if axis is Axis.Z:
            return self.z_usteps
        if axis is Axis.THETA:
            return self.theta_usteps
        raise ValueError(f"the status packet does not report axis {axis.name}")


def _unpack_status(packet: bytes | bytearray | memoryview) -> Status:
    cid, status, x, y, z, theta, buttons, version = _STATUS_STRUCT.unpack_from(packet)
    return Status(cid, status, x, y, z, theta, bool(buttons & 1), version)


def _plausible_legacy(packet: bytes | bytearray | memoryview) -> bool:
    # A legacy packet has no CRC; accept it only when its fixed fields look right.
    return (
        packet[1] in _KNOWN_STATUS
        and packet[14] == packet[15] == packet[16] == packet[17] == 0
        and packet[19] == packet[20] == packet[21] == 0
        and packet[22] != 0
    )


_KNOWN_STATUS = frozenset(int(s) for s in CommandStatus)
_KNOWN_STATUS_BYTES = frozenset(range(5))  # 0..4 (3 is "invalid command" on some firmware)


def decode_status(packet: bytes, *, accept_zero_crc: bool = True) -> Status:
    """Decode a 24-byte status packet.

    Args:
        packet: exactly 24 bytes.
        accept_zero_crc: accept CRC byte 0 from legacy boards that do not compute it.

    Raises:
        ValueError: when the length or the CRC is wrong.
    """
    if len(packet) != STATUS_LENGTH:
        raise ValueError(f"a status packet is {STATUS_LENGTH} bytes, got {len(packet)}")
    crc = crc8(packet[:23])
    if crc != packet[23] and not (accept_zero_crc and packet[23] == 0):
        raise ValueError(
            f"status CRC mismatch: computed 0x{crc:02x}, packet has 0x{packet[23]:02x}"
        )
    return _unpack_status(packet)


# ------------------------------------------------------------------- stream parser


class StatusStreamParser:
    """Finds status packets in a byte stream, re-synchronising on the CRC.

    Bytes are fed as they arrive, in chunks of any size. The parser slides one byte
    at a time until a 24-byte window is a packet, then takes whole packets. It never
    raises on garbage.

    A window is a packet when its CRC matches, its status byte is a known state (0..4)
    and, once three packets in a row agreed on it, its firmware version byte is the
    board's. The last two checks cut the chance that garbage passes for a packet while
    re-synchronising from 1/256 (a CRC-8 alone) to about 1 in 3 million per window.

    Legacy boards send CRC byte 0. In ``"auto"`` mode such packets are accepted
    (when their fixed fields look right) until the first packet with a real, non-zero
    CRC is seen; from then on only real CRCs are accepted.

    Args:
        crc_mode: ``"auto"`` (the default), ``"strict"`` (real CRCs only) or
            ``"legacy"`` (always accept CRC 0 packets that look right).
    """

    _VERSION_LOCK_AFTER = 3

    def __init__(self, crc_mode: str = "auto") -> None:
        if crc_mode not in ("auto", "strict", "legacy"):
            raise ValueError(f"crc_mode must be 'auto', 'strict' or 'legacy', got {crc_mode!r}")
        self._mode = crc_mode
        self._seen_real_crc = False
        self._buffer = bytearray()
        self._version: int | None = None
        self._version_candidate = -1
        self._version_votes = 0
        self.packets = 0
        """Packets found so far."""
        self.discarded_bytes = 0
        """Bytes skipped while re-synchronising."""

    @property
    def accepts_zero_crc(self) -> bool:
        """Whether a packet with CRC byte 0 (and a different computed CRC) is accepted now."""
        if self._mode == "legacy":
            return True
        if self._mode == "strict":
            return False
        return not self._seen_real_crc

    @property
    def firmware_version(self) -> int | None:
        """The board's firmware version byte, once three packets agreed on it."""
        return self._version

    def feed(self, data: bytes | bytearray | memoryview) -> list[Status]:
        """Add received bytes; return the status packets completed by them, in order."""
        buffer = self._buffer
        buffer += data
        found: list[Status] = []
        start = 0
        end = len(buffer)
        table = _CRC8_TABLE
        while end - start >= STATUS_LENGTH:
            window = buffer[start : start + STATUS_LENGTH]
            ok = window[1] in _KNOWN_STATUS_BYTES and (
                self._version is None or window[22] == self._version
            )
            if ok:
                crc = 0
                for i in range(23):
                    crc = table[crc ^ window[i]]
                sent = window[23]
                if crc == sent:
                    if sent != 0:
                        self._seen_real_crc = True
                elif not (sent == 0 and self.accepts_zero_crc and _plausible_legacy(window)):
                    ok = False
            if ok:
                found.append(_unpack_status(window))
                self._vote_version(window[22])
                start += STATUS_LENGTH
            else:
                start += 1
                self.discarded_bytes += 1
        if start:
            del buffer[:start]
        self.packets += len(found)
        return found

    def _vote_version(self, version: int) -> None:
        if self._version is not None:
            return
        if version == self._version_candidate:
            self._version_votes += 1
        else:
            self._version_candidate, self._version_votes = version, 1
        if self._version_votes >= self._VERSION_LOCK_AFTER:
            self._version = version

    def reset(self) -> None:
        """Forget buffered bytes and the firmware version (after re-opening the port)."""
        self._buffer.clear()
        self._version = None
        self._version_candidate = -1
        self._version_votes = 0
