"""Connecting a device opens its backend: the ophyd-async way, through a connector."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ophyd_async.core import Device, DeviceConnector


class BackendConnector(DeviceConnector):
    """Connects the device's soft signals, then calls ``on_connect``.

    ``on_connect`` opens the hardware backend and reads its initial state into the
    device's signals. In mock mode (unit tests of one device) it is not called.

    Args:
        on_connect: opens the backend (idempotently) and reads the initial state.
    """

    def __init__(self, on_connect: Callable[[], Awaitable[None]]) -> None:
        self._on_connect = on_connect

    async def connect_real(self, device: Device, timeout: float, force_reconnect: bool) -> None:
        """Connect children, then the backend."""
        await super().connect_real(device, timeout, force_reconnect)
        await self._on_connect()
