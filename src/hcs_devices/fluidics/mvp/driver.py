"""Driver of a Hamilton MVP selector valve daisy chain (blocking, pyserial).

Every method does blocking serial I/O through a :class:`SerialTransport`; async
code runs them in the transport's worker thread with
:meth:`SerialTransport.call`. Each command/reply exchange holds the port lock.

A move is always confirmed: the driver polls ``F`` until the valve reports done,
then queries the port with ``LQP``; a valve that ends elsewhere raises
:class:`ValveMoveError` naming the valve, the port asked and the port found.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from hcs_devices.fluidics.errors import (
    FluidicsError,
    ProtocolError,
    RefusedError,
    SilentDeviceError,
    ValveMoveError,
)
from hcs_devices.fluidics.mvp import protocol as mvp
from hcs_devices.fluidics.transport import SerialSettings, SerialTransport


def mvp_serial_settings(port: str) -> SerialSettings:
    """The line settings of an MVP chain on ``port`` (9600 baud, 7 data bits, odd parity)."""
    return SerialSettings(
        port=port, baudrate=mvp.BAUDRATE, bytesize=mvp.BYTESIZE, parity=mvp.PARITY, stopbits=1
    )


@dataclass(frozen=True)
class ValveInfo:
    """One discovered valve.

    Attributes:
        index: 1-based position in the chain.
        address: its address letter (``a`` for the first).
        n_ports: number of ports, from its type (``LQT``).
    """

    index: int
    address: str
    n_ports: int


class MvpChainDriver:
    """A chain of MVP valves on one serial port.

    Args:
        transport: the open (or to be opened) serial port of the chain.
        reply_timeout_s: how long to wait for a reply to one command.
        move_timeout_s: how long a move or an initialisation may take.
        poll_interval_s: pause between two ``F`` polls while a valve moves.
        name: what to call the chain in errors.
    """

    def __init__(
        self,
        transport: SerialTransport,
        *,
        reply_timeout_s: float = 0.5,
        move_timeout_s: float = 15.0,
        poll_interval_s: float = 0.05,
        name: str = "valve chain",
    ) -> None:
        self.transport = transport
        self.reply_timeout_s = reply_timeout_s
        self.move_timeout_s = move_timeout_s
        self.poll_interval_s = poll_interval_s
        self.name = name
        self.valves: list[ValveInfo] = []
        #: Set to make a blocking wait (:meth:`wait_until_done`) give up early.
        self.cancel = threading.Event()

    # -- naming -----------------------------------------------------------------------

    def describe(self, index: int) -> str:
        """How errors name valve ``index``: chain position, address letter and port."""
        return (
            f"{self.name} valve {index} (address '{mvp.address_letter(index)}' "
            f"on {self.transport.settings.port})"
        )

    def info(self, index: int) -> ValveInfo:
        """The discovered valve at chain position ``index``.

        Raises:
            FluidicsError: when no such valve was discovered.
        """
        for valve in self.valves:
            if valve.index == index:
                return valve
        raise FluidicsError(
            f"{self.name}: no valve {index}; discovered {len(self.valves)} valve(s)"
        )

    # -- one exchange -------------------------------------------------------------------

    def exchange(self, address: str, command: str, *, what: str = "") -> bytes:
        """Send one addressed command and return the data after ACK.

        Args:
            address: valve address letter.
            command: the command without address and CR (``"LQP"``).
            what: how to describe the request in errors (defaults to the command).

        Raises:
            SilentDeviceError: no reply within the reply timeout.
            RefusedError: the valve answered NAK.
            ProtocolError: the reply is malformed.
        """
        sent = (address + command).encode("ascii")
        index = ord(address) - ord("a") + 1
        asked = what or f"command {command!r}"
        with self.transport.locked() as port:
            port.discard_input()
            port.write(sent + bytes([mvp.CR]))
            raw = port.read_until(bytes([mvp.CR]), self.reply_timeout_s)
        if not raw:
            raise SilentDeviceError(
                f"{self.describe(index)}: no answer to {asked} within {self.reply_timeout_s} s"
            )
        try:
            reply = mvp.parse_reply(raw, sent)
        except ProtocolError as err:
            raise ProtocolError(f"{self.describe(index)}: {asked}: {err}") from None
        if not reply.acknowledged:
            raise RefusedError(f"{self.describe(index)} refused {asked} (NAK)")
        return reply.data

    # -- chain set-up -------------------------------------------------------------------

    def auto_address(self) -> mvp.AutoAddressReply:
        """Send ``1a`` so the chain gives every valve its address letter.

        Raises:
            SilentDeviceError: nothing answered (no chain, cable, power).
            ProtocolError: the answer is not a known auto-addressing answer.
        """
        with self.transport.locked() as port:
            port.discard_input()
            port.write(b"1a" + bytes([mvp.CR]))
            raw = port.read_until(bytes([mvp.CR]), self.reply_timeout_s)
        if not raw:
            raise SilentDeviceError(
                f"{self.name} on {self.transport.settings.port}: no answer to auto-addressing "
                f"(1a) within {self.reply_timeout_s} s; check cable, power and baud rate"
            )
        try:
            return mvp.parse_auto_address(raw)
        except ProtocolError as err:
            raise ProtocolError(f"{self.name}: {err}") from None

    def discover(self, max_valves: int = mvp.MAX_VALVES) -> list[ValveInfo]:
        """Find the valves: initialise ``a``, ``b``, ... until one does not answer.

        Reads each valve's type (``LQT``) and waits until every initialisation is done.

        Returns:
            the valves found, in chain order (also kept in :attr:`valves`).

        Raises:
            FluidicsError: when no valve answers, a valve refuses, or an
                initialisation does not finish.
        """
        found: list[ValveInfo] = []
        for index in range(1, max_valves + 1):
            address = mvp.address_letter(index)
            try:
                self.exchange(address, "LXR", what="initialise (LXR)")
            except SilentDeviceError:
                break
            n_ports = mvp.parse_valve_type(
                self.exchange(address, "LQT", what="valve type query (LQT)")
            )
            found.append(ValveInfo(index=index, address=address, n_ports=n_ports))
        if not found:
            raise SilentDeviceError(
                f"{self.name} on {self.transport.settings.port}: no valve answered "
                f"initialisation (aLXR)"
            )
        self.valves = found
        for valve in found:
            self.wait_until_done(valve.index, what="initialise (LXR)")
        return list(found)

    # -- queries ------------------------------------------------------------------------

    def port(self, index: int) -> int:
        """The port valve ``index`` is at (``LQP``); 0 means between ports."""
        data = self.exchange(mvp.address_letter(index), "LQP", what="port query (LQP)")
        try:
            return mvp.parse_port(data)
        except ProtocolError as err:
            raise ProtocolError(f"{self.describe(index)}: {err}") from None

    def move_state(self, index: int) -> mvp.MoveState:
        """Whether valve ``index`` finished its last move (``F``)."""
        data = self.exchange(mvp.address_letter(index), "F", what="movement query (F)")
        try:
            return mvp.parse_move_state(data)
        except ProtocolError as err:
            raise ProtocolError(f"{self.describe(index)}: {err}") from None

    def status(self, index: int) -> mvp.ValveStatus:
        """The status bytes ``E1``..``E3`` of valve ``index``."""
        address = mvp.address_letter(index)
        values = []
        for command in ("E1", "E2", "E3"):
            data = self.exchange(address, command, what=f"status query ({command})")
            try:
                values.append(mvp.parse_status_byte(data))
            except ProtocolError as err:
                raise ProtocolError(f"{self.describe(index)}: {err}") from None
        return mvp.ValveStatus(*values)

    def status_text(self, index: int) -> str:
        """The status of valve ``index`` in words, or why it could not be read."""
        try:
            return self.status(index).describe()
        except FluidicsError as err:
            return f"status unreadable: {err}"

    # -- moves --------------------------------------------------------------------------

    def check_port(self, index: int, port: int) -> ValveInfo:
        """Refuse a port outside the valve's range (before anything is sent).

        Raises:
            ValueError: port outside ``1..n_ports``.
        """
        valve = self.info(index)
        if not 1 <= port <= valve.n_ports:
            raise ValueError(
                f"port {port} is outside 1..{valve.n_ports} for {self.describe(index)}"
            )
        return valve

    def start_move(self, index: int, port: int) -> mvp.Rotation | None:
        """Start moving valve ``index`` to ``port`` by the shorter way round.

        Returns:
            the direction of the move, or None when the valve already was there.
        """
        valve = self.check_port(index, port)
        current = self.port(index)
        if current == port:
            return None
        rotation = mvp.shortest_rotation(current, port, valve.n_ports)
        self.exchange(valve.address, mvp.move_command(port, rotation), what=f"move to port {port}")
        return rotation

    def confirm_port(self, index: int, port: int) -> None:
        """Check that valve ``index`` is at ``port``.

        Raises:
            ValveMoveError: naming the valve, the port asked and the port found
                (with the valve's status bytes).
        """
        found = self.port(index)
        if found != port:
            where = "between ports" if found == 0 else f"port {found}"
            raise ValveMoveError(
                f"{self.describe(index)}: asked port {port}, found {where}; "
                f"status {self.status_text(index)}"
            )

    def poll_done(self, index: int, *, what: str, started: float, timeout_s: float) -> bool:
        """Ask valve ``index`` once whether ``what`` is finished (``F``).

        Args:
            index: chain position of the valve.
            what: the request being waited for, for errors ("move to port 3").
            started: ``time.monotonic()`` when the request was sent.
            timeout_s: how long the request may take.

        Returns:
            True when done, False while busy.

        Raises:
            ValveMoveError: busy past the timeout, or received but not executed.
        """
        state = self.move_state(index)
        if state is mvp.MoveState.DONE:
            return True
        if state is mvp.MoveState.NOT_EXECUTED:
            raise ValveMoveError(
                f"{self.describe(index)}: {what} was received but not executed; "
                f"status {self.status_text(index)}"
            )
        if time.monotonic() - started >= timeout_s:
            raise ValveMoveError(
                f"{self.describe(index)}: {what} still busy after {timeout_s} s; "
                f"status {self.status_text(index)}"
            )
        return False

    def wait_until_done(self, index: int, *, what: str, timeout_s: float | None = None) -> None:
        """Poll ``F`` until valve ``index`` reports done (blocking).

        Raises:
            ValveMoveError: still busy after the timeout, or the command was
                received but not executed.
            FluidicsError: :attr:`cancel` was set.
        """
        limit = self.move_timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        while not self.poll_done(index, what=what, started=started, timeout_s=limit):
            if self.cancel.wait(self.poll_interval_s):
                raise FluidicsError(f"{self.describe(index)}: {what} cancelled")

    def move_to(self, index: int, port: int, *, timeout_s: float | None = None) -> None:
        """Move valve ``index`` to ``port`` and confirm it arrived (blocking).

        Raises:
            ValueError: port outside the valve's range (nothing sent).
            ValveMoveError: the valve did not arrive.
            FluidicsError: any other failure (no answer, NAK, bad reply).
        """
        if self.start_move(index, port) is not None:
            self.wait_until_done(index, what=f"move to port {port}", timeout_s=timeout_s)
        self.confirm_port(index, port)
