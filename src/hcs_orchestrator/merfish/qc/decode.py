"""Barcode decoding: spots of every bit, in one frame, grouped and matched to a codebook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import KDTree

from hcs_devices.config.codebook import Codebook

#: Spots of different bits closer than this (px) are one molecule.
GROUP_RADIUS_PX = 1.5
#: Largest Hamming distance to a barcode that still decodes (one-bit correction).
MAX_DISTANCE = 1


@dataclass(frozen=True)
class Decoded:
    """Spot groups of one field and what each decoded to.

    Attributes:
        positions: ``(n, 2)`` mean ``(row, col)`` of each group, in round 1's frame.
        observed: ``(n, n_bits)`` the bits each group showed a spot in.
        entry: the codebook entry each group decoded to, -1 when rejected.
        distance: each group's Hamming distance to its nearest barcode.
        codebook: the codebook decoded against.
    """

    positions: np.ndarray
    observed: np.ndarray
    entry: np.ndarray
    distance: np.ndarray
    codebook: Codebook

    @property
    def accepted(self) -> np.ndarray:
        """Which groups decoded."""
        return self.entry >= 0

    @property
    def is_blank(self) -> np.ndarray:
        """Which groups decoded to a blank barcode."""
        blank = np.array([e.blank for e in self.codebook.entries], dtype=bool)
        return self.accepted & blank[np.maximum(self.entry, 0)]


def group_spots(
    spots: Mapping[str, np.ndarray], bit_names: tuple[str, ...], radius_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Spots of all bits grouped by position: ``(positions, observed bit vectors)``.

    Spots closer than ``radius_px`` join one group (transitively); a group's position
    is the mean of its spots, its bit vector has a 1 for every bit with a spot in it.

    Raises:
        KeyError: a bit of ``spots`` is not one of ``bit_names``.
    """
    index = {name: i for i, name in enumerate(bit_names)}
    unknown = sorted(set(spots) - set(index))
    if unknown:
        raise KeyError(f"spots: bits {unknown} are not in the codebook's {list(bit_names)}")
    parts = [np.asarray(p, dtype=float).reshape(-1, 2) for p in spots.values()]
    points = np.concatenate(parts) if parts else np.zeros((0, 2))
    bits = (
        np.concatenate(
            [np.full(len(p), index[b], dtype=np.int64) for b, p in zip(spots, parts, strict=True)]
        )
        if parts
        else np.zeros(0, np.int64)
    )
    n = len(points)
    if n == 0:
        return np.zeros((0, 2)), np.zeros((0, len(bit_names)), dtype=bool)
    pairs = KDTree(points).query_pairs(radius_px, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_groups, label = connected_components(graph, directed=False)
    counts = np.bincount(label, minlength=n_groups)
    positions = np.stack(
        [np.bincount(label, weights=points[:, k], minlength=n_groups) / counts for k in (0, 1)],
        axis=1,
    )
    observed = np.zeros((n_groups, len(bit_names)), dtype=bool)
    observed[label, bits] = True
    return positions, observed


def match_barcodes(
    observed: np.ndarray, codebook: Codebook, max_distance: int = MAX_DISTANCE
) -> tuple[np.ndarray, np.ndarray]:
    """Each bit vector's codebook entry (-1 if none or a tie) and its nearest distance.

    A vector decodes to the one barcode within ``max_distance`` bits of it; a vector
    with no barcode that close, or two at the same smallest distance, is rejected.
    """
    matrix = codebook.matrix().astype(bool)
    if observed.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    distances = (observed[:, None, :] != matrix[None, :, :]).sum(axis=2)
    best = distances.min(axis=1)
    ties = (distances == best[:, None]).sum(axis=1) > 1
    entry = np.where((best <= max_distance) & ~ties, distances.argmin(axis=1), -1)
    return entry.astype(np.int64), best.astype(np.int64)


def decode_spots(
    spots: Mapping[str, np.ndarray],
    codebook: Codebook,
    *,
    radius_px: float = GROUP_RADIUS_PX,
    max_distance: int = MAX_DISTANCE,
) -> Decoded:
    """Decode one field: spots per bit (already in round 1's frame) to codebook entries."""
    positions, observed = group_spots(spots, codebook.bit_names, radius_px)
    entry, distance = match_barcodes(observed, codebook, max_distance)
    return Decoded(positions, observed, entry, distance, codebook)
