"""The simulated microscope's hardware sequencer (stage z, light and filter in step)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

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

    async def apply(self, frame: SequencedFrame) -> None:
        """Set focus, light and filter for one frame.

        The focus and the filter wheel are motors of their own: they move at once, and
        the frame waits for the slower.
        """
        o = self.optics
        moves: list[Coroutine[Any, Any, None]] = []
        if abs(o.z.position_now() - frame.z_um) > 1e-6:
            moves.append(o.z.move_to(frame.z_um, self.move_timeout_s))
        if o.filter_wheel.current != frame.filter_position:
            moves.append(o.filter_wheel.move_to(frame.filter_position))
        if len(moves) == 1:
            await moves[0]
        elif moves:
            await asyncio.gather(*moves)
        await o.illumination.select(frame.source, frame.intensity_percent)
        await o.illumination.set_on(True)

    async def finish(self) -> None:
        """Light off."""
        await self.optics.illumination.all_off()
        if self.after_burst is not None:
            await self.after_burst()

    def moved_z_um(self) -> float:
        """Where the focus axis is."""
        return self.optics.z.position_now()
