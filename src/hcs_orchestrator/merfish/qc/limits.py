"""The QC's thresholds: when a round or a field earns a warning."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QcLimits(BaseModel):
    """Thresholds of the decoding QC (each exceeded one is a warning, per round or field).

    Attributes:
        min_spots_per_bit: fewer spots than this in a bit's image of a field (a
            readout that did not bind).
        max_shift_px: a registration shift against round 1's fiducials larger than
            this (the stage or the sample moved too far).
        max_bit_error_rate: a bit whose 0->1 or 1->0 error rate among decoded
            molecules is above this flags its round (a wrong or missing readout).
        max_colocalisation: two bits of different rounds sharing more than this
            fraction of their spots flag both rounds (one shows the other's readout).
        max_blank_rate: a field whose blank-barcode rate is above this.
        min_decoded_for_rates: per-bit error rates are judged only when at least this
            many molecules of the field decoded.
        spot_sigma_px: the spots' Gaussian standard deviation, in pixels.
        threshold_sigmas: spot detection threshold, in noise standard deviations.
        group_radius_px: spots of different bits closer than this are one molecule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min_spots_per_bit: int = Field(default=20, ge=0)
    max_shift_px: float = Field(default=20.0, gt=0)
    max_bit_error_rate: float = Field(default=0.15, gt=0, le=1)
    max_colocalisation: float = Field(default=0.9, gt=0, le=1)
    max_blank_rate: float = Field(default=0.01, ge=0, le=1)
    min_decoded_for_rates: int = Field(default=20, ge=1)
    spot_sigma_px: float = Field(default=1.2, gt=0, le=10)
    threshold_sigmas: float = Field(default=6.0, gt=0)
    group_radius_px: float = Field(default=1.5, gt=0, le=5)
