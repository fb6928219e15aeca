"""What a run's start (and stop) document says about its images: plate, channels, colours."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hcs_storage.read.wells import is_well_name, row_name, split_well


@dataclass(frozen=True)
class RunInfo:
    """What a run's start document says about its images.

    Attributes:
        uid: the run's uid.
        experiment_id: the experiment the run belongs to.
        plate_format: the plate format (``"96"``), or None outside plates.
        plate_rows: the plate's row names (``A`` ... ``H``), or the rows imaged; empty
            outside plates (the run's fields are at named positions, e.g. ``P0``).
        plate_columns: the plate's column names (``1`` ... ``12``), or those imaged.
        channels: channel names in acquisition order.
        colours: channel name -> display colour ``#RRGGBB``.
        pixel_size_um: pixel size at the sample, binning included (um).
        start_time: epoch seconds of the run's start.
        stop_time: epoch seconds of its end (None while open).
    """

    uid: str
    experiment_id: str
    plate_format: str | None
    plate_rows: tuple[str, ...]
    plate_columns: tuple[str, ...]
    channels: tuple[str, ...]
    colours: dict[str, str] = field(default_factory=dict)
    pixel_size_um: float = 1.0
    start_time: float = 0.0
    stop_time: float | None = None

    @property
    def on_plate(self) -> bool:
        """Whether the run's fields are in a plate's wells (else at named positions)."""
        return bool(self.plate_rows)


def run_info(run: Any) -> RunInfo:
    """What a run's start (and stop) document says about its images."""
    start = run.metadata.get("start") or {}
    stop = run.metadata.get("stop") or {}
    microscope = start.get("microscope") or {}
    colours = {c["name"]: c.get("display_color", "#FFFFFF") for c in microscope.get("channels", [])}
    plate_format = start.get("plate_format")
    shape = (microscope.get("plate_formats") or {}).get(plate_format or "")
    if shape is None:
        positions = (start.get("sequence") or {}).get("stage_positions")
        shape = positions.get("plate") if isinstance(positions, dict) else None
    wells = [w for w in start.get("wells", []) if is_well_name(w)]
    if shape is not None:
        rows = tuple(row_name(i) for i in range(int(shape["rows"])))
        columns = tuple(str(i + 1) for i in range(int(shape["columns"])))
    elif plate_format is None:
        rows = columns = ()  # positions (a slide, a list of points): no plate's wells
    else:
        rows = tuple(sorted({split_well(w)[0] for w in wells}, key=lambda r: (len(r), r)))
        columns = tuple(sorted({split_well(w)[1] for w in wells}, key=int))
    return RunInfo(
        uid=start.get("uid", ""),
        experiment_id=start.get("experiment_id", ""),
        plate_format=plate_format,
        plate_rows=rows,
        plate_columns=columns,
        channels=tuple(start.get("channels", [])),
        colours=colours,
        pixel_size_um=float(start.get("pixel_size_um", 1.0)),
        start_time=float(start.get("time", 0.0)),
        stop_time=float(stop["time"]) if "time" in stop else None,
    )
