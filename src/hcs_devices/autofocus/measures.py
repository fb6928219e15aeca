"""Focus measures: one number per image that peaks when the image is sharpest.

All three are normalised by the image mean (or its square), so a change of exposure
or illumination between frames of one sweep does not move the peak.

- ``normalized_variance``: variance / mean. Robust to noise, broad peak: the default.
- ``brenner``: mean squared difference of pixels two columns apart / mean^2. Sharper
  peak, more sensitive to noise at low light.
- ``laplacian_variance``: variance of the Laplacian of a Gaussian-smoothed image /
  mean^2. The narrowest peak; the smoothing keeps shot noise from dominating it.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

FocusMeasureName = Literal["normalized_variance", "brenner", "laplacian_variance"]
#: Every focus measure, by name.
FOCUS_MEASURES: tuple[str, ...] = get_args(FocusMeasureName)
#: Gaussian sigma (pixels) applied before the Laplacian.
LAPLACIAN_SMOOTHING_PX = 2.0


def centre_crop(image: np.ndarray, size_px: int) -> np.ndarray:
    """The central ``size_px`` x ``size_px`` region (or the whole image if smaller)."""
    h, w = image.shape[-2:]
    ch, cw = min(h, size_px), min(w, size_px)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return image[..., y0 : y0 + ch, x0 : x0 + cw]


def normalized_variance(image: np.ndarray) -> float:
    """Variance divided by the mean."""
    f = np.asarray(image, np.float64)
    mean = float(f.mean())
    return float(f.var() / mean) if mean > 0 else 0.0


def brenner(image: np.ndarray) -> float:
    """Brenner gradient: mean of (I[x + 2] - I[x])^2, divided by the mean squared."""
    f = np.asarray(image, np.float64)
    mean = float(f.mean())
    if mean <= 0 or f.shape[-1] < 3:
        return 0.0
    return float(((f[:, 2:] - f[:, :-2]) ** 2).mean() / mean**2)


def laplacian_variance(image: np.ndarray, smoothing_px: float = LAPLACIAN_SMOOTHING_PX) -> float:
    """Variance of the Laplacian of Gaussian (sigma ``smoothing_px``), / mean squared."""
    f = np.asarray(image, np.float64)
    mean = float(f.mean())
    if mean <= 0:
        return 0.0
    import scipy.ndimage  # here: reading a spec that names a measure needs no SciPy

    return float(scipy.ndimage.gaussian_laplace(f, smoothing_px).var() / mean**2)


def focus_measure(image: np.ndarray, name: FocusMeasureName = "normalized_variance") -> float:
    """The focus measure ``name`` of an image.

    Raises:
        ValueError: naming the measures there are, for an unknown name.
    """
    if name == "normalized_variance":
        return normalized_variance(image)
    if name == "brenner":
        return brenner(image)
    if name == "laplacian_variance":
        return laplacian_variance(image)
    raise ValueError(f"unknown focus measure {name!r}; measures are {list(FOCUS_MEASURES)}")
