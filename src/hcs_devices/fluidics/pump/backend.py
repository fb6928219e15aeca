"""The pump backend for a real (or emulated) peristaltic pump on a serial port."""

from __future__ import annotations

import asyncio
import logging

from hcs_devices.fluidics.errors import FluidicsError
from hcs_devices.fluidics.pump.base import FlowDirection, PumpStatus
from hcs_devices.fluidics.pump.kinds import PUMP_KINDS
from hcs_devices.fluidics.transport import SerialTransport

logger = logging.getLogger(__name__)


class SerialPumpBackend:
    """A pump model from :data:`PUMP_KINDS` on a serial port, driven from asyncio.

    Args:
        kind: the model's configuration name (``"gilson_minipuls3"``).
        port: serial device path.
        unit_id: the pump's unit id on the line.
        reply_timeout_s: how long to wait for each byte of a reply.
    """

    def __init__(
        self, kind: str, port: str, *, unit_id: int = 30, reply_timeout_s: float = 0.5
    ) -> None:
        try:
            model = PUMP_KINDS[kind]
        except KeyError:
            raise ValueError(f"pump kind {kind!r} is not one of {sorted(PUMP_KINDS)}") from None
        self.transport = SerialTransport(model.serial_settings(port), name=model.description)
        self.driver = model.make_driver(self.transport, unit_id, reply_timeout_s)
        self.max_rpm = model.max_rpm
        self._connect_lock = asyncio.Lock()
        self._connected = False

    @property
    def name(self) -> str:
        """What errors call the pump (model, unit id, port)."""
        return self.driver.name

    async def connect(self) -> None:
        """Open the port, select the pump, put it in remote mode and stop it."""
        async with self._connect_lock:
            if self._connected:
                return
            try:
                await self.transport.aopen()
                await self.transport.call(self.driver.connect)
                await self.transport.call(self.driver.stop)
            except BaseException:
                await self.transport.aclose()
                raise
            self._connected = True

    async def close(self) -> None:
        """Stop the pump, hand it back to its keypad and close the port (idempotent)."""
        if self._connected:
            self._connected = False
            try:
                await self.transport.call(self.driver.disconnect)
            except FluidicsError as err:
                logger.warning(
                    "%s: could not stop and release the pump on close: %s", self.name, err
                )
        await self.transport.aclose()

    async def start(self, speed_rpm: float, direction: FlowDirection) -> float:
        """Set the speed, then start in ``direction``; returns when the pump was told."""
        await self.transport.call(self.driver.set_speed_rpm, speed_rpm)
        return await self.transport.call(self.driver.start, direction)

    async def stop(self, at_s: float | None = None) -> float:
        """Stop the rotor at ``at_s`` (now if None); returns when the pump was told.

        The wait for ``at_s`` happens in the port's thread, after everything of the
        command but its last byte has gone out, so the stop lands on time even when
        the event loop or the echoes are slow.
        """
        return await self.transport.call(self.driver.stop, at_s)

    async def status(self) -> PumpStatus:
        """Read the pump's status."""
        return await self.transport.call(self.driver.status)
