"""An emulated Hamilton MVP daisy chain, speaking the wire protocol on a pseudo-terminal.

:class:`MvpChainEmulator` implements the ``WireDevice`` protocol of
:mod:`hcs_devices.serial.pty_server`. Valves rotate in real time (scaled by a
speed factor so tests stay fast) and answer ``F`` with ``*`` while they rotate.
Faults can be switched on per valve (:class:`ValveFault`), and the state of every
valve is readable for tests (:meth:`MvpChainEmulator.valve`).

Movement model: a valve turns ``seconds_per_port`` per port step (divided by the
speed factor); clockwise (``LP0``) increases the port number. ``LQP`` answers the
port when the valve rests on one and ``0`` otherwise.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hcs_devices.fluidics.mvp import protocol as mvp
from hcs_devices.serial.pty_server import SendBytes

_PORTS_TO_TYPE = {8: 2, 6: 3, 3: 4, 2: 5, 4: 7}


class ValveFault(enum.Enum):
    """A fault to emulate on one valve."""

    NONE = "none"
    #: the valve answers nothing at all (dead, unplugged downstream).
    SILENT = "silent"
    #: the valve refuses every move command with NAK.
    NAK = "nak"
    #: the rotor blocks halfway to the next port: the drive reports done after the
    #: nominal time, the overload flag is set and ``LQP`` answers 0 (between ports).
    STUCK = "stuck"


@dataclass
class EmulatedValve:
    """State of one emulated valve (read it in tests; change it only via the emulator).

    Attributes:
        n_ports: number of ports.
        address: address letter once the chain is addressed.
        initialised: whether ``LXR`` has completed.
        position: rotor position in port steps from port 1 (0.0 is port 1).
        fault: the fault being emulated.
        overload: the drive's overload flag.
        syntax_error: the last command was not understood.
        moves: every target port a move command was accepted for, in order.
    """

    n_ports: int
    address: str | None = None
    initialised: bool = False
    position: float = 0.0
    fault: ValveFault = ValveFault.NONE
    overload: bool = False
    syntax_error: bool = False
    moves: list[int] = field(default_factory=list)
    # motion in progress: start/end position (steps) and times
    _start_pos: float = 0.0
    _end_pos: float = 0.0
    _t_start: float = 0.0
    _t_end: float = 0.0
    _moving: bool = False
    _initialising: bool = False

    @property
    def port(self) -> int:
        """The port the rotor rests on, or 0 between ports (or while moving)."""
        if self._moving:
            return 0
        nearest = round(self.position)
        if not math.isclose(self.position, nearest, abs_tol=1e-6):
            return 0
        return nearest % self.n_ports + 1

    @property
    def busy(self) -> bool:
        """Whether the rotor is turning."""
        return self._moving


class MvpChainEmulator:
    """A daisy chain of MVP valves behind one serial port.

    Args:
        ports_per_valve: the number of ports of each valve, in chain order
            (each 2, 3, 4, 6 or 8).
        seconds_per_port: rotation time per port step at speed factor 1.
        init_s: time an initialisation (``LXR``) takes at speed factor 1.
        speed_factor: divides every duration (100 makes a 0.25 s move take 2.5 ms).
        clock: monotonic clock in seconds (for tests that control time).
    """

    def __init__(
        self,
        ports_per_valve: Sequence[int],
        *,
        seconds_per_port: float = 0.25,
        init_s: float = 1.5,
        speed_factor: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ports_per_valve or len(ports_per_valve) > mvp.MAX_VALVES:
            raise ValueError(f"ports_per_valve must list 1..{mvp.MAX_VALVES} valves")
        for n in ports_per_valve:
            if n not in mvp.ALLOWED_PORT_COUNTS:
                raise ValueError(
                    f"ports_per_valve: {n} is not one of {sorted(mvp.ALLOWED_PORT_COUNTS)}"
                )
        if speed_factor <= 0:
            raise ValueError(f"speed_factor must be > 0, got {speed_factor}")
        self.seconds_per_port = seconds_per_port
        self.init_s = init_s
        self.speed_factor = speed_factor
        self._clock = clock
        self._valves = [EmulatedValve(n_ports=n) for n in ports_per_valve]
        self._lock = threading.Lock()
        self._send: SendBytes | None = None
        self._buffer = bytearray()
        self._received = bytearray()
        self._commands: list[bytes] = []
        #: when True nothing in the chain answers (power off, cable out).
        self.chain_silent = False

    # -- WireDevice ---------------------------------------------------------------------

    def attach(self, send: SendBytes) -> None:
        """Receive the function that sends bytes to the host."""
        self._send = send

    def receive(self, data: bytes) -> None:
        """Bytes from the host: commands are processed at each CR."""
        replies: list[bytes] = []
        with self._lock:
            self._received += data
            for byte in data:
                if byte == mvp.CR:
                    command = bytes(self._buffer)
                    self._buffer.clear()
                    self._commands.append(command)
                    reply = self._handle(command)
                    if reply:
                        replies.append(reply)
                elif len(self._buffer) < 64:
                    self._buffer.append(byte)
        send = self._send
        if send is not None:
            for reply in replies:
                send(reply)

    # -- state for tests ----------------------------------------------------------------

    @property
    def received(self) -> bytes:
        """Every byte received from the host since the last :meth:`clear_log`."""
        with self._lock:
            return bytes(self._received)

    @property
    def commands(self) -> list[bytes]:
        """Every complete command (without CR) since the last :meth:`clear_log`."""
        with self._lock:
            return list(self._commands)

    def clear_log(self) -> None:
        """Forget the bytes and commands received so far."""
        with self._lock:
            self._received.clear()
            self._commands.clear()

    def valve(self, index: int) -> EmulatedValve:
        """The state of valve ``index`` (1-based), brought up to date."""
        with self._lock:
            valve = self._valves[index - 1]
            self._update(valve)
            return valve

    @property
    def ports(self) -> list[int]:
        """The port of every valve (0 between ports), in chain order."""
        with self._lock:
            for valve in self._valves:
                self._update(valve)
            return [valve.port for valve in self._valves]

    def set_fault(self, index: int, fault: ValveFault) -> None:
        """Emulate ``fault`` on valve ``index`` (1-based) from now on."""
        with self._lock:
            valve = self._valves[index - 1]
            valve.fault = fault
            if fault is not ValveFault.STUCK:
                valve.overload = False

    # -- protocol -----------------------------------------------------------------------

    def _handle(self, command: bytes) -> bytes | None:
        if self.chain_silent or not command:
            return None
        if command == b"1a":
            return self._auto_address()
        address, body = command[:1], command[1:]
        valve = next(
            (v for v in self._valves if v.address is not None and v.address.encode() == address),
            None,
        )
        if valve is None or valve.fault is ValveFault.SILENT:
            return None
        self._update(valve)
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        answer = self._execute(valve, text)
        if answer is None:
            valve.syntax_error = True
            return command + bytes([mvp.NAK, mvp.CR])
        ok, data = answer
        if not ok:
            return command + bytes([mvp.NAK, mvp.CR])
        valve.syntax_error = False
        return command + bytes([mvp.ACK]) + data + bytes([mvp.CR])

    def _auto_address(self) -> bytes:
        if all(v.address is not None for v in self._valves):
            return b"1a" + bytes([mvp.ACK, mvp.CR])
        for index, valve in enumerate(self._valves, start=1):
            valve.address = mvp.address_letter(index)
        next_free = chr(ord("a") + len(self._valves))
        return b"1" + next_free.encode() + bytes([mvp.CR])

    def _execute(self, valve: EmulatedValve, text: str) -> tuple[bool, bytes] | None:
        """Run one command; None for a syntax error, (ok, data) otherwise."""
        if text == "LXR":
            if valve.busy:
                return False, b""
            self._start_motion(valve, target_port=1, clockwise=None, initialise=True)
            return True, b""
        if text.startswith("LP") and text.endswith("R") and len(text) >= 5:
            direction, digits = text[2], text[3:-1]
            if direction not in "01" or not digits.isdigit():
                return None
            port = int(digits)
            if not 1 <= port <= valve.n_ports:
                return None
            if valve.busy or not valve.initialised or valve.fault is ValveFault.NAK:
                return False, b""
            valve.moves.append(port)
            self._start_motion(valve, target_port=port, clockwise=direction == "0")
            return True, b""
        if text == "LQP":
            return True, str(valve.port).encode()
        if text == "LQT":
            return True, str(_PORTS_TO_TYPE[valve.n_ports]).encode()
        if text == "LQA":
            return True, str(round(valve.position * 360 / valve.n_ports) % 360).encode()
        if text == "LQF":
            return True, b"2"
        if text == "U":
            return True, b"MVP emulator 1.0"
        if text == "F":
            if valve.busy:
                return True, b"*"
            return True, b"Y"
        if text == "G":
            if valve.busy:
                return True, b"*"
            return True, b"Y" if valve.overload else b"N"
        if text in ("E1", "E2", "E3"):
            return True, bytes([self._status_byte(valve, text)])
        if text == "!":
            valve.initialised = False
            valve.overload = False
            valve._moving = False
            return True, b""
        return None

    def _status_byte(self, valve: EmulatedValve, which: str) -> int:
        if which != "E1":
            return 0x40
        value = 0x40
        if valve.busy:
            value |= mvp.STATUS_BUSY
        if valve.syntax_error:
            value |= mvp.STATUS_SYNTAX_ERROR
        if not valve.initialised and not valve._initialising:
            value |= mvp.STATUS_NOT_INITIALISED
        if valve.overload:
            value |= mvp.STATUS_OVERLOAD
        return value

    # -- motion -------------------------------------------------------------------------

    def _start_motion(
        self,
        valve: EmulatedValve,
        *,
        target_port: int,
        clockwise: bool | None,
        initialise: bool = False,
    ) -> None:
        n = valve.n_ports
        start = valve.position
        target = float(target_port - 1)
        cw = (target - start) % n
        ccw = (start - target) % n
        if clockwise is None:
            clockwise = cw <= ccw
        steps = cw if clockwise else -ccw
        duration = abs(steps) * self.seconds_per_port
        if initialise:
            duration = max(duration, self.init_s)
        now = self._clock()
        valve._start_pos = start
        valve._end_pos = start + steps
        if valve.fault is ValveFault.STUCK and steps != 0:
            valve._end_pos = start + math.copysign(0.5, steps)
        valve._t_start = now
        valve._t_end = now + duration / self.speed_factor
        valve._moving = True
        valve._initialising = initialise
        valve.overload = False

    def _update(self, valve: EmulatedValve) -> None:
        if not valve._moving:
            return
        now = self._clock()
        span = valve._t_end - valve._t_start
        fraction = 1.0 if span <= 0 else min(1.0, (now - valve._t_start) / span)
        valve.position = (
            valve._start_pos + (valve._end_pos - valve._start_pos) * fraction
        ) % valve.n_ports
        if fraction >= 1.0:
            valve._moving = False
            valve.position = valve._end_pos % valve.n_ports
            if valve._initialising:
                valve.initialised = True
                valve._initialising = False
            if valve.fault is ValveFault.STUCK and not math.isclose(
                valve.position, round(valve.position), abs_tol=1e-6
            ):
                valve.overload = True
