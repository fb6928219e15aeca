"""``calibrate_plate_a1``: the plate's A1 position taken from where the stage is now.

A plate never sits at exactly the same place on the stage. The microscopist centres a
well under the objective (in live view) and runs this plan: it reads the stage's x and
y, works out where A1's centre is from that well's place on the plate (its row and
column times the plate's well spacing), records the result as an event of the
``plate_calibration`` stream in a run of its own, and returns it. That position is
what an acquisition spec's ``a1_center_xy`` is.

It reads the stage through messages only; nothing moves.
"""

# No postponed annotations: the queue server reads these plans' signatures as objects.
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from hcs_devices.microscope import Microscope
from hcs_plans.record_log import FieldSpec, RecordLog
from hcs_plans.stubs.read import rd

#: The stream the calibration is recorded in.
PLATE_CALIBRATION_STREAM = "plate_calibration"


@dataclass(frozen=True)
class PlateCalibration:
    """One plate calibration: the well centred, where the stage was, where A1 is (um)."""

    plate_format: str
    well: str
    stage_x_um: float
    stage_y_um: float
    a1_center_x_um: float
    a1_center_y_um: float


_FIELDS: dict[str, FieldSpec] = {
    "plate_format": ("string", None),
    "well": ("string", None),
    "stage_x_um": ("number", "um"),
    "stage_y_um": ("number", "um"),
    "a1_center_x_um": ("number", "um"),
    "a1_center_y_um": ("number", "um"),
}

#: The readable every calibration event is read from, fields ``plate_calibration-well``...
CALIBRATION_LOG = RecordLog(PLATE_CALIBRATION_STREAM, "hcs_plans.plate_calibration", _FIELDS)


def calibrate_plate_a1(
    microscope: Microscope,
    well: str = "A1",
    plate_format: str = "",
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[tuple[float, float]]:
    """Take the stage's x, y as the centre of ``well``; return A1's centre (um).

    Args:
        microscope: the microscope.
        well: the well centred under the objective now (``"A1"`` by default).
        plate_format: the plate format (``"96"``...); the configured specimen's if empty.
        metadata: extra start-document metadata.

    Returns:
        A1's centre on the stage, (x, y) in micrometres: an acquisition spec's
        ``a1_center_xy``.

    Raises:
        KeyError: an unknown plate format (the message lists the formats).
        ValueError: a well that is not on the plate (the message gives the range).
    """
    plate = microscope.config.plate(plate_format or None)
    row, column = plate.well_index(well)  # refused before anything is read
    name = plate_format or microscope.config.specimen.plate_format
    stage = microscope.stage_
    x_um = float((yield from rd(stage.x)))
    y_um = float((yield from rd(stage.y)))
    a1 = (x_um - column * plate.well_spacing_um, y_um - row * plate.well_spacing_um)
    record = PlateCalibration(name, well.upper(), x_um, y_um, *a1)
    md = {
        "plan_name": "calibrate_plate_a1",
        "plan_args": {"well": well, "plate_format": plate_format},
        "plate_format": name,
        "a1_center_xy": list(a1),
    }

    @bpp.run_decorator(md=md | (metadata or {}))
    def recorded() -> MsgGenerator[None]:
        CALIBRATION_LOG.record(record)
        yield from bps.create(PLATE_CALIBRATION_STREAM)
        yield from bps.read(CALIBRATION_LOG)
        yield from bps.save()

    yield from recorded()
    return a1
