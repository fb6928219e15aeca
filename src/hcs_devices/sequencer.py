"""Hardware sequencing: the microscope steps through z and channels during a burst.

A camera burst of N frames can run a z x channel stack without the RunEngine taking
part in each frame: before each frame the camera's acquisition loop asks the
sequencer to set up that frame (focus, light source, filter), as a triggering
controller does on real hardware. Microscopes whose hardware cannot sequence have no
sequencer, and plans fall back to one software trigger per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SequencedFrame:
    """How the hardware is set for one frame of a burst."""

    z_um: float
    source: str
    intensity_percent: float
    filter_position: int
    exposure_ms: float


@runtime_checkable
class FrameSequencer(Protocol):
    """Sets the hardware up for each frame of a burst."""

    async def apply(self, frame: SequencedFrame) -> None:
        """Move focus, select the source and filter, switch the light on."""
        ...

    async def finish(self) -> None:
        """Switch the light off at the end of a burst."""
        ...

    def moved_z_um(self) -> float:
        """The focus position reached for the last frame (measured, not requested)."""
        ...
