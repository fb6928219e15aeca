"""Registration of a round's images to round 1 by its fiducial-bead image."""

from __future__ import annotations

import numpy as np
from skimage.registration import phase_cross_correlation

from hcs_orchestrator.merfish.qc.spots import spot_response

#: Sub-pixel precision of the shift: 1 / this, in pixels.
UPSAMPLE = 20


def fiducial_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """The ``(row, col)`` shift, in pixels, that brings ``moving`` onto ``reference``.

    A point at ``p`` in ``moving`` lies at ``p + shift`` in ``reference``. Both images
    are bead images of the same field in different rounds; they are filtered to their
    spots first (so uneven background does not bias the correlation), then matched by
    phase cross-correlation to 1/20 px.

    Raises:
        ValueError: the two images differ in shape or are not 2-D.
    """
    if np.ndim(reference) != 2 or np.shape(reference) != np.shape(moving):
        raise ValueError(
            f"fiducial images: need two 2-D images of one shape, got "
            f"{np.shape(reference)} and {np.shape(moving)}"
        )
    shift, _, _ = phase_cross_correlation(
        spot_response(reference), spot_response(moving), upsample_factor=UPSAMPLE
    )
    return float(shift[0]), float(shift[1])
