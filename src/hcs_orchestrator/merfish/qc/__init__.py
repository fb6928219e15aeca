"""Decoding QC of a MERFISH experiment while it runs.

Pure image functions (spot finding, fiducial registration, barcode decoding, quality
figures), the per-round and per-field QC built on them, and a document callback that
runs them off the RunEngine's thread and writes the results into the catalog.
"""

from hcs_orchestrator.merfish.qc.callback import DecodingQc
from hcs_orchestrator.merfish.qc.decode import Decoded, decode_spots
from hcs_orchestrator.merfish.qc.experiment import ExperimentQc
from hcs_orchestrator.merfish.qc.field import (
    FieldDecoding,
    RoundImages,
    RoundQc,
    decode_field,
    round_qc,
)
from hcs_orchestrator.merfish.qc.limits import QcLimits
from hcs_orchestrator.merfish.qc.metrics import (
    BitErrors,
    bit_error_rates,
    blank_rate,
    recovery_rate,
)
from hcs_orchestrator.merfish.qc.registration import fiducial_shift
from hcs_orchestrator.merfish.qc.spots import find_spots
from hcs_orchestrator.merfish.qc.summary import QcSummary, qc_summary

__all__ = [
    "BitErrors",
    "Decoded",
    "DecodingQc",
    "ExperimentQc",
    "FieldDecoding",
    "QcLimits",
    "QcSummary",
    "RoundImages",
    "RoundQc",
    "bit_error_rates",
    "blank_rate",
    "decode_field",
    "decode_spots",
    "fiducial_shift",
    "find_spots",
    "qc_summary",
    "recovery_rate",
    "round_qc",
]
