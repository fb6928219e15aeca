"""Connect a device's hardware backend when the device connects (not in mock mode)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ophyd_async.core import Device, DeviceConnector


class BackendConnector(DeviceConnector):
    """Connects the soft signals, then calls ``on_connect`` (skipped in mock mode).

    Args:
        on_connect: opens the backend and reads the initial state into signals.
    """

    def __init__(self, on_connect: Callable[[], Awaitable[None]]) -> None:
        self._on_connect = on_connect

    async def connect_real(self, device: Device, timeout: float, force_reconnect: bool) -> None:
        """Connect children, then the backend."""
        await super().connect_real(device, timeout, force_reconnect)
        await self._on_connect()
