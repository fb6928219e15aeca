"""Decoding quality: recovery against ground truth, blank rate, per-bit error rates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial import KDTree

from hcs_devices.config.codebook import Codebook
from hcs_orchestrator.merfish.qc.decode import GROUP_RADIUS_PX, Decoded


@dataclass(frozen=True)
class BitErrors:
    """How often a bit read wrong among decoded molecules.

    Attributes:
        zero_to_one: fraction of decoded molecules whose barcode has a 0 in this bit
            that showed a spot in it anyway.
        one_to_zero: fraction of decoded molecules whose barcode has a 1 in this bit
            that showed no spot in it.
    """

    zero_to_one: float
    one_to_zero: float

    @property
    def worst(self) -> float:
        """The larger of the two rates."""
        return max(self.zero_to_one, self.one_to_zero)


def blank_rate(decoded: Decoded) -> float:
    """Molecules decoded as a blank barcode / all decoded (0 when none decoded)."""
    n = int(decoded.accepted.sum())
    return float(decoded.is_blank.sum()) / n if n else 0.0


def bit_error_rates(decoded: Decoded) -> dict[str, BitErrors]:
    """Per bit, the 0->1 and 1->0 error rates among the decoded molecules."""
    ok = decoded.accepted
    barcodes = decoded.codebook.matrix().astype(bool)[decoded.entry[ok]]
    seen = decoded.observed[ok]
    return {
        bit: _rates(barcodes[:, i], seen[:, i]) for i, bit in enumerate(decoded.codebook.bit_names)
    }


def recovery_rate(
    decoded: Decoded,
    truth_positions: np.ndarray,
    truth_entry: np.ndarray,
    *,
    match_radius_px: float = GROUP_RADIUS_PX,
) -> float:
    """Molecules decoded correctly / molecules present.

    A true molecule counts as recovered when the nearest decoded group lies within
    ``match_radius_px`` of it (in round 1's frame) and decoded to its codebook entry.

    Raises:
        ValueError: the truth arrays differ in length.
    """
    truth_positions = np.asarray(truth_positions, dtype=float).reshape(-1, 2)
    truth_entry = np.asarray(truth_entry)
    if len(truth_positions) != len(truth_entry):
        raise ValueError(f"truth: {len(truth_positions)} positions but {len(truth_entry)} entries")
    if len(truth_entry) == 0:
        return 1.0
    ok = decoded.accepted
    if not ok.any():
        return 0.0
    distance, nearest = KDTree(decoded.positions[ok]).query(truth_positions)
    hit = (distance <= match_radius_px) & (
        decoded.entry[ok][np.minimum(nearest, ok.sum() - 1)] == truth_entry
    )
    return float(hit.sum()) / len(truth_entry)


def _rates(expected: np.ndarray, seen: np.ndarray) -> BitErrors:
    return BitErrors(
        zero_to_one=float((seen & ~expected).sum() / max(1, (~expected).sum())),
        one_to_zero=float((expected & ~seen).sum() / max(1, expected.sum())),
    )


def truth_bit_errors(
    spots: Mapping[str, np.ndarray],
    codebook: Codebook,
    truth_positions: np.ndarray,
    truth_entry: np.ndarray,
    *,
    match_radius_px: float = GROUP_RADIUS_PX,
) -> dict[str, BitErrors]:
    """Per bit, how its spots disagree with the molecules known to be present.

    For a simulation, where the molecules are known: a molecule whose barcode has a 1
    in the bit and no spot of that bit within ``match_radius_px`` is a 1->0 error; one
    with a 0 and a spot is a 0->1 error. Unlike error rates among decoded molecules,
    this sees a round whose readouts were exchanged with another's, which a code closed
    under that exchange decodes without a single bit error (to the wrong genes).
    """
    truth_positions = np.asarray(truth_positions, dtype=float).reshape(-1, 2)
    matrix = codebook.matrix().astype(bool)[np.asarray(truth_entry)]
    column = {b: i for i, b in enumerate(codebook.bit_names)}
    rates: dict[str, BitErrors] = {}
    for bit, found in spots.items():
        found = np.asarray(found, dtype=float).reshape(-1, 2)
        if len(found) and len(truth_positions):
            distance, _ = KDTree(found).query(truth_positions)
            seen = distance <= match_radius_px
        else:
            seen = np.zeros(len(truth_positions), dtype=bool)
        rates[bit] = _rates(matrix[:, column[bit]], seen)
    return rates


def colocalisation(
    spots: Mapping[str, np.ndarray], *, radius_px: float = GROUP_RADIUS_PX
) -> dict[tuple[str, str], float]:
    """For each pair of bits, the fraction of the sparser bit's spots that the other shares.

    No two bits of a MERFISH code mark the same molecules, so a pair near 1 means two
    images show the same readout (a round given another round's readout mix).
    """
    trees = {b: KDTree(np.asarray(s, dtype=float).reshape(-1, 2)) for b, s in spots.items()}
    bits = list(spots)
    shared: dict[tuple[str, str], float] = {}
    for i, a in enumerate(bits):
        for b in bits[i + 1 :]:
            small, large = sorted((a, b), key=lambda k: trees[k].n)
            if trees[small].n == 0:
                shared[(a, b)] = 0.0
                continue
            distance, _ = trees[large].query(trees[small].data, distance_upper_bound=radius_px)
            shared[(a, b)] = float(np.isfinite(distance).sum() / trees[small].n)
    return shared
