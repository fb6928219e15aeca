"""What a stage axis backend must do: the seam between the device and the hardware."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class AxisBackend(Protocol):
    """One linear axis (stage X/Y/Z or objective piezo), positions in micrometres.

    The device checks soft limits before calling :meth:`move_to`; a backend may
    clamp again on its own side but never moves outside the limits it was given.
    """

    async def connect(self) -> None:
        """Open the hardware (idempotent)."""
        ...

    async def move_to(self, target_um: float, timeout_s: float | None) -> None:
        """Move to an absolute position and return once the axis has arrived.

        Raises:
            TimeoutError: when the axis does not arrive within ``timeout_s``.
        """
        ...

    async def stop(self) -> None:
        """Stop any motion now; :meth:`move_to` in progress then returns or raises."""
        ...

    async def position_um(self) -> float:
        """The current position (readback), also mid-move."""
        ...

    def move_time_s(self, distance_um: float) -> float:
        """The time a move of this distance is expected to take."""
        ...
