"""The laser reflection autofocus sensor: a spot whose position tracks defocus.

An infrared laser reflects off the sample's surface (the coverslip or plate bottom)
onto a small camera; the spot moves sideways in proportion to the distance between the
objective's focal plane and that surface. Triggering the sensor captures an image and
measures the spot's position (intensity-weighted centroid along x).

With a calibration installed (:meth:`LaserAutofocusSensor.set_calibration`, usually
by the ``calibrate_laser_autofocus`` plan), every measurement also gives the
displacement from the in-focus position in micrometres and the correlation of the
spot's profile with the stored reference crop, which verifies a move.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np
from ophyd_async.core import (
    Array1D,
    AsyncStatus,
    StandardReadable,
    StandardReadableFormat,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from hcs_devices.autofocus.calibration import (
    PROFILE_HALF_WIDTH_PX,
    LaserAutofocusCalibration,
    profile_correlation,
    spot_profile,
)
from hcs_devices.connector import BackendConnector
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner


@runtime_checkable
class LaserAutofocusBackend(Protocol):
    """The sensor's hardware: a laser and a small camera."""

    async def connect(self) -> None:
        """Open the hardware (idempotent)."""
        ...

    async def capture(self) -> np.ndarray:
        """One image of the reflected spot (2-D array)."""
        ...


def spot_centroid(
    image: np.ndarray, threshold_fraction: float = 0.2, min_snr: float = 10.0
) -> tuple[float, float]:
    """(x centroid in pixels, integrated intensity above the background) of a spot image.

    The background is the image median; pixels below ``threshold_fraction`` of the peak
    above background are ignored. Returns ``(nan, 0.0)`` when there is no spot: when
    the peak of the column profile is less than ``min_snr`` times the profile's noise
    (so sensor noise alone never reads as a spot).
    """
    profile = image.astype(np.float64).sum(axis=0)
    profile -= np.median(profile)
    peak = profile.max()
    noise = 1.4826 * float(np.median(np.abs(profile)))  # robust sigma of the background
    if peak <= 0 or peak < min_snr * noise:
        return float("nan"), 0.0
    weights = np.where(profile > threshold_fraction * peak, profile, 0.0)
    total = weights.sum()
    x = float((weights * np.arange(profile.size)).sum() / total)
    return x, float(total)


class LaserAutofocusSensor(StandardReadable):
    """Measures the reflection spot: ``spot_x_px`` and ``spot_intensity`` on trigger.

    Calibration signals (configuration): ``um_per_px``, ``reference_x_px``,
    ``calibrated_range_um``, ``reference_profile``; NaN/empty until calibrated.
    Each trigger also reads ``displacement_um`` (NaN without a calibration or a spot),
    ``reference_correlation`` (the spot profile around the reference position against
    the reference crop) and ``spot_profile`` (that profile).

    Args:
        backend: the sensor hardware.
        owner: who may command the hardware now.
        name: device name.
    """

    def __init__(
        self,
        backend: LaserAutofocusBackend,
        *,
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        self.backend = backend
        self._owner = owner
        self.last_image: np.ndarray | None = None
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.spot_x_px, self._set_x = soft_signal_r_and_setter(float, float("nan"), units="px")
        with self.add_children_as_readables():
            self.spot_intensity, self._set_intensity = soft_signal_r_and_setter(float, 0.0)
            self.displacement_um, self._set_displacement = soft_signal_r_and_setter(
                float, float("nan"), units="um"
            )
            self.reference_correlation, self._set_correlation = soft_signal_r_and_setter(
                float, float("nan")
            )
            self.spot_profile, self._set_profile = soft_signal_r_and_setter(
                Array1D[np.float64], np.zeros(2 * PROFILE_HALF_WIDTH_PX + 1)
            )
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.um_per_px = soft_signal_rw(float, float("nan"), units="um/px")
            self.reference_x_px = soft_signal_rw(float, float("nan"), units="px")
            self.calibrated_range_um = soft_signal_rw(float, 0.0, units="um")
            self.reference_profile = soft_signal_rw(Array1D[np.float64], np.zeros(0))
        super().__init__(name=name, connector=BackendConnector(backend.connect))

    async def calibration(self) -> LaserAutofocusCalibration | None:
        """The installed calibration, or None when the sensor is not calibrated."""
        um_per_px = await self.um_per_px.get_value()
        reference = await self.reference_x_px.get_value()
        range_um = await self.calibrated_range_um.get_value()
        profile = await self.reference_profile.get_value()
        if not (math.isfinite(um_per_px) and math.isfinite(reference) and range_um > 0):
            return None
        return LaserAutofocusCalibration(
            um_per_px=um_per_px,
            reference_x_px=reference,
            range_um=range_um,
            reference_profile=tuple(float(v) for v in profile),
            half_width_px=max(1, (len(profile) - 1) // 2),
        )

    async def set_calibration(self, calibration: LaserAutofocusCalibration | None) -> None:
        """Install a calibration (None forgets it)."""
        self._owner.check(self.name or "laser_autofocus", "set_calibration")
        if calibration is None:
            await self.um_per_px.set(float("nan"))
            await self.reference_x_px.set(float("nan"))
            await self.calibrated_range_um.set(0.0)
            await self.reference_profile.set(np.zeros(0))
            return
        await self.um_per_px.set(calibration.um_per_px)
        await self.reference_x_px.set(calibration.reference_x_px)
        await self.calibrated_range_um.set(calibration.range_um)
        await self.reference_profile.set(np.asarray(calibration.reference_profile, np.float64))

    async def measure(self) -> tuple[float, float, np.ndarray]:
        """Capture and measure: (spot x px, intensity, image)."""
        self._owner.check(self.name or "laser_autofocus", "measure")
        image = await self.backend.capture()
        x, intensity = spot_centroid(image)
        self.last_image = image
        self._set_x(x)
        self._set_intensity(intensity)
        um_per_px = await self.um_per_px.get_value()
        reference_x = await self.reference_x_px.get_value()
        reference = await self.reference_profile.get_value()
        half_width = (len(reference) - 1) // 2 if len(reference) > 1 else PROFILE_HALF_WIDTH_PX
        centre = reference_x if math.isfinite(reference_x) else x
        if not math.isfinite(centre):
            centre = image.shape[-1] / 2
        profile = spot_profile(image, centre, half_width)
        self._set_profile(profile)
        self._set_displacement((x - reference_x) * um_per_px)
        self._set_correlation(
            profile_correlation(profile, reference) if len(reference) else float("nan")
        )
        return x, intensity, image

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        """Capture an image and update the spot signals."""
        await self.measure()
