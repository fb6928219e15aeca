"""What an illumination backend must do."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class IlluminationBackend(Protocol):
    """Light sources addressed by name (as in the microscope configuration).

    At most one source is selected; ``set_on`` switches the selected source.
    """

    async def connect(self) -> None:
        """Open the hardware (idempotent)."""
        ...

    async def select(self, source: str, intensity_percent: float) -> None:
        """Select a source and set its intensity (0..100 %); does not switch it on."""
        ...

    async def set_on(self, on: bool) -> None:
        """Switch the selected source on or off."""
        ...

    async def all_off(self) -> None:
        """Switch every source off (the safe state)."""
        ...
