"""Software sequencing: the camera sets each frame of a field up through the devices.

Where the hardware cannot step focus and channel through a burst by itself (a Squid
board's camera, triggered frame by frame, or a plate run asked to trigger in
software), the camera's acquisition loop still takes a field of view as one
prepared sequence: before each frame it asks this sequencer to move the focus, turn
the filter wheel and select the light, through the same devices a plan would command,
and then triggers the exposure itself. The plan sends one ``kickoff`` and one
``complete`` per field, as for a hardware-timed burst (decision 11).

Everything runs on the RunEngine's event loop, inside the run that owns the
microscope: each device still checks ownership, limits and ranges, and a pause or a
stop ends the camera's loop before the next frame, with the light off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from hcs_devices.filterwheel import FilterWheel
from hcs_devices.illumination import Illumination
from hcs_devices.memory_signals import read_now, write_now
from hcs_devices.sequencer import SequencedFrame
from hcs_devices.stage import Axis


class SoftwareSequencer:
    """Sets the microscope up for each frame of a field, device by device.

    The light goes off before anything moves and on again for the exposure (unless
    each trigger strobes it, as a Squid board does); it stays on between frames that
    change nothing. The focus and the filter wheel move at once, and the frame waits
    for the slower.

    Args:
        z: the focus axis the field's planes are taken on.
        filter_wheel: the emission filter wheel.
        illumination: the light sources.
        light_strobed: each exposure's trigger strobes the light: it is selected,
            never switched on here.
    """

    def __init__(
        self,
        z: Axis,
        filter_wheel: FilterWheel,
        illumination: Illumination,
        *,
        light_strobed: bool = False,
    ) -> None:
        self.z = z
        self.filter_wheel = filter_wheel
        self.illumination = illumination
        self.light_strobed = light_strobed
        self._z_target_um: float | None = None
        self._z_um: float | None = None
        self._lit = False

    async def apply(self, frame: SequencedFrame) -> None:
        """Light off if anything changes, move focus and filter, select and light the source."""
        ill = self.illumination
        changes: list[Coroutine[Any, Any, None]] = []
        if frame.z_um != self._z_target_um:
            changes.append(self.z.move_to(frame.z_um))
            self._z_target_um = frame.z_um
        if frame.filter_position != await read_now(self.filter_wheel.position):
            changes.append(self.filter_wheel.move_to(frame.filter_position))
        if frame.source != await read_now(ill.source):
            changes.append(write_now(ill.source, frame.source))
        if frame.intensity_percent != await read_now(ill.intensity_percent):
            changes.append(write_now(ill.intensity_percent, frame.intensity_percent))
        if changes:
            if self._lit:
                await write_now(ill.on, False)
                self._lit = False
            if len(changes) == 1:  # (a gather costs a task per part)
                await changes[0]
            else:
                await asyncio.gather(*changes)
            self._z_um = await read_now(self.z.user_readback)
        if not self.light_strobed and not self._lit:
            await write_now(ill.on, True)
            self._lit = True

    async def finish(self) -> None:
        """Light off; the next field sets every part up afresh."""
        self._lit = False
        self._z_target_um = self._z_um = None
        await write_now(self.illumination.on, False)

    def moved_z_um(self) -> float:
        """Where the focus axis arrived for the last frame (its readback)."""
        if self._z_um is None:
            raise RuntimeError("no frame has been set up since the last field ended")
        return self._z_um
