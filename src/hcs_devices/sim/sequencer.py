"""The simulated microscope's hardware sequencer (stage z, light and filter in step)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hcs_devices.sequencer import SequencedFrame
from hcs_devices.sim.camera import SimOptics


class SimSequencer:
    """Steps the simulated hardware frame by frame, as a triggering controller would."""

    def __init__(
        self,
        optics: SimOptics,
        after_burst: Callable[[], Awaitable[None]] | None = None,
        move_timeout_s: float = 10.0,
    ) -> None:
        self.optics = optics
        self.after_burst = after_burst
        self.move_timeout_s = move_timeout_s
        self.frames = 0

    async def apply(self, frame: SequencedFrame) -> None:
        """Set focus, light and filter for one frame."""
        o = self.optics
        if abs(o.z.position_now() - frame.z_um) > 1e-6:
            await o.z.move_to(frame.z_um, self.move_timeout_s)
        if o.filter_wheel.current != frame.filter_position:
            await o.filter_wheel.move_to(frame.filter_position)
        await o.illumination.select(frame.source, frame.intensity_percent)
        await o.illumination.set_on(True)
        self.frames += 1

    async def finish(self) -> None:
        """Light off."""
        await self.optics.illumination.all_off()
        if self.after_burst is not None:
            await self.after_burst()

    def moved_z_um(self) -> float:
        """Where the focus axis is."""
        return self.optics.z.position_now()
