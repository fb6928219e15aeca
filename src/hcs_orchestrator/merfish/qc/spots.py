"""Spot finding: bright diffraction-limited spots in one image, at sub-pixel positions."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max

#: Standard deviation of a spot's Gaussian profile, in pixels.
SPOT_SIGMA_PX = 1.2
#: A spot's filter response must exceed the noise's median by this many noise sigmas.
THRESHOLD_SIGMAS = 6.0
#: MAD to standard deviation of a normal distribution.
_MAD_TO_SIGMA = 1.4826


def spot_response(image: np.ndarray, sigma_px: float = SPOT_SIGMA_PX) -> np.ndarray:
    """The Laplacian-of-Gaussian response of an image: high on spots, zero on flat background.

    The LoG filter removes a smooth background by itself (its kernel sums to zero).
    """
    data = np.asarray(image, dtype=np.float32)
    return -ndimage.gaussian_laplace(data, sigma_px) * sigma_px**2


def noise_sigma(response: np.ndarray) -> float:
    """The noise level of a filter response, robust to the spots in it (MAD)."""
    median = float(np.median(response))
    return float(np.median(np.abs(response - median))) * _MAD_TO_SIGMA


def find_spots(
    image: np.ndarray,
    *,
    sigma_px: float = SPOT_SIGMA_PX,
    threshold_sigmas: float = THRESHOLD_SIGMAS,
    min_distance_px: int = 2,
) -> np.ndarray:
    """Spots in an image, as ``(n, 2)`` sub-pixel ``(row, col)`` positions.

    The image is filtered with a Laplacian of Gaussian matched to the spot size;
    local maxima above ``median + threshold_sigmas * noise`` of the response are spots;
    each is refined to sub-pixel by a parabola through the peak and its neighbours
    along each axis.

    Args:
        image: a 2-D image (any numeric dtype).
        sigma_px: the spots' Gaussian standard deviation in pixels.
        threshold_sigmas: how many noise standard deviations above the median.
        min_distance_px: two spots closer than this are one.

    Raises:
        ValueError: the image is not 2-D, or a parameter is out of range.
    """
    if np.ndim(image) != 2:
        raise ValueError(f"image: must be 2-D, got shape {np.shape(image)}")
    if not sigma_px > 0:
        raise ValueError(f"sigma_px: must be > 0, got {sigma_px}")
    if not threshold_sigmas > 0:
        raise ValueError(f"threshold_sigmas: must be > 0, got {threshold_sigmas}")
    response = spot_response(image, sigma_px)
    threshold = float(np.median(response)) + threshold_sigmas * noise_sigma(response)
    peaks = peak_local_max(
        response, min_distance=min_distance_px, threshold_abs=threshold, exclude_border=True
    )
    if peaks.size == 0:
        return np.zeros((0, 2))
    return _refine(response, peaks)


def _refine(response: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    rows, cols = peaks[:, 0], peaks[:, 1]
    centre = response[rows, cols]
    offsets = []
    for before, after in (
        (response[rows - 1, cols], response[rows + 1, cols]),
        (response[rows, cols - 1], response[rows, cols + 1]),
    ):
        curvature = before - 2 * centre + after
        safe = np.where(curvature < 0, curvature, -1.0)
        offsets.append(np.clip(0.5 * (before - after) / safe, -0.5, 0.5))
    return peaks.astype(float) + np.stack(offsets, axis=1)
