"""The Squid link layer: one command in flight, completion, resends, reconnection.

A :class:`SquidLink` owns the serial transport of one board, its reader-thread
callbacks (the status stream) and the single writer thread every command runs on.
:meth:`SquidLink.transact` is the one transaction every command goes through:

* A command is done when a status packet shows its id with status 0; status 4 fails
  at once (:class:`~hcs_devices.squid.errors.SquidCommandError`).
* With no status showing its id within ``resend_timeout_s``, or on status 2, the same
  bytes (same id) are sent again, up to ``max_resends`` times. Commands that must not
  run twice are only resent when the board's status proves it did not take them (it
  shows another id, or status 2).
* When the port vanishes, the transaction waits (up to ``reconnect_timeout_s``) for it
  to come back, has the board's state restored (:attr:`SquidLink.restore_state`) and
  resends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from hcs_devices.squid.config import SquidConfig
from hcs_devices.squid.errors import (
    SquidCommandError,
    SquidConnectionError,
    SquidError,
    SquidMoveStoppedError,
    SquidTimeoutError,
)
from hcs_devices.squid.protocol import Command, CommandStatus, Opcode, Status
from hcs_devices.squid.transport import SerialTransport

_log = logging.getLogger(__name__)

T = TypeVar("T")

_STALE_GRACE_S = 0.025
"""Status packets this soon after a send may predate it (one status period + latency)."""

POLL_S = 0.02
"""Longest wait between checks of stop requests and the link."""


@dataclass
class DriverStats:
    """Counters of what the driver did (for tests, benchmarks and diagnostics).

    Attributes:
        commands: commands completed.
        sends: packets written, resends included.
        resends: packets written again after silence or status 2.
        checksum_errors: status 2 replies seen.
        restores: times the board's state was restored after the port came back.
        button_presses: joystick button presses acknowledged.
    """

    commands: int = 0
    sends: int = 0
    resends: int = 0
    checksum_errors: int = 0
    restores: int = 0
    button_presses: int = 0


class LinkLost(Exception):
    """The port vanished while restoring state (internal: restart the restore)."""


def _nothing() -> None:
    """The default :attr:`SquidLink.restore_state`: nothing to restore."""


class SquidLink:
    """The serial link to one Squid board: framing, ids, resends, reconnection.

    Callers run their blocking work on the writer thread (:meth:`call`) and hold
    :attr:`cmd_lock` around :meth:`transact` (one lock per port: one command in flight).

    Args:
        config: the board's configuration (port, baud rate, resend and reconnect timing).
        name: prefix of the link's thread names.
    """

    def __init__(self, config: SquidConfig, *, name: str = "squid") -> None:
        self.config = config
        self.name = name
        self.transport = SerialTransport(
            config.port,
            on_status=self._on_status,
            on_connection=self._on_connection,
            baudrate=config.baudrate,
            name=name,
        )
        self.cond = threading.Condition()
        """Notified on every status packet and every change of the connection."""
        self._latest: Status | None = None
        self._seq = 0
        self.cmd_lock = threading.Lock()
        """One lock per port: held around every transaction."""
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-writer")
        self.closing = threading.Event()
        self.closed = False
        self.started = False
        """Whether the start-up sequence ran (the board's state is then restored on reconnect)."""
        self.configured_generation = 0
        """Transport generation the board's state was last set up for."""
        self._restoring = False
        self.next_id = 1
        """Command id the next command gets (1..255; never the id the board shows now)."""
        self.last_write = 0.0
        """``time.monotonic()`` of the last packet written."""
        self._button_down = False
        self.stats = DriverStats()
        self.restore_state: Callable[[], None] = _nothing
        """Sends everything the board must know; run under the lock after a reconnect."""
        self.on_button_pressed: Callable[[], None] | None = None
        """Called (from the writer thread) after each joystick button press is acked."""

    @property
    def port(self) -> str:
        """The serial device path."""
        return self.config.port

    @property
    def latest_status(self) -> Status | None:
        """The last status packet received, if any."""
        with self.cond:
            return self._latest

    def wait_first_status(self, timeout_s: float) -> Status | None:
        """Wait up to ``timeout_s`` for a status packet; the latest one, or None."""
        with self.cond:
            self.cond.wait_for(lambda: self._latest is not None, timeout=timeout_s)
            return self._latest

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the writer thread and await its result.

        Raises:
            SquidConnectionError: when the link is closed.
        """
        if self.closed:
            raise SquidConnectionError(f"the Squid driver for {self.port} is closed")
        try:
            future = self.executor.submit(fn, *args)
        except RuntimeError as exc:  # executor shut down
            raise SquidConnectionError(f"the Squid driver for {self.port} is closed") from exc
        return await asyncio.wrap_future(future)

    # -- status stream (reader thread) --

    def _on_status(self, status: Status) -> None:
        with self.cond:
            self._latest = status
            self._seq += 1
            self.cond.notify_all()
        pressed = status.button_pressed
        if pressed and not self._button_down and self.started and not self.closing.is_set():
            with contextlib.suppress(RuntimeError):
                self.executor.submit(self._ack_button_sync)
        self._button_down = pressed

    def _on_connection(self, connected: bool) -> None:
        with self.cond:
            self.cond.notify_all()
        if connected and self.started and not self.closing.is_set():
            # Restore the board's state now, even if no command is waiting.
            with contextlib.suppress(RuntimeError):
                self.executor.submit(self._ensure_configured_job)

    def _ack_button_sync(self) -> None:
        with contextlib.suppress(SquidError, LinkLost), self.cmd_lock:
            self.transact(Opcode.ACK_JOYSTICK_BUTTON_PRESSED)
            self.stats.button_presses += 1
            callback = self.on_button_pressed
            if callback is not None:
                callback()

    # -- reconnection (writer thread) --

    def _ensure_configured_job(self) -> None:
        with contextlib.suppress(SquidError, LinkLost), self.cmd_lock:
            self.ensure_configured()

    def ensure_configured(self) -> None:
        """Restore the board's state if the port was re-opened since it was set up.

        Raises:
            SquidConnectionError: before the start-up sequence, or when the port is gone.
        """
        if not self.started and not self.transport.connected:
            raise SquidConnectionError(
                f"the Squid board on {self.port} is not connected: call connect() first"
            )
        if not self.started or self.configured_generation == self.transport.generation:
            return
        self._recover("restoring the board's state")

    def _recover(self, what: str, deadline: float | None = None) -> None:
        """Wait for the port, then restore the board's state; retried if the port flaps.

        Raises:
            SquidConnectionError: when the port does not come back in time.
        """
        if deadline is None:
            deadline = time.monotonic() + self.config.reconnect_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if self.closing.is_set():
                raise SquidConnectionError(f"{what}: the driver is closing", command=what)
            if not self.transport.wait_connected(max(0.0, min(remaining, POLL_S))):
                if remaining <= 0:
                    raise SquidConnectionError(
                        f"{what}: the port {self.port} vanished and did not come back "
                        f"within {self.config.reconnect_timeout_s} s",
                        command=what,
                    )
                continue
            generation = self.transport.generation
            if self.configured_generation == generation or not self.started:
                return
            _log.warning("Squid port %s came back: restoring the board's state", self.port)
            self.configured_generation = generation
            self._restoring = True
            try:
                self.restore_state()
            except (LinkLost, SquidConnectionError):
                self.configured_generation = 0
                continue
            finally:
                self._restoring = False
            self.stats.restores += 1
            if self.transport.generation == generation:
                return

    # -- the transaction (writer thread, under cmd_lock) --

    def _allocate_id(self) -> int:
        board_id = self._latest.command_id if self._latest is not None else None
        cid = self.next_id
        if cid == board_id:  # never reuse the id the board shows now: it would match stale
            cid = cid % 255 + 1
        self.next_id = cid % 255 + 1
        return cid

    def _write(self, packet: bytes) -> None:
        self.transport.write(packet)
        self.last_write = time.monotonic()
        self.stats.sends += 1

    def send_unacknowledged(self, opcode: Opcode, payload: bytes = b"") -> None:
        """Send a command whose completion cannot be seen (RESET makes the board's id 0)."""
        self._write(Command.build(self._allocate_id(), opcode, payload).encode())

    def transact(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        timeout_s: float | None = None,
        idempotent: bool = True,
        stop_requested: Callable[[], bool] | None = None,
        halt: Callable[[], None] | None = None,
        on_timeout: Callable[[str], None] | None = None,
    ) -> Status:
        """Send a command and wait for its completion; the caller holds :attr:`cmd_lock`.

        Args:
            opcode: the command.
            payload: its payload bytes.
            timeout_s: time allowed for completion after the first send (None: only the
                resend budget applies).
            idempotent: whether a resend on silence alone is safe.
            stop_requested: polled while waiting; when it returns True, ``halt`` runs
                and the command fails with :class:`SquidMoveStoppedError`.
            halt: stops what the command started (see ``stop_requested``).
            on_timeout: called with the command's name before a timeout is raised.

        Returns:
            The status packet that completed it.

        Raises:
            SquidCommandError: on status 4.
            SquidTimeoutError: on no reply after the resends, or past ``timeout_s``.
            SquidMoveStoppedError: when ``stop_requested`` returned True.
            SquidConnectionError: when the port vanished and did not come back.
            LinkLost: when the port vanished while the board's state was being restored.
        """
        cfg = self.config
        restoring = self._restoring
        command = Command.build(self._allocate_id(), opcode, payload)
        packet = command.encode()
        name = command.name
        closing_mode = self.closing.is_set()
        max_resends = 1 if closing_mode else cfg.max_resends
        sends = 0  # sends that count against the resend budget
        paused_s = 0.0  # time spent waiting for a vanished port (extends the deadline)
        generation = self.transport.generation
        t_sent = t_evidence = 0.0
        seen_seq = 0
        other_id = 0  # consecutive fresh status packets showing another command's id

        def recover() -> None:
            nonlocal paused_s
            if restoring or closing_mode:
                raise LinkLost(name)
            t0 = time.monotonic()
            self._recover(name)
            paused_s += time.monotonic() - t0

        def send(*, counted: bool = True) -> None:
            nonlocal sends, t_sent, t_evidence, seen_seq, generation
            while True:
                try:
                    self._write(packet)
                    break
                except SquidConnectionError:
                    recover()
            if counted:
                sends += 1
                if sends > 1:
                    self.stats.resends += 1
            t_sent = t_evidence = time.monotonic()
            generation = self.transport.generation
            with self.cond:
                seen_seq = self._seq

        send()
        t_first = t_sent
        while True:
            with self.cond:
                if self._seq == seen_seq and not self.closing.is_set():
                    self.cond.wait(POLL_S)
                status = self._latest if self._seq != seen_seq else None
                seen_seq = self._seq
            now = time.monotonic()
            if self.closing.is_set() and not closing_mode:
                raise SquidConnectionError(f"{name}: the driver is closing", command=name)
            if stop_requested is not None and stop_requested():
                if halt is not None:
                    halt()
                raise SquidMoveStoppedError(f"{name}: stopped by request", command=name)
            if self.transport.generation != generation or not self.transport.connected:
                recover()
                send(counted=False)  # the port came back: same bytes, same id
                continue
            if status is not None:
                fresh = now - t_sent > _STALE_GRACE_S
                if status.command_id == command.command_id:
                    if status.status == CommandStatus.COMPLETED:
                        self.stats.commands += 1
                        return status
                    if status.status == CommandStatus.IN_PROGRESS:
                        t_evidence = now
                    elif status.status != CommandStatus.CHECKSUM_ERROR:
                        what = (
                            "execution error"
                            if status.status == CommandStatus.EXECUTION_ERROR
                            else f"status {status.status}"
                        )
                        raise SquidCommandError(
                            f"{name}: the board refused it ({what}, nothing moved)",
                            command=name,
                        )
                if status.status == CommandStatus.CHECKSUM_ERROR and fresh:
                    self.stats.checksum_errors += 1
                    self._resend_or_fail(name, sends, max_resends, "checksum error")
                    send()
                    continue
                other_id = other_id + 1 if fresh and status.command_id != command.command_id else 0
                if not idempotent and other_id >= 2 and now - t_evidence > cfg.resend_timeout_s:
                    # The board shows another id, twice in a row: it never took this command.
                    self._resend_or_fail(name, sends, max_resends, "no reply")
                    send()
                    continue
            if timeout_s is not None and now > t_first + timeout_s + paused_s:
                if on_timeout is not None:
                    on_timeout(name)
                raise SquidTimeoutError(
                    f"{name} did not complete within {timeout_s:.2f} s", command=name
                )
            if now - t_evidence > cfg.resend_timeout_s:
                if idempotent:
                    self._resend_or_fail(name, sends, max_resends, "no reply")
                    send()
                elif now - t_evidence > cfg.resend_timeout_s * (max_resends + 1):
                    raise SquidTimeoutError(
                        f"{name}: no status from the board for "
                        f"{now - t_evidence:.2f} s (not resent: it must not run twice)",
                        command=name,
                    )

    def _resend_or_fail(self, name: str, sends: int, max_resends: int, why: str) -> None:
        if sends > max_resends:
            raise SquidTimeoutError(
                f"{name}: {why} after {sends} sends "
                f"({self.config.resend_timeout_s} s each); is the board powered and connected?",
                command=name,
            )
        _log.info("Squid %s: %s, resending", name, why)
