"""QC state of a whole experiment: each field's rounds as they arrive, then decoding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from hcs_devices.config.codebook import Codebook
from hcs_orchestrator.merfish.qc.collector import FieldId, RunImages
from hcs_orchestrator.merfish.qc.field import (
    FieldDecoding,
    RoundImages,
    RoundQc,
    decode_field,
    round_qc,
)
from hcs_orchestrator.merfish.qc.limits import QcLimits
from hcs_schema import FIDUCIAL_BIT

#: Ground truth of a field, when known: ``(positions (n, 2) in round 1's pixels, entries)``.
Truth = Callable[[str, int], tuple[np.ndarray, np.ndarray] | None]


@dataclass(frozen=True)
class RoundResult:
    """A round of a field, checked."""

    field: FieldId
    qc: RoundQc


@dataclass(frozen=True)
class FieldResult:
    """A field, decoded once every bit of the codebook was imaged."""

    field: FieldId
    decoding: FieldDecoding


@dataclass
class _Field:
    reference: np.ndarray | None = None
    images: dict[int, dict[str, dict[int, Path]]] = field(default_factory=dict)
    rounds: dict[int, RoundQc] = field(default_factory=dict)


def _projection(planes: dict[int, Path]) -> np.ndarray:
    """The maximum over a stack's z planes."""
    return np.max(np.stack([tifffile.imread(p) for _, p in sorted(planes.items())]), axis=0)


class ExperimentQc:
    """Checks each round of each field as its images arrive, and decodes full fields.

    A round is checked once round 1's fiducial image of its field is known (rounds
    that arrive earlier wait for it). A round imaged again (a resumed experiment) is
    checked again with every image known, and replaces the earlier result.

    Args:
        codebook: the experiment's codebook.
        limits: the QC thresholds.
        truth: the molecules present in a field, when known (a simulation).
    """

    def __init__(
        self, codebook: Codebook, limits: QcLimits | None = None, truth: Truth | None = None
    ) -> None:
        self.codebook = codebook
        self.limits = limits or QcLimits()
        self.truth = truth
        self._fields: dict[FieldId, _Field] = {}

    def add(self, images: RunImages) -> list[RoundResult | FieldResult]:
        """Check what one run imaged; return the results it completes."""
        results: list[RoundResult | FieldResult] = []
        touched: dict[FieldId, set[int]] = {}
        for (where, round_), bits in images.rounds.items():
            state = self._fields.setdefault(where, _Field())
            known = state.images.setdefault(round_, {})
            for bit, planes in bits.items():
                known.setdefault(bit, {}).update(planes)
            touched.setdefault(where, set()).add(round_)
        for where, rounds in sorted(touched.items()):
            results += self._check(where, rounds)
        return results

    def _check(self, where: FieldId, touched: set[int]) -> list[RoundResult | FieldResult]:
        state = self._fields[where]
        if state.reference is None:
            first = state.images.get(1, {})
            if FIDUCIAL_BIT not in first:
                return []  # checked when round 1's beads arrive
            state.reference = _projection(first[FIDUCIAL_BIT])
            touched = set(state.images)
        results: list[RoundResult | FieldResult] = []
        for round_ in sorted(touched):
            bits = state.images[round_]
            if FIDUCIAL_BIT not in bits:
                continue
            readouts = {b: _projection(p) for b, p in bits.items() if b != FIDUCIAL_BIT}
            images = RoundImages(round_, readouts, _projection(bits[FIDUCIAL_BIT]))
            state.rounds[round_] = round_qc(images, state.reference, self.limits)
            results.append(RoundResult(where, state.rounds[round_]))
        read = {b for r in state.rounds.values() for b in r.spots}
        if results and read >= set(self.codebook.bit_names):
            truth = self.truth(*where) if self.truth is not None else None
            decoding = decode_field(state.rounds, self.codebook, self.limits, truth=truth)
            results.append(FieldResult(where, decoding))
        return results
