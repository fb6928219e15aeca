"""What a hardware camera trigger source must do (e.g. the Squid board's trigger lines)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CameraTriggerBackend(Protocol):
    """Sends hardware trigger pulses to a camera, optionally strobing illumination."""

    async def connect(self) -> None:
        """Open the hardware (idempotent)."""
        ...

    async def trigger(self, illumination_on_time_us: int, control_illumination: bool) -> None:
        """Send one trigger pulse."""
        ...
