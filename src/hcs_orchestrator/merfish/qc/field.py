"""QC of one field of view: per round (spots, shift) and, with every round, decoding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hcs_devices.config.codebook import Codebook
from hcs_orchestrator.merfish.qc.decode import Decoded, decode_spots
from hcs_orchestrator.merfish.qc.limits import QcLimits
from hcs_orchestrator.merfish.qc.metrics import (
    BitErrors,
    bit_error_rates,
    blank_rate,
    colocalisation,
    recovery_rate,
    truth_bit_errors,
)
from hcs_orchestrator.merfish.qc.registration import fiducial_shift
from hcs_orchestrator.merfish.qc.spots import find_spots


@dataclass(frozen=True)
class RoundImages:
    """A round's images of one field (each a 2-D image, e.g. a z projection).

    Attributes:
        round: the round, from 1.
        bits: bit name -> image of the channel reading that bit.
        fiducial: the fiducial-bead image.
    """

    round: int
    bits: Mapping[str, np.ndarray]
    fiducial: np.ndarray


@dataclass(frozen=True)
class RoundQc:
    """One round of one field: spots per bit and the shift against round 1.

    Attributes:
        round: the round, from 1.
        spot_counts: bit name -> spots found.
        shift_px: ``(row, col)`` shift bringing this round onto round 1 (px).
        warnings: what exceeded a limit.
        spots: bit name -> ``(n, 2)`` spot positions, already in round 1's frame.
    """

    round: int
    spot_counts: dict[str, int]
    shift_px: tuple[float, float]
    warnings: tuple[str, ...]
    spots: dict[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class FieldDecoding:
    """The decoding of one field, all rounds together.

    Attributes:
        groups: spot groups found (candidate molecules).
        decoded: groups that decoded (distance <= 1 to one barcode).
        blank_rate: decoded as a blank / decoded.
        recovery_rate: decoded correctly / molecules present (None without truth).
        bit_errors: per bit, its error rates among decoded molecules.
        truth_bit_errors: per bit, its error rates against the molecules present
            (None without truth).
        flagged_rounds: round -> why it is flagged (bits reading wrong).
        warnings: every warning of the field (flagged rounds, blank rate).
        result: the groups and their entries.
    """

    groups: int
    decoded: int
    blank_rate: float
    recovery_rate: float | None
    bit_errors: dict[str, BitErrors]
    truth_bit_errors: dict[str, BitErrors] | None
    flagged_rounds: dict[int, tuple[str, ...]]
    warnings: tuple[str, ...]
    result: Decoded = field(repr=False)


def round_qc(
    images: RoundImages, reference_fiducial: np.ndarray, limits: QcLimits | None = None
) -> RoundQc:
    """Spots per bit and the fiducial shift of one round of a field, with warnings."""
    limits = limits or QcLimits()
    shift = fiducial_shift(reference_fiducial, images.fiducial)
    spots: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    for bit, image in images.bits.items():
        found = find_spots(
            image, sigma_px=limits.spot_sigma_px, threshold_sigmas=limits.threshold_sigmas
        )
        spots[bit] = found + np.asarray(shift)
        if len(found) < limits.min_spots_per_bit:
            warnings.append(
                f"round {images.round}: {bit} has {len(found)} spots "
                f"(fewer than min_spots_per_bit={limits.min_spots_per_bit})"
            )
    magnitude = float(np.hypot(*shift))
    if magnitude > limits.max_shift_px:
        warnings.append(
            f"round {images.round}: registration shift {magnitude:.1f} px "
            f"(more than max_shift_px={limits.max_shift_px})"
        )
    return RoundQc(
        round=images.round,
        spot_counts={b: len(s) for b, s in spots.items()},
        shift_px=shift,
        warnings=tuple(warnings),
        spots=spots,
    )


def decode_field(
    rounds: Mapping[int, RoundQc],
    codebook: Codebook,
    limits: QcLimits | None = None,
    *,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
) -> FieldDecoding:
    """Decode a field from its rounds' spots; flag rounds whose bits read wrong.

    A round is flagged when one of its bits disagrees with the molecules present, when
    the truth is known (any wrong readout, even one exchanged with another round's);
    when one of its bits shows the same molecules as a bit of another round (a round
    given another round's readout mix: both rounds are named, the images cannot tell
    which of the two is right); or, when neither check flagged a round, when one of its
    bits reads wrong too often among the decoded molecules (a readout that partly
    failed). That last check is skipped once a round is wrong outright, because a wrong
    round makes molecules decode to wrong barcodes, whose bits then look wrong in the
    right rounds too.

    Args:
        rounds: round -> its :func:`round_qc` (every bit of the codebook in one of them).
        codebook: the experiment's codebook.
        limits: the thresholds.
        truth: ``(positions, entries)`` of the molecules present, in round 1's pixel
            frame, when known (a simulation): gives the recovery rate.

    Raises:
        ValueError: a bit of the codebook was read in no round.
    """
    limits = limits or QcLimits()
    spots = {bit: s for r in rounds.values() for bit, s in r.spots.items()}
    missing = [b for b in codebook.bit_names if b not in spots]
    if missing:
        raise ValueError(f"rounds: bits {missing} of the codebook were read in no round")
    result = decode_spots(spots, codebook, radius_px=limits.group_radius_px)
    n_decoded = int(result.accepted.sum())
    errors = bit_error_rates(result)
    round_of = {bit: r.round for r in rounds.values() for bit in r.spots}
    flagged: dict[int, list[str]] = {}

    def flag_bits(rates: dict[str, BitErrors], among: str) -> None:
        for bit, rate in rates.items():
            if rate.worst > limits.max_bit_error_rate:
                flagged.setdefault(round_of[bit], []).append(
                    f"round {round_of[bit]}: {bit} reads wrong in {rate.worst:.0%} of {among} "
                    f"(0->1 {rate.zero_to_one:.0%}, 1->0 {rate.one_to_zero:.0%}; "
                    f"max_bit_error_rate={limits.max_bit_error_rate})"
                )

    truth_errors = None
    if truth is not None:
        truth_errors = truth_bit_errors(
            spots, codebook, *truth, match_radius_px=limits.group_radius_px
        )
        flag_bits(truth_errors, "the molecules present")
    for (a, b), shared in colocalisation(spots, radius_px=limits.group_radius_px).items():
        if round_of[a] != round_of[b] and shared > limits.max_colocalisation:
            for mine, other in ((a, b), (b, a)):
                flagged.setdefault(round_of[mine], []).append(
                    f"round {round_of[mine]}: {mine} shows the same molecules as {other} of "
                    f"round {round_of[other]} ({shared:.0%} of spots shared; "
                    f"max_colocalisation={limits.max_colocalisation}): one of the two rounds "
                    "had the other's readout"
                )
    if not flagged and n_decoded >= limits.min_decoded_for_rates:
        # Only when no round is wrong outright: a wrong round makes molecules decode to
        # wrong barcodes, which shows as errors in the bits of right rounds too.
        flag_bits(errors, "decoded molecules")
    blanks = blank_rate(result)
    warnings = [w for r in sorted(flagged) for w in flagged[r]]
    if blanks > limits.max_blank_rate:
        warnings.append(
            f"blank-barcode rate {blanks:.1%} (more than max_blank_rate={limits.max_blank_rate})"
        )
    return FieldDecoding(
        groups=len(result.entry),
        decoded=n_decoded,
        blank_rate=blanks,
        recovery_rate=None if truth is None else recovery_rate(result, *truth),
        bit_errors=errors,
        truth_bit_errors=truth_errors,
        flagged_rounds={r: tuple(w) for r, w in sorted(flagged.items())},
        warnings=tuple(warnings),
        result=result,
    )
