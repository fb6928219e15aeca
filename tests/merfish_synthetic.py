"""Synthetic MERFISH fields for QC tests: Gaussian spots of known molecules, beads, noise.

Made from the shared example design: ``design_codebook`` of 10 genes and 4 blanks at
8 bits (weight 4, distance 4); round r reads ``bit0{2r-1}`` in Cy3 and ``bit0{2r}`` in Cy5.
Molecules carry gene barcodes only (never a blank). Round r's images are shifted by a
known drift: a point at ``p`` in round 1 lies at ``p - shift[r]`` in round r.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hcs_devices.config.codebook import Codebook, design_codebook

GENES = tuple(f"Gene{i:02d}" for i in range(1, 11))
N_ROUNDS = 4
SHAPE = (256, 256)
SIGMA_PX = 1.2
BACKGROUND = 100.0
NOISE = 8.0
SPOT_PEAK = 400.0


def example_codebook() -> Codebook:
    """The design's example codebook (10 genes, 4 blanks, 8 bits)."""
    return design_codebook(GENES, n_blanks=4, n_bits=8, weight=4, min_distance=4, seed=0)


def bits_of_round(r: int) -> tuple[str, str]:
    """The (Cy3, Cy5) bits of round ``r``."""
    return f"bit{2 * r - 1:02d}", f"bit{2 * r:02d}"


@dataclass(frozen=True)
class SyntheticField:
    """A field's ground truth and its images.

    Attributes:
        positions: ``(n, 2)`` molecule positions in round 1's frame (row, col).
        entries: each molecule's codebook entry.
        shifts: round -> the ``(row, col)`` shift that registers it onto round 1.
        bit_images: round -> bit -> image.
        fiducials: round -> bead image.
    """

    positions: np.ndarray
    entries: np.ndarray
    shifts: dict[int, tuple[float, float]]
    bit_images: dict[int, dict[str, np.ndarray]]
    fiducials: dict[int, np.ndarray]


def _scatter(rng: np.random.Generator, n: int, margin: float, spacing: float) -> np.ndarray:
    points: list[np.ndarray] = []
    while len(points) < n:
        p = rng.uniform(margin, np.array(SHAPE) - margin)
        if all(np.hypot(*(p - q)) >= spacing for q in points):
            points.append(p)
    return np.array(points)


def render(points: np.ndarray, peaks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian spots at sub-pixel ``points`` over a flat background with noise."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    image = np.full(SHAPE, BACKGROUND)
    for (r, c), peak in zip(points, peaks, strict=True):
        r0, c0 = round(r), round(c)
        sl = (slice(max(0, r0 - 6), r0 + 7), slice(max(0, c0 - 6), c0 + 7))
        image[sl] += peak * np.exp(-((rows[sl] - r) ** 2 + (cols[sl] - c) ** 2) / (2 * SIGMA_PX**2))
    image += rng.normal(0.0, NOISE, SHAPE)
    return np.clip(image, 0, 65535).astype(np.uint16)


def make_field(
    seed: int = 0,
    *,
    n_molecules: int = 150,
    n_beads: int = 40,
    swap: dict[int, int] | None = None,
    lost: dict[str, float] | None = None,
) -> SyntheticField:
    """A field of random molecules imaged in every round, with a random drift.

    Args:
        seed: the random seed.
        n_molecules: molecules in the field.
        n_beads: fiducial beads.
        swap: round -> the round whose readout probes were in its tube instead (a
            swapped reagent: round 2 showing round 3's bits is ``{2: 3}``).
        lost: bit -> the fraction of its molecules that show no spot (a readout
            that bound poorly).
    """
    rng = np.random.default_rng(seed)
    codebook = example_codebook()
    genes = [i for i, e in enumerate(codebook.entries) if not e.blank]
    points = _scatter(rng, n_molecules + n_beads, margin=12.0, spacing=5.0)
    positions, beads = points[:n_molecules], points[n_molecules:]
    entries = rng.choice(genes, size=n_molecules)
    brightness = rng.uniform(0.6, 1.4, size=n_molecules)
    matrix = codebook.matrix().astype(bool)
    column = {b: i for i, b in enumerate(codebook.bit_names)}
    shifts = {1: (0.0, 0.0)}
    for r in range(2, N_ROUNDS + 1):
        shifts[r] = (float(rng.uniform(-4, 4)), float(rng.uniform(-4, 4)))
    bit_images: dict[int, dict[str, np.ndarray]] = {}
    fiducials: dict[int, np.ndarray] = {}
    for r in range(1, N_ROUNDS + 1):
        offset = np.asarray(shifts[r])
        shown = (swap or {}).get(r, r)
        bit_images[r] = {}
        for bit, shown_bit in zip(bits_of_round(r), bits_of_round(shown), strict=True):
            on = matrix[entries, column[shown_bit]]
            if lost and bit in lost:
                on &= rng.random(n_molecules) >= lost[bit]
            bit_images[r][bit] = render(positions[on] - offset, SPOT_PEAK * brightness[on], rng)
        fiducials[r] = render(beads - offset, np.full(n_beads, 1.5 * SPOT_PEAK), rng)
    return SyntheticField(positions, entries, shifts, bit_images, fiducials)
