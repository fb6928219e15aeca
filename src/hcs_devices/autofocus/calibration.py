"""Laser autofocus calibration: the model stored with a microscope, and its arithmetic.

A calibration says how far the reflection spot moves per micrometre of defocus
(measured by moving z a known distance), where the spot is when the sample is in
focus (the reference), what the spot looked like there (the reference crop, used to
verify a move), and over which range of defocus the linear relation was checked.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

#: Half width (pixels) of the spot profile crop around the reference position.
PROFILE_HALF_WIDTH_PX = 12


class LaserAutofocusCalibration(BaseModel):
    """A laser autofocus calibration (serialisable, so it can be kept with a plate).

    Attributes:
        um_per_px: defocus per pixel of spot shift (sign included): the spot at
            ``x`` px means the focal plane is ``(x - reference_x_px) * um_per_px``
            above the in-focus position.
        reference_x_px: spot position when in focus.
        range_um: the defocus range (either side) over which the relation was
            measured; larger displacements are refused.
        residual_rms_um: rms deviation of the calibration points from the line.
        reference_profile: the spot's column profile around ``reference_x_px`` when in
            focus (background removed), ``2 * half_width_px + 1`` values.
        half_width_px: half width of the profile crop.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    um_per_px: float
    reference_x_px: float
    range_um: float = Field(gt=0.0)
    residual_rms_um: float = Field(default=0.0, ge=0.0)
    reference_profile: tuple[float, ...]
    half_width_px: int = Field(default=PROFILE_HALF_WIDTH_PX, ge=1)

    def displacement_um(self, spot_x_px: float) -> float:
        """Defocus (focal plane above the in-focus position) for a spot position."""
        return (spot_x_px - self.reference_x_px) * self.um_per_px

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON."""
        Path(path).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LaserAutofocusCalibration:
        """Read a calibration written by :meth:`save`."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def spot_profile(
    image: np.ndarray, centre_px: float, half_width_px: int = PROFILE_HALF_WIDTH_PX
) -> np.ndarray:
    """The column profile of a spot image around ``centre_px``, background removed.

    Columns outside the image count as background (zero), so the profile always has
    ``2 * half_width_px + 1`` values.
    """
    profile = np.asarray(image, np.float64).sum(axis=0)
    profile = profile - np.median(profile)
    out = np.zeros(2 * half_width_px + 1)
    if not math.isfinite(centre_px):
        return out
    c = round(centre_px)
    for i in range(out.size):
        j = c - half_width_px + i
        if 0 <= j < profile.size:
            out[i] = profile[j]
    return out


def profile_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation (zero lag) of two profiles; 0 when either is flat."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.size == 0:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator > 0 else 0.0


def fit_calibration(
    z_um: list[float], spot_x_px: list[float], reference_z_um: float
) -> tuple[float, float, float]:
    """Fit spot position against z: (um per px, reference x at ``reference_z_um``, rms um).

    Raises:
        ValueError: fewer than two spots seen, or a spot that does not move with z.
    """
    pairs = [(z, x) for z, x in zip(z_um, spot_x_px, strict=True) if math.isfinite(x)]
    if len(pairs) < 2:
        raise ValueError(
            f"laser autofocus calibration: the spot was seen at {len(pairs)} of "
            f"{len(z_um)} positions; at least 2 are needed (is the sample surface in range?)"
        )
    z = np.array([p[0] for p in pairs])
    x = np.array([p[1] for p in pairs])
    slope_px_per_um, intercept = np.polyfit(z, x, 1)
    if abs(slope_px_per_um) < 1e-3:
        raise ValueError(
            "laser autofocus calibration: the spot did not move with z "
            f"({slope_px_per_um:.2g} px/um); check the sensor alignment"
        )
    residual = x - (slope_px_per_um * z + intercept)
    rms_um = float(np.sqrt(np.mean(residual**2))) / abs(slope_px_per_um)
    return (
        1.0 / float(slope_px_per_um),
        float(slope_px_per_um * reference_z_um + intercept),
        rms_um,
    )
