"""Connecting a device opens its backend: the ophyd-async way, through a connector."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ophyd_async.core import Device, DeviceConnector


class Connectable(Protocol):
    """A backend that can be opened (idempotently)."""

    async def connect(self) -> None:
        """Open the hardware."""
        ...


class BackendConnector(DeviceConnector):
    """Connects the device's signals, then its backend, then runs an optional hook.

    In mock mode (unit tests of one device) the backend is left alone.
    """

    def __init__(
        self, backend: Connectable, after: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.backend = backend
        self.after = after

    async def connect_real(self, device: Device, timeout: float, force_reconnect: bool) -> None:
        """Connect children, open the backend, then run the hook."""
        await super().connect_real(device, timeout, force_reconnect)
        await self.backend.connect()
        if self.after is not None:
            await self.after()
