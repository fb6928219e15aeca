"""What one exposure is: the camera settings a frame source needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Roi:
    """A region of the sensor, in unbinned sensor pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ExposureSettings:
    """Settings of one exposure."""

    exposure_ms: float
    gain: float
    binning: int
    roi: Roi

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the frame this exposure produces."""
        return self.roi.height // self.binning, self.roi.width // self.binning


@runtime_checkable
class FrameSource(Protocol):
    """Where frames come from: the simulated specimen, or a camera SDK."""

    async def connect(self) -> None:
        """Open the camera (idempotent)."""
        ...

    async def expose(self, settings: ExposureSettings) -> np.ndarray:
        """Take one exposure and return the frame (uint16, ``settings.shape``)."""
        ...

    def min_frame_period_s(self, settings: ExposureSettings) -> float:
        """Shortest time between frame starts for these settings."""
        ...
