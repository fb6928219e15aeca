"""Reading the QC back from the catalog: what ``hcs merfish status`` shows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hcs_orchestrator.merfish.qc.documents import (
    FIELDS_STREAM,
    QC_PLAN,
    ROUNDS_STREAM,
    UNKNOWN,
)
from hcs_storage.read.find import find_runs


@dataclass(frozen=True)
class RoundSummary:
    """The latest QC of one round of one field."""

    well: str
    fov: int
    round: int
    spot_counts: dict[str, int]
    shift_px: tuple[float, float]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class FieldSummary:
    """The latest decoding of one field."""

    well: str
    fov: int
    decoded: int
    blank_rate: float
    recovery_rate: float | None
    flagged_rounds: tuple[int, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class QcSummary:
    """An experiment's QC as the catalog holds it (later results replace earlier ones)."""

    rounds: tuple[RoundSummary, ...]
    fields: tuple[FieldSummary, ...]

    @property
    def flagged_rounds(self) -> tuple[int, ...]:
        """Rounds flagged in any field, or with a warning of their own."""
        flagged = {r for f in self.fields for r in f.flagged_rounds}
        flagged |= {r.round for r in self.rounds if r.warnings}
        return tuple(sorted(flagged))

    def lines(self) -> list[str]:
        """The summary as lines of text."""
        out = [f"decoding QC: {len(self.rounds)} rounds checked, {len(self.fields)} fields decoded"]
        for r in self.rounds:
            counts = ", ".join(f"{b} {n}" for b, n in r.spot_counts.items())
            out.append(
                f"  {r.well}/{r.fov} round {r.round}: spots {counts}; "
                f"shift ({r.shift_px[0]:+.2f}, {r.shift_px[1]:+.2f}) px"
            )
        for f in self.fields:
            recovery = "" if f.recovery_rate is None else f", recovery {f.recovery_rate:.1%}"
            out.append(
                f"  {f.well}/{f.fov} decoded {f.decoded}, blanks {f.blank_rate:.1%}{recovery}"
            )
        warnings = [w for r in self.rounds for w in r.warnings]
        warnings += [w for f in self.fields for w in f.warnings]
        out += [f"QC warning: {w}" for w in warnings]
        return out


def _rows(run: Any, stream: str) -> list[dict[str, Any]]:
    if stream not in run:
        return []
    table = run[stream].read()
    if hasattr(table, "to_dataframe"):
        table = table.to_dataframe()
    return [dict(row) for row in table.to_dict(orient="records")]


def qc_summary(catalog: Any, experiment: str) -> QcSummary:
    """The QC of an experiment (its ``experiment_id``), from the ``merfish_qc`` runs."""
    runs = find_runs(catalog, experiment_id=experiment, plan_name=QC_PLAN)
    ordered = sorted(runs.values(), key=lambda run: run.metadata["start"]["time"])
    rounds: dict[tuple[str, int, int], RoundSummary] = {}
    fields: dict[tuple[str, int], FieldSummary] = {}
    for run in ordered:
        for row in _rows(run, ROUNDS_STREAM):
            key = (str(row["well"]), int(row["fov"]), int(row["round"]))
            rounds[key] = RoundSummary(
                *key,
                spot_counts=json.loads(row["spot_counts"]),
                shift_px=(float(row["shift_row_px"]), float(row["shift_col_px"])),
                warnings=tuple(json.loads(row["warnings"])),
            )
        for row in _rows(run, FIELDS_STREAM):
            where = (str(row["well"]), int(row["fov"]))
            recovery = float(row["recovery_rate"])
            fields[where] = FieldSummary(
                *where,
                decoded=int(row["decoded"]),
                blank_rate=float(row["blank_rate"]),
                recovery_rate=None if recovery == UNKNOWN else recovery,
                flagged_rounds=tuple(json.loads(row["flagged_rounds"])),
                warnings=tuple(json.loads(row["warnings"])),
            )
    return QcSummary(
        rounds=tuple(rounds[k] for k in sorted(rounds)),
        fields=tuple(fields[k] for k in sorted(fields)),
    )
