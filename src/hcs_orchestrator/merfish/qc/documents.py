"""QC results as documents: one ``merfish_qc`` run per checked image run.

Each run has a ``rounds`` stream (one event per checked round of a field: spot counts
per bit, the shift against round 1, warnings) and a ``fields`` stream (one event per
decoded field: decoded molecules, blank and recovery rates, per-bit error rates,
flagged rounds). Nested values (counts per bit, warnings) are JSON text, so that every
column is a plain string or number in the catalog's event tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from event_model import compose_run

from hcs_orchestrator.merfish.qc.experiment import FieldResult, RoundResult
from hcs_orchestrator.merfish.qc.metrics import BitErrors

#: The QC runs' plan name.
QC_PLAN = "merfish_qc"
#: Start-document key of a QC run: ``{protocol_hash, source_run}``.
QC_KEY = "merfish_qc"
ROUNDS_STREAM = "rounds"
FIELDS_STREAM = "fields"
#: ``recovery_rate`` of a field whose molecules are not known.
UNKNOWN = -1.0

Emit = Callable[[str, dict[str, Any]], None]

_ROUND_KEYS = {
    "well": "string",
    "fov": "integer",
    "round": "integer",
    "spot_counts": "string",
    "shift_row_px": "number",
    "shift_col_px": "number",
    "warnings": "string",
}
_FIELD_KEYS = {
    "well": "string",
    "fov": "integer",
    "groups": "integer",
    "decoded": "integer",
    "blank_rate": "number",
    "recovery_rate": "number",
    "bit_errors": "string",
    "truth_bit_errors": "string",
    "flagged_rounds": "string",
    "warnings": "string",
}


def _data_keys(kinds: dict[str, str]) -> dict[str, Any]:
    return {k: {"dtype": t, "shape": [], "source": QC_PLAN} for k, t in kinds.items()}


def _rates(rates: dict[str, BitErrors] | None) -> str:
    if rates is None:
        return "{}"
    return json.dumps({b: [e.zero_to_one, e.one_to_zero] for b, e in rates.items()})


def round_row(result: RoundResult) -> dict[str, Any]:
    """The ``rounds`` event data of a checked round."""
    qc = result.qc
    return {
        "well": result.field[0],
        "fov": result.field[1],
        "round": qc.round,
        "spot_counts": json.dumps(qc.spot_counts),
        "shift_row_px": qc.shift_px[0],
        "shift_col_px": qc.shift_px[1],
        "warnings": json.dumps(list(qc.warnings)),
    }


def field_row(result: FieldResult) -> dict[str, Any]:
    """The ``fields`` event data of a decoded field."""
    d = result.decoding
    return {
        "well": result.field[0],
        "fov": result.field[1],
        "groups": d.groups,
        "decoded": d.decoded,
        "blank_rate": d.blank_rate,
        "recovery_rate": UNKNOWN if d.recovery_rate is None else d.recovery_rate,
        "bit_errors": _rates(d.bit_errors),
        "truth_bit_errors": _rates(d.truth_bit_errors),
        "flagged_rounds": json.dumps(sorted(d.flagged_rounds)),
        "warnings": json.dumps(list(d.warnings)),
    }


def emit_qc_run(
    emit: Emit,
    results: Sequence[RoundResult | FieldResult],
    *,
    experiment_id: str,
    protocol_hash: str,
    source_run: str,
) -> str:
    """Emit one QC run holding ``results``; return its uid."""
    bundle = compose_run(
        metadata={
            "plan_name": QC_PLAN,
            "experiment_id": experiment_id,
            QC_KEY: {"protocol_hash": protocol_hash, "source_run": source_run},
        }
    )
    emit("start", dict(bundle.start_doc))
    for stream, kinds, rows in (
        (ROUNDS_STREAM, _ROUND_KEYS, [round_row(r) for r in results if isinstance(r, RoundResult)]),
        (FIELDS_STREAM, _FIELD_KEYS, [field_row(r) for r in results if isinstance(r, FieldResult)]),
    ):
        if not rows:
            continue
        descriptor = bundle.compose_descriptor(name=stream, data_keys=_data_keys(kinds))
        emit("descriptor", dict(descriptor.descriptor_doc))
        for row in rows:
            event = descriptor.compose_event(
                data=row, timestamps=dict.fromkeys(row, bundle.start_doc["time"])
            )
            emit("event", dict(event))
    emit("stop", dict(bundle.compose_stop(exit_status="success")))
    return bundle.start_doc["uid"]
