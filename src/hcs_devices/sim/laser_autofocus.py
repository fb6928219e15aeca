"""The simulated laser autofocus sensor: a Gaussian spot displaced by defocus."""

from __future__ import annotations

import numpy as np

from hcs_devices.config.models import LaserAutofocusConfig
from hcs_devices.sim.camera import Scene
from hcs_devices.sim.specimen import Specimen


class SimLaserAutofocusBackend:
    """Spot images whose x position is ``centre + shift * (focus_z - surface_z)``.

    Beyond ``range_um`` of defocus the spot leaves the sensor (no spot).
    """

    def __init__(
        self, config: LaserAutofocusConfig, optics: Scene, specimen: Specimen, seed: int = 0
    ) -> None:
        self.config = config
        self.optics = optics
        self.specimen = specimen
        self._rng = np.random.default_rng([seed, 31337])
        self.captures = 0

    async def connect(self) -> None:
        """Nothing to open."""

    def defocus_um(self) -> float:
        """Focal plane minus sample surface at the current position."""
        x, y = self.optics.xy_um()
        return self.optics.focus_z_um() - self.specimen.surface_z_um(x, y)

    async def capture(self) -> np.ndarray:
        """One spot image."""
        cfg = self.config
        self.captures += 1
        h, w = cfg.sensor_height_px, cfg.sensor_width_px
        dz = self.defocus_um()
        image = self._rng.normal(100.0, 3.0, (h, w))
        if abs(dz) <= cfg.range_um:
            x0 = w / 2 + cfg.spot_shift_px_per_um * dz + self._rng.normal(0.0, cfg.noise_px)
            y0 = h / 2
            xs = np.arange(w)[None, :]
            ys = np.arange(h)[:, None]
            spot = np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * cfg.spot_sigma_px**2))
            image += 3000.0 * spot
        return np.clip(image, 0, 65535).astype(np.uint16)
