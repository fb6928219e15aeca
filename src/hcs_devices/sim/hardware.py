"""Simulated illumination and filter wheel: state the simulated camera reads."""

from __future__ import annotations

from hcs_devices.config.models import FilterWheelConfig
from hcs_devices.timing import sleep_precisely


class SimIlluminationBackend:
    """Light sources that remember what they were told."""

    def __init__(self, sources: list[str]) -> None:
        self.sources = list(sources)
        self.selected = self.sources[0]
        self.intensity_percent = 0.0
        self.is_on = False

    async def connect(self) -> None:
        """Nothing to open."""

    async def select(self, source: str, intensity_percent: float) -> None:
        """Select a source and its intensity."""
        self.selected = source
        self.intensity_percent = intensity_percent

    async def set_on(self, on: bool) -> None:
        """Switch the selected source."""
        self.is_on = on

    async def all_off(self) -> None:
        """Everything dark."""
        self.is_on = False


class SimFilterWheelBackend:
    """A wheel that takes time per position moved (the shorter way round)."""

    def __init__(self, config: FilterWheelConfig) -> None:
        self.config = config
        self.current = 1

    async def connect(self) -> None:
        """Nothing to open."""

    async def move_to(self, position: int) -> None:
        """Rotate to a position."""
        await sleep_precisely(self.config.move_time_s(self.current, position))
        self.current = position

    async def position(self) -> int:
        """Where the wheel is."""
        return self.current
