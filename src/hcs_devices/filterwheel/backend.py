"""What a filter wheel backend must do."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class FilterWheelBackend(Protocol):
    """A wheel of ``n_positions`` filters, positions numbered from 1."""

    async def connect(self) -> None:
        """Open the hardware and home the wheel if needed (idempotent)."""
        ...

    async def move_to(self, position: int) -> None:
        """Move to a position and return once there."""
        ...

    async def position(self) -> int:
        """The current position."""
        ...
