"""The Hamilton MVP daisy-chain wire protocol: encoding commands, parsing replies.

Pure functions on bytes, shared by the driver and the emulator. Serial line:
9600 baud, 7 data bits, odd parity, 1 stop bit; commands are ASCII ending in CR.
A valve echoes the command (without the CR), then answers ACK followed by any
query data, or NAK, then CR.

Status bytes ``E1``..``E3``: the fact sheet lists busy, syntax error, not
initialised and overload bits without positions. This module (and the emulator)
read them from ``E1`` as bit 0 busy, bit 1 syntax error, bit 2 not initialised,
bit 3 overload, on top of 0x40 so the byte stays printable; ``E2`` and ``E3`` are
kept raw. Check the positions against the manual of a real unit.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from hcs_devices.fluidics.errors import ProtocolError

ACK = 0x06
NAK = 0x15
CR = 0x0D

#: Serial line settings of an MVP chain.
BAUDRATE = 9600
BYTESIZE = 7
PARITY = "O"
STOPBITS = 1

#: At most 16 valves in one chain, addressed ``a``..``p``.
MAX_VALVES = 16

#: ``LQT`` answer -> number of ports.
VALVE_TYPE_PORTS: dict[int, int] = {2: 8, 3: 6, 4: 3, 5: 2, 6: 2, 7: 4}

#: ``LQT`` answer -> human description.
VALVE_TYPE_NAMES: dict[int, str] = {
    2: "8 ports",
    3: "6 ports",
    4: "3 ports",
    5: "2 ports at 180 degrees",
    6: "2 ports at 90 degrees",
    7: "4 ports",
}

#: Port counts a valve can have.
ALLOWED_PORT_COUNTS: frozenset[int] = frozenset(VALVE_TYPE_PORTS.values())

STATUS_BUSY = 0x01
STATUS_SYNTAX_ERROR = 0x02
STATUS_NOT_INITIALISED = 0x04
STATUS_OVERLOAD = 0x08


class Rotation(enum.IntEnum):
    """Direction of a move: the digit after ``LP`` in the move command."""

    CLOCKWISE = 0
    COUNTER_CLOCKWISE = 1


class MoveState(enum.Enum):
    """Answer to ``F`` (movement finished?)."""

    DONE = "Y"
    NOT_EXECUTED = "N"
    BUSY = "*"


def address_letter(index: int) -> str:
    """The address letter of the valve at 1-based chain position ``index``.

    Raises:
        ValueError: outside 1..16.
    """
    if not 1 <= index <= MAX_VALVES:
        raise ValueError(f"valve index {index} is outside 1..{MAX_VALVES}")
    return chr(ord("a") + index - 1)


def encode(address: str, command: str) -> bytes:
    """The bytes of one addressed command: address, command, CR (``aLQP`` + 0x0D)."""
    return (address + command).encode("ascii") + bytes([CR])


def move_command(port: int, rotation: Rotation) -> str:
    """The command that moves to ``port`` (1-based) turning in ``rotation``."""
    if port < 1:
        raise ValueError(f"port {port} must be 1 or more")
    return f"LP{int(rotation)}{port}R"


def ports_clockwise(current: int, target: int, n_ports: int) -> int:
    """How many port steps a clockwise move (increasing port number) takes."""
    return (target - current) % n_ports


def shortest_rotation(current: int, target: int, n_ports: int) -> Rotation:
    """The direction that reaches ``target`` from ``current`` in fewer port steps.

    Clockwise means increasing port number; ties and an unknown current port
    (0, between ports) go clockwise.
    """
    if current < 1:
        return Rotation.CLOCKWISE
    clockwise = ports_clockwise(current, target, n_ports)
    return Rotation.CLOCKWISE if clockwise <= n_ports - clockwise else Rotation.COUNTER_CLOCKWISE


@dataclass(frozen=True)
class MvpReply:
    """One parsed reply.

    Attributes:
        echo: the echoed command (without CR).
        acknowledged: True for ACK, False for NAK.
        data: query data after the ACK (empty for NAK and for plain commands).
    """

    echo: bytes
    acknowledged: bool
    data: bytes


def parse_reply(raw: bytes, command: bytes) -> MvpReply:
    """Parse the reply to ``command`` (its bytes without CR).

    Args:
        raw: the bytes read, normally ending in CR.
        command: the command sent, without its CR, which the valve echoes.

    Raises:
        ProtocolError: when the reply is incomplete or malformed.
    """
    if not raw.endswith(bytes([CR])):
        raise ProtocolError(f"incomplete reply {raw!r} (no CR)")
    body = raw[:-1]
    if not body.startswith(command):
        raise ProtocolError(f"reply {raw!r} does not echo the command {command!r}")
    rest = body[len(command) :]
    if not rest:
        raise ProtocolError(f"reply {raw!r} has neither ACK nor NAK")
    marker, data = rest[0], rest[1:]
    if marker == NAK:
        if data:
            raise ProtocolError(f"reply {raw!r} has data after NAK")
        return MvpReply(echo=command, acknowledged=False, data=b"")
    if marker != ACK:
        raise ProtocolError(f"reply {raw!r} has byte {marker:#04x} where ACK or NAK belongs")
    if bytes([CR]) in data or bytes([ACK]) in data or bytes([NAK]) in data:
        raise ProtocolError(f"reply {raw!r} has control bytes in its data")
    return MvpReply(echo=command, acknowledged=True, data=data)


@dataclass(frozen=True)
class AutoAddressReply:
    """Answer to ``1a``.

    Attributes:
        next_free: the next free address letter the chain passed back (``None``
            when the chain was already addressed and only acknowledged).
        already_addressed: whether the chain acknowledged an earlier addressing.
    """

    next_free: str | None
    already_addressed: bool

    @property
    def valves_addressed(self) -> int | None:
        """How many valves took an address (``None`` if the chain did not say)."""
        if self.next_free is None:
            return None
        return ord(self.next_free) - ord("a")


_AUTO_ADDRESS = re.compile(rb"1([a-q])")


def parse_auto_address(raw: bytes) -> AutoAddressReply:
    """Parse what the chain answers to ``1a``.

    A fresh chain passes back ``1`` and the next free letter (``1c`` after two
    valves); an already addressed chain acknowledges (ACK).

    Raises:
        ProtocolError: when the answer is neither.
    """
    ack = bytes([ACK]) in raw
    match = _AUTO_ADDRESS.search(raw)
    next_free: str | None = None
    if match is not None and not (ack and match.group(1) == b"a"):
        next_free = match.group(1).decode("ascii")
    if next_free is None and not ack:
        raise ProtocolError(f"unexpected answer {raw!r} to auto-addressing (1a)")
    return AutoAddressReply(next_free=next_free, already_addressed=ack)


def parse_port(data: bytes) -> int:
    """Parse the ``LQP`` answer: the port number, 0 when between ports.

    Raises:
        ProtocolError: when the data is not a number.
    """
    if not data or not data.isdigit() or len(data) > 2:
        raise ProtocolError(f"port query answered {data!r}, not a port number")
    return int(data)


def parse_valve_type(data: bytes) -> int:
    """Parse the ``LQT`` answer into the number of ports.

    Raises:
        ProtocolError: when the type is not one the protocol defines.
    """
    if len(data) != 1 or not data.isdigit() or int(data) not in VALVE_TYPE_PORTS:
        known = ", ".join(f"{k} ({v})" for k, v in VALVE_TYPE_NAMES.items())
        raise ProtocolError(f"valve type query answered {data!r}; known types: {known}")
    return VALVE_TYPE_PORTS[int(data)]


def parse_move_state(data: bytes) -> MoveState:
    """Parse the ``F`` answer.

    Raises:
        ProtocolError: for anything but ``Y``, ``N`` or ``*``.
    """
    try:
        return MoveState(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError(f"movement query answered {data!r}, expected Y, N or *") from None


def parse_yes_no(data: bytes) -> bool | None:
    """Parse a ``Y`` / ``N`` / ``*`` answer (``G`` overload): True, False, None when busy.

    Raises:
        ProtocolError: for anything else.
    """
    if data == b"Y":
        return True
    if data == b"N":
        return False
    if data == b"*":
        return None
    raise ProtocolError(f"answered {data!r}, expected Y, N or *")


def parse_status_byte(data: bytes) -> int:
    """Parse one ``E1``/``E2``/``E3`` answer into its byte value.

    Raises:
        ProtocolError: unless the data is exactly one byte.
    """
    if len(data) != 1:
        raise ProtocolError(f"status query answered {data!r}, expected one byte")
    return data[0]


@dataclass(frozen=True)
class ValveStatus:
    """The decoded status bytes of one valve."""

    e1: int
    e2: int
    e3: int

    @property
    def busy(self) -> bool:
        """The drive is moving."""
        return bool(self.e1 & STATUS_BUSY)

    @property
    def syntax_error(self) -> bool:
        """The last command was not understood."""
        return bool(self.e1 & STATUS_SYNTAX_ERROR)

    @property
    def not_initialised(self) -> bool:
        """The drive needs ``LXR`` before it moves."""
        return bool(self.e1 & STATUS_NOT_INITIALISED)

    @property
    def overload(self) -> bool:
        """The drive stalled (blocked rotor)."""
        return bool(self.e1 & STATUS_OVERLOAD)

    def describe(self) -> str:
        """The set flags in words, e.g. ``"overload, not initialised"`` or ``"ok"``."""
        flags = [
            word
            for flag, word in (
                (self.busy, "busy"),
                (self.syntax_error, "syntax error"),
                (self.not_initialised, "not initialised"),
                (self.overload, "overload"),
            )
            if flag
        ]
        raw = f"E1={self.e1:#04x} E2={self.e2:#04x} E3={self.e3:#04x}"
        return f"{', '.join(flags) or 'ok'} ({raw})"
