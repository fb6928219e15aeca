"""The simulated camera looking through a Squid-driven stage (real board or emulator).

With ``camera: {backend: sim}`` and the stage on a Squid board, frames show the
synthetic specimen at the positions the board reports, so plans can be exercised
against the emulator over a real serial line with images that follow the stage.
"""

from __future__ import annotations

from hcs_devices.squid.backends import SquidBackends


class SquidScene:
    """What the board reports, read without waiting (see ``sim.camera.Scene``)."""

    def __init__(self, backends: SquidBackends) -> None:
        self.backends = backends

    def xy_um(self) -> tuple[float, float]:
        """Stage x and y as last reported."""
        return self.backends.x.position_now(), self.backends.y.position_now()

    def focus_z_um(self) -> float:
        """Stage z plus the piezo's travel from the middle of its range."""
        return self.backends.z.position_now() + self.piezo_travel_um()

    def piezo_travel_um(self) -> float:
        """The piezo's travel from the middle of its range as last set (0 without one)."""
        piezo = self.backends.piezo
        if piezo is None:
            return 0.0
        return piezo._position_um - (piezo.low_um + piezo.high_um) / 2

    def light(self) -> tuple[str | None, float, bool]:
        """The selected source, its intensity and whether it is on."""
        ill = self.backends.illumination
        return ill.selected, ill.intensity_percent, ill.is_on

    def filter_position(self) -> int:
        """The filter wheel position (1 when there is no wheel)."""
        wheel = self.backends.filter_wheel
        return wheel.position_now() if wheel is not None else 1
