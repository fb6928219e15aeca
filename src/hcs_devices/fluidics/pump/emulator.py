"""An emulated Gilson Minipuls 3 on a pseudo-terminal (GSIOC link + pump model).

:class:`GsiocUnitEmulator` does the GSIOC link layer (selection, echoed buffered
commands, immediate replies paced by ACK) and leaves the commands to a subclass;
:class:`Minipuls3Emulator` is the pump. It integrates the delivered volume from
speed and time with a tube calibration (uL per revolution), so tests can check
what a flow really delivered. Fault knobs: :attr:`GsiocUnitEmulator.silent` (no
answer at all) and :meth:`Minipuls3Emulator.overload_after` (the rotor stalls).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hcs_devices.fluidics.pump.base import FlowDirection
from hcs_devices.fluidics.pump.gsioc import ACK, CR, DISCONNECT, LF, MAX_UNIT_ID
from hcs_devices.fluidics.pump.minipuls3 import MAX_RPM, format_display
from hcs_devices.serial.pty_server import SendBytes


class GsiocUnitEmulator:
    """The device side of a GSIOC link; subclasses answer the commands.

    Args:
        unit_id: the unit's GSIOC id (0..63).
    """

    def __init__(self, unit_id: int) -> None:
        if not 0 <= unit_id <= MAX_UNIT_ID:
            raise ValueError(f"unit_id {unit_id} is outside 0..{MAX_UNIT_ID}")
        self.unit_id = unit_id
        self._lock = threading.RLock()
        self._send: SendBytes | None = None
        self._received = bytearray()
        self._selected = False
        self._buffering = False
        self._buffer = bytearray()
        self._pending = b""
        self.buffered_commands: list[str] = []
        self.rejected_commands: list[str] = []
        #: when True the unit answers nothing (power off, wrong id, cable out).
        self.silent = False

    # -- WireDevice ---------------------------------------------------------------------

    def attach(self, send: SendBytes) -> None:
        """Receive the function that sends bytes to the host."""
        self._send = send

    def receive(self, data: bytes) -> None:
        """Bytes from the host, processed one at a time."""
        out = bytearray()
        with self._lock:
            self._received += data
            for byte in data:
                out += self._byte(byte)
        if out and self._send is not None:
            self._send(bytes(out))

    def _byte(self, byte: int) -> bytes:
        if self.silent:
            return b""
        if byte == DISCONNECT:
            self._selected = self._buffering = False
            self._pending = b""
            return b""
        if byte >= 0x80:
            self._selected = (byte & 0x7F) == self.unit_id
            self._buffering = False
            self._pending = b""
            return bytes([byte]) if self._selected else b""
        if not self._selected:
            return b""
        if self._buffering:
            if byte == CR:
                self._buffering = False
                command = self._buffer.decode("ascii", errors="replace")
                self._buffer.clear()
                self.buffered_commands.append(command)
                if not self.buffered(command):
                    self.rejected_commands.append(command)
            elif len(self._buffer) < 64:
                self._buffer.append(byte)
            return bytes([byte])
        if byte == LF:
            self._buffering = True
            self._buffer.clear()
            return bytes([byte])
        if byte == ACK:
            return self._next_reply_byte()
        text = self.immediate(chr(byte)) or "?"
        raw = text.encode("ascii", errors="replace")
        self._pending = raw[:-1] + bytes([raw[-1] | 0x80])
        return self._next_reply_byte()

    def _next_reply_byte(self) -> bytes:
        if not self._pending:
            return b""
        first, self._pending = self._pending[:1], self._pending[1:]
        return first

    # -- for subclasses -----------------------------------------------------------------

    def buffered(self, command: str) -> bool:
        """Execute a buffered command; return False if it is not understood."""
        return False

    def immediate(self, command: str) -> str | None:
        """Answer an immediate command (None if not understood)."""
        return None

    # -- state for tests ----------------------------------------------------------------

    @property
    def received(self) -> bytes:
        """Every byte received since the last :meth:`clear_log`."""
        with self._lock:
            return bytes(self._received)

    def clear_log(self) -> None:
        """Forget the bytes and commands received so far."""
        with self._lock:
            self._received.clear()
            self.buffered_commands.clear()
            self.rejected_commands.clear()


class Minipuls3Emulator(GsiocUnitEmulator):
    """An emulated Gilson Minipuls 3 pumping through a calibrated tube.

    Args:
        tube_ul_per_rev: volume the tube delivers per rotor revolution (uL).
        unit_id: GSIOC unit id (default 30).
        clock: monotonic clock in seconds (for tests that control time).
    """

    identification = "MINIPULS3 emulator v1.0"

    def __init__(
        self,
        *,
        tube_ul_per_rev: float = 10.0,
        unit_id: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(unit_id)
        if tube_ul_per_rev <= 0:
            raise ValueError(f"tube_ul_per_rev must be > 0, got {tube_ul_per_rev}")
        self.tube_ul_per_rev = tube_ul_per_rev
        self._clock = clock
        self._remote = False
        self._speed_rpm = 0.0
        self._direction: FlowDirection | None = None
        self._delivered_ul = 0.0
        self._since = clock()
        self._overload_after_s: float | None = None
        self._stall_at: float | None = None
        self._overloaded = False
        self._runs = 0

    # -- fault knobs --------------------------------------------------------------------

    def overload_after(self, seconds: float | None) -> None:
        """Make the rotor stall ``seconds`` after each start (None: never)."""
        with self._lock:
            self._advance()
            self._overload_after_s = seconds
            if seconds is not None and self._turning():
                self._stall_at = self._clock() + seconds

    # -- state for tests ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the rotor turns now."""
        with self._lock:
            self._advance()
            return self._turning()

    @property
    def delivered_ul(self) -> float:
        """Net volume delivered since power-on (reverse flow counts negative), uL."""
        with self._lock:
            self._advance()
            return self._delivered_ul

    @property
    def speed_rpm(self) -> float:
        """The speed set, rpm."""
        with self._lock:
            return self._speed_rpm

    @property
    def direction(self) -> FlowDirection | None:
        """The direction the rotor was started in (None when stopped)."""
        with self._lock:
            self._advance()
            return self._direction

    @property
    def remote(self) -> bool:
        """Whether the pump is under serial (remote) control."""
        with self._lock:
            return self._remote

    @property
    def overloaded(self) -> bool:
        """Whether the rotor stalled since the last start."""
        with self._lock:
            self._advance()
            return self._overloaded

    @property
    def runs(self) -> int:
        """How many times the rotor was started."""
        with self._lock:
            return self._runs

    # -- model --------------------------------------------------------------------------

    def _turning(self) -> bool:
        return self._direction is not None and self._speed_rpm > 0

    def _rate_ul_s(self) -> float:
        if not self._turning():
            return 0.0
        sign = 1.0 if self._direction is FlowDirection.FORWARD else -1.0
        return sign * self._speed_rpm * self.tube_ul_per_rev / 60.0

    def _advance(self) -> None:
        """Integrate the volume up to now, stalling the rotor when an overload is due."""
        now = self._clock()
        if self._stall_at is not None and now >= self._stall_at:
            self._delivered_ul += self._rate_ul_s() * max(0.0, self._stall_at - self._since)
            self._since = self._stall_at
            self._stall_at = None
            self._direction = None
            self._overloaded = True
        self._delivered_ul += self._rate_ul_s() * max(0.0, now - self._since)
        self._since = now

    def buffered(self, command: str) -> bool:
        """Execute ``SR``, ``SK``, ``K>``, ``K<`` or ``Rdddd``."""
        self._advance()
        if command == "SR":
            self._remote = True
            return True
        if command == "SK":
            self._remote = False
            return True
        if not self._remote:
            return False  # keypad mode: the pump ignores remote motion commands
        if command in ("K>", "K<"):
            self._direction = FlowDirection.FORWARD if command == "K>" else FlowDirection.REVERSE
            self._overloaded = False
            if self._turning():
                self._runs += 1
                if self._overload_after_s is not None:
                    self._stall_at = self._clock() + self._overload_after_s
            return True
        if command.startswith("R") and len(command) == 5 and command[1:].isdigit():
            rpm = int(command[1:]) / 100.0
            if rpm > MAX_RPM:
                return False
            was_turning = self._turning()
            self._speed_rpm = rpm
            if rpm == 0:
                self._direction = None
                self._stall_at = None
            elif not was_turning and self._turning():
                self._runs += 1
                if self._overload_after_s is not None:
                    self._stall_at = self._clock() + self._overload_after_s
            return True
        return False

    def immediate(self, command: str) -> str | None:
        """Answer ``%`` (identification) and ``R`` (display)."""
        self._advance()
        if command == "%":
            return self.identification
        if command == "R":
            direction = self._direction if self._turning() else None
            return format_display(direction, self._speed_rpm, self._remote)
        return None
