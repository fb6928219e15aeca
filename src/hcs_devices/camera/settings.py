"""What one exposure is: the camera settings a frame source needs."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class ExpectedFrame:
    """A frame the camera is about to take, as its field of view plans it.

    Attributes:
        settings: the exposure's settings.
        x_um: stage x at the exposure.
        y_um: stage y at the exposure.
        z_um: focus (stage z) at the exposure.
        source: the light source.
        intensity_percent: its intensity.
        filter_position: the emission filter wheel's position.
    """

    settings: ExposureSettings
    x_um: float
    y_um: float
    z_um: float
    source: str
    intensity_percent: float
    filter_position: int


@runtime_checkable
class FrameLookahead(Protocol):
    """A frame source that can start making frames before they are exposed.

    Only a hint: a frame is always made from the hardware's state when it is exposed,
    and a frame expected wrongly is made again then.
    """

    def looks_ahead(self) -> bool:
        """Whether frames expected now would be made ahead (else ``expect`` is not called)."""
        ...

    def expect(self, frames: Sequence[ExpectedFrame]) -> None:
        """The frames the camera takes next, in order (replacing any expected before)."""
        ...
