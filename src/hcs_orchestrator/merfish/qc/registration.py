"""Registration of a round's images to round 1 by its fiducial-bead image."""

from __future__ import annotations

import numpy as np
from scipy.spatial import KDTree
from skimage.registration import phase_cross_correlation

from hcs_orchestrator.merfish.qc.spots import find_spots, spot_response

#: Sub-pixel precision of the correlation's shift: 1 / this, in pixels.
UPSAMPLE = 20
#: Beads of the two images closer than this (px, after the coarse shift) are one bead.
MATCH_RADIUS_PX = 1.5
#: Fewest matched beads for the bead-by-bead refinement.
MIN_BEADS = 3


def fiducial_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """The ``(row, col)`` shift, in pixels, that brings ``moving`` onto ``reference``.

    A point at ``p`` in ``moving`` lies at ``p + shift`` in ``reference``. Both images
    are bead images of the same field in different rounds. Phase cross-correlation of
    their spot-filtered images gives the shift to 1/20 px; the beads found in both are
    then paired at that shift and the median of their displacements refines it (bead
    centres are located to a few hundredths of a pixel, the correlation peak of sparse
    beads less well). With fewer than 3 paired beads the correlation's shift stands.

    Raises:
        ValueError: the two images differ in shape or are not 2-D.
    """
    if np.ndim(reference) != 2 or np.shape(reference) != np.shape(moving):
        raise ValueError(
            f"fiducial images: need two 2-D images of one shape, got "
            f"{np.shape(reference)} and {np.shape(moving)}"
        )
    coarse, _, _ = phase_cross_correlation(
        spot_response(reference), spot_response(moving), upsample_factor=UPSAMPLE
    )
    beads_ref, beads_mov = find_spots(reference), find_spots(moving) + coarse
    if len(beads_ref) >= MIN_BEADS and len(beads_mov) >= MIN_BEADS:
        distance, nearest = KDTree(beads_ref).query(beads_mov, distance_upper_bound=MATCH_RADIUS_PX)
        paired = np.isfinite(np.asarray(distance))
        if paired.sum() >= MIN_BEADS:
            partner = np.asarray(nearest, dtype=np.int64)[paired]
            residual = np.median(beads_ref[partner] - beads_mov[paired], axis=0)
            coarse = coarse + residual
    return float(coarse[0]), float(coarse[1])
