"""The valve chain backend for a real (or emulated) Hamilton MVP daisy chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from hcs_devices.fluidics.errors import FluidicsError
from hcs_devices.fluidics.mvp.driver import MvpChainDriver, mvp_serial_settings
from hcs_devices.fluidics.mvp.protocol import MAX_VALVES
from hcs_devices.fluidics.transport import SerialTransport


class MvpValveChainBackend:
    """An MVP chain on a serial port, driven from asyncio.

    Blocking driver calls run in the port's worker thread; waiting for a move polls
    ``F`` with ``asyncio.sleep`` in between, so a cancelled move stops waiting at once.

    Args:
        port: serial device path.
        ports_per_valve: the ports of each valve the configuration expects, in chain
            order; :meth:`connect` refuses a chain that differs.
        reply_timeout_s: how long to wait for a reply to one command.
        move_timeout_s: how long one move may take.
        poll_interval_s: pause between two ``F`` polls.
        name: what errors call the chain.
    """

    def __init__(
        self,
        port: str,
        *,
        ports_per_valve: Sequence[int],
        reply_timeout_s: float = 0.5,
        move_timeout_s: float = 15.0,
        poll_interval_s: float = 0.05,
        name: str = "valve chain",
    ) -> None:
        self.expected_ports = tuple(ports_per_valve)
        self.transport = SerialTransport(mvp_serial_settings(port), name=name)
        self.driver = MvpChainDriver(
            self.transport,
            reply_timeout_s=reply_timeout_s,
            move_timeout_s=move_timeout_s,
            poll_interval_s=poll_interval_s,
            name=name,
        )
        self._name = name
        self._connect_lock = asyncio.Lock()
        self._connected = False

    @property
    def name(self) -> str:
        """What errors call the chain."""
        return self._name

    async def connect(self) -> None:
        """Open the port, auto-address the chain, discover and initialise the valves.

        Raises:
            FluidicsError: no chain answers, or it differs from the configuration
                (number of valves or ports per valve).
        """
        async with self._connect_lock:
            if self._connected:
                return
            self.driver.cancel.clear()
            try:
                await self.transport.aopen()
                addressing = await self.transport.call(self.driver.auto_address)
                # A fresh chain says how many valves took an address; an addressed one
                # only acknowledges, and discovery then probes until a valve is silent.
                limit = addressing.valves_addressed or MAX_VALVES
                valves = await self.transport.call(self.driver.discover, limit)
                found = tuple(v.n_ports for v in valves)
                if found != self.expected_ports:
                    raise FluidicsError(
                        f"{self._name} on {self.transport.settings.port}: found "
                        f"{len(found)} valve(s) with ports {list(found)}, but the configuration "
                        f"(valves.n_valves, valves.ports_per_valve) expects "
                        f"{len(self.expected_ports)} with ports {list(self.expected_ports)}"
                    )
            except BaseException:
                await self.transport.aclose()
                raise
            self._connected = True

    async def close(self) -> None:
        """Close the port (idempotent)."""
        self.driver.cancel.set()
        self._connected = False
        await self.transport.aclose()

    async def move_to(self, valve: int, port: int) -> None:
        """Move ``valve`` to ``port`` the shorter way round and confirm it with ``LQP``."""
        self.driver.check_port(valve, port)
        what = f"move to port {port}"
        rotation = await self.transport.call(self.driver.start_move, valve, port)
        if rotation is not None:
            started = time.monotonic()
            timeout_s = self.driver.move_timeout_s
            while not await self.transport.call(self._poll, valve, what, started, timeout_s):
                await asyncio.sleep(self.driver.poll_interval_s)
        await self.transport.call(self.driver.confirm_port, valve, port)

    def _poll(self, valve: int, what: str, started: float, timeout_s: float) -> bool:
        return self.driver.poll_done(valve, what=what, started=started, timeout_s=timeout_s)

    async def port(self, valve: int) -> int:
        """The port ``valve`` reports (``LQP``)."""
        return await self.transport.call(self.driver.port, valve)
