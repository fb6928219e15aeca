"""The simulated sensor: photons to digital numbers, with shot and read noise.

Drawing four million Gaussian numbers per frame costs more than rendering it on a
small machine, so noise comes from a bank drawn once and read at a fresh random
offset for every frame. Shot noise and read noise combine into one Gaussian whose
variance is ``signal + read_noise**2`` (electrons), the usual sCMOS approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hcs_devices.config.models import CameraConfig

_BANK_EXTRA = 1 << 20


@dataclass(frozen=True)
class Collected:
    """What a sensor's pixels collected in an exposure, before the frame is read.

    Attributes:
        electrons: electrons per pixel (float32), at most the full well.
        sigma: the standard deviation of each pixel's noise, shot and read (float32).
    """

    electrons: np.ndarray
    sigma: np.ndarray


class Sensor:
    """Converts expected photons to a noisy, offset, saturating uint16 frame.

    Args:
        camera: the camera section of the configuration.
        seed: seed of the noise (frames are reproducible for a given seed and order).
    """

    def __init__(self, camera: CameraConfig, seed: int = 0) -> None:
        self.camera = camera
        self._rng = np.random.default_rng([seed, 104729])
        size = camera.sensor_width_px * camera.sensor_height_px + _BANK_EXTRA
        self._bank = self._rng.standard_normal(size, dtype=np.float32)

    def noise(self, n: int) -> np.ndarray:
        """``n`` standard-normal numbers from a fresh place in the bank (a view)."""
        start = int(self._rng.integers(0, self._bank.size - n))
        return self._bank[start : start + n]

    def digitize(self, photons: np.ndarray, gain: float = 1.0, binning: int = 1) -> np.ndarray:
        """A noisy frame in ADU from expected photons per pixel.

        Args:
            photons: expected photons per pixel (float32).
            gain: analogue gain multiplier on top of the conversion gain.
            binning: pixels summed per output pixel (read noise adds per sensor pixel).
        """
        return self.read(self.collect(photons, binning), gain)

    def collect(self, photons: np.ndarray, binning: int = 1) -> Collected:
        """What the pixels collect from expected photons, before the frame is read.

        Draws no noise: it may be done ahead of the exposure, in any order.

        Args:
            photons: expected photons per pixel (float32).
            binning: pixels summed per output pixel (read noise adds per sensor pixel).
        """
        cam = self.camera
        electrons = photons * np.float32(cam.quantum_efficiency)
        np.clip(electrons, 0, np.float32(cam.full_well_e * binning * binning), out=electrons)
        read_var = np.float32(cam.read_noise_e**2 * binning * binning)
        return Collected(electrons, np.sqrt(electrons + read_var))

    def read(self, collected: Collected, gain: float = 1.0) -> np.ndarray:
        """Read a frame out: its noise drawn now, in order (it uses ``collected`` up).

        Args:
            collected: what the pixels collected (:meth:`collect`).
            gain: analogue gain multiplier on top of the conversion gain.
        """
        cam = self.camera
        electrons, sigma = collected.electrons, collected.sigma
        sigma *= self.noise(electrons.size).reshape(electrons.shape)
        electrons += sigma
        scale = np.float32(gain / cam.gain_e_per_adu)
        electrons *= scale
        # The extra half ADU makes the truncating cast below round to nearest: without
        # it every frame (dark frames included) reads half an ADU low.
        electrons += np.float32(cam.offset_adu + 0.5)
        np.clip(electrons, 0, cam.max_value, out=electrons)
        return electrons.astype(np.uint16)


class FrameBank:
    """Pre-digitised frames replayed with fresh noise offsets: the fast camera path.

    Each bank frame is stored noiseless minus a noise floor; a frame is one bank
    frame plus a slice of pre-quantised noise, a single uint16 addition.
    """

    def __init__(self, sensor: Sensor, frames: list[np.ndarray], noise_adu: float = 8.0) -> None:
        cam = sensor.camera
        span = int(np.ceil(4 * noise_adu))
        self._bases = [
            np.clip(f.astype(np.float32) - span, 0, cam.max_value - 2 * span).astype(np.uint16)
            for f in frames
        ]
        n = max(b.size for b in self._bases) + _BANK_EXTRA
        rng = np.random.default_rng(1)
        noise = rng.normal(span, noise_adu, n)
        self._noise = np.clip(np.rint(noise), 0, 2 * span).astype(np.uint16)
        self._rng = rng
        self._next = 0

    def frame(self, out: np.ndarray | None = None) -> np.ndarray:
        """The next frame (cycling through the bank), into ``out`` if given."""
        base = self._bases[self._next % len(self._bases)]
        self._next += 1
        start = int(self._rng.integers(0, self._noise.size - base.size))
        noise = self._noise[start : start + base.size].reshape(base.shape)
        if out is None:
            out = np.empty_like(base)
        np.add(base, noise, out=out)
        return out
