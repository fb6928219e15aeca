"""An emulated Squid microcontroller board that speaks the real wire protocol.

:class:`SquidEmulator` is a :class:`~hcs_devices.serial.pty_server.WireDevice`: serve it
on a pseudo-terminal with :class:`~hcs_devices.serial.pty_server.PtyServer` (or use
:class:`EmulatedSquid`, which does that and cleans up) and point the real driver at
the path.

What it models, as the board does:

* a status packet every 10 ms (configurable) with the last command id, its state and
  the X/Y/Z positions;
* motion along a trapezoidal speed profile set by SET_MAX_VELOCITY_ACCELERATION,
  SET_LEAD_SCREW_PITCH and CONFIGURE_STEPPER_DRIVER; ``speed_factor`` makes every move
  (and homing) that many times faster than real time so tests stay fast;
* soft limits: relative moves are clamped; an absolute move past a limit stops at the
  limit and never completes;
* homing, zeroing, the filter wheels (W, W2) and their initialisation, illumination and
  TTL ports, the LED matrix, the DAC (objective piezo), hardware triggers (counted, each
  recorded with the stage's position at the pulse and sent down its output's wire: a
  callable or the fake camera's Line0 input, see ``trigger_wires``), pin levels, the
  watchdog (illumination off when the host is silent), the joystick button;
* a bad CRC flushes the receive buffer and reports status 2 for byte 0; unknown opcodes
  complete; the firmware version byte is 0x14.

Fault knobs for tests (all thread-safe): :meth:`~SquidEmulator.drop_next_commands`,
:meth:`~SquidEmulator.corrupt_next_received`, :meth:`~SquidEmulator.corrupt_next_status`,
:attr:`~SquidEmulator.reply_delay_s`, :meth:`~SquidEmulator.stall`,
:meth:`~SquidEmulator.inject`, and :meth:`EmulatedSquid.vanish` / :meth:`EmulatedSquid.reappear`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hcs_devices.serial.pty_server import PtyServer
from hcs_devices.squid.emulator_board import SquidEmulator
from hcs_devices.squid.emulator_state import ExecutedCommand, TriggerPulse, TriggerRecord
from hcs_devices.squid.emulator_wire import TriggerWire

__all__ = [
    "EmulatedSquid",
    "ExecutedCommand",
    "SquidEmulator",
    "TriggerPulse",
    "TriggerRecord",
    "TriggerWire",
]


class EmulatedSquid:
    """A :class:`SquidEmulator` served on a pseudo-terminal, ready for a driver.

    Use as a context manager; :meth:`close` stops the emulator, removes the port and
    its temporary directory.

    Args:
        speed_factor: motion runs this many times faster than real time.
        status_period_s: interval between status packets, s.
        legacy_crc: send CRC byte 0, as legacy boards do.
        seed: seed of the corruption knobs' random generator.
        directory: where the port's symlink lives (a new temporary directory by default).
        link_name: the symlink's file name.
        trigger_wires: per camera trigger output (0..3), where its pulse goes: a
            callable, or the (host, port) of a UDP line input on this machine.
    """

    def __init__(
        self,
        *,
        speed_factor: float = 1.0,
        status_period_s: float = 0.01,
        legacy_crc: bool = False,
        seed: int | None = None,
        directory: Path | None = None,
        link_name: str = "squid",
        trigger_wires: Mapping[int, TriggerWire | tuple[str, int]] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hcs-squid-")
            directory = Path(self._tmp.name)
        self.emulator = SquidEmulator(
            speed_factor=speed_factor,
            status_period_s=status_period_s,
            legacy_crc=legacy_crc,
            seed=seed,
            trigger_wires=trigger_wires,
        )
        self.server = PtyServer(self.emulator, link_name=link_name, directory=directory)
        self.emulator.start()
        self._closed = False

    @property
    def path(self) -> str:
        """The serial device path to open."""
        return str(self.server.path)

    def vanish(self) -> None:
        """Remove the port, as when the USB cable is pulled (the board keeps running)."""
        self.server.vanish()

    def reappear(self) -> None:
        """Bring the port back under the same path."""
        self.server.reappear()

    def close(self) -> None:
        """Stop the emulator and remove the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self.emulator.close(join_timeout_s=0.5):
            self._drain_until_stopped()
        self.server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _drain_until_stopped(self) -> None:
        # The status thread is blocked writing to a full pseudo-terminal nobody reads:
        # read the port empty so it can finish.
        thread = self.emulator.status_thread
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError:
            return
        try:
            while thread is not None and thread.is_alive():
                try:
                    while os.read(fd, 65536):
                        pass
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                        break
                thread.join(timeout=0.01)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> EmulatedSquid:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
