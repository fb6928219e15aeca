"""The XYZ stage with an optional objective piezo."""

from __future__ import annotations

from ophyd_async.core import StandardReadable

from hcs_devices.stage.axis import Axis


class Stage(StandardReadable):
    """X, Y and Z axes (and an optional piezo), each an :class:`Axis` in micrometres.

    Args:
        x: the X axis.
        y: the Y axis.
        z: the focus axis.
        piezo: the objective piezo, if fitted.
        name: device name.
    """

    def __init__(
        self, x: Axis, y: Axis, z: Axis, *, piezo: Axis | None = None, name: str = ""
    ) -> None:
        with self.add_children_as_readables():
            self.x = x
            self.y = y
            self.z = z
            if piezo is not None:
                self.piezo = piezo
        self.has_piezo = piezo is not None
        super().__init__(name=name)

    async def stop(self) -> None:
        """Stop every axis."""
        for axis in self.axes():
            await axis.stop(success=True)

    def axes(self) -> list[Axis]:
        """The axes that are fitted."""
        axes = [self.x, self.y, self.z]
        if self.has_piezo:
            axes.append(self.piezo)
        return axes
