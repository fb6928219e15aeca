"""``calibrate_plate_a1`` on a real session: A1 from the well centred now, or a clear refusal.

The stage is the simulated one; the plan runs on the session's RunEngine and its run is
recorded through the session's storage into the catalog.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bluesky.utils import MsgGenerator
from plate_harness import SessionHarness, open_test_session

from hcs_devices.config import MicroscopeConfig
from hcs_devices.navigation import MoveTo
from hcs_plans import calibrate_plate_a1
from hcs_plans.live import apply_command
from hcs_plans.plate_calibration import PLATE_CALIBRATION_STREAM
from hcs_storage.query import stream_columns

pytestmark = pytest.mark.slow  # system tests of a second or more each


@pytest.fixture(scope="module")
def harness(
    fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    with open_test_session(fast_profile_config, tmp_path_factory.mktemp("calibration")) as h:
        yield h


def calibrate(
    harness: SessionHarness, well: str = "A1", plate_format: str = ""
) -> tuple[float, float]:
    found: list[tuple[float, float]] = []

    def plan() -> MsgGenerator[None]:
        found.append((yield from calibrate_plate_a1(harness.microscope, well, plate_format)))

    harness.RE(plan())
    return found[0]


def test_a1_is_the_stage_position_less_the_named_wells_offset_on_that_plate_format(
    harness: SessionHarness,
) -> None:
    harness.RE(apply_command(harness.microscope, MoveTo(40000.0, 30000.0)))
    # On a 384-well plate wells are 4.5 mm apart: D7 is 3 rows down and 6 columns right.
    a1 = calibrate(harness, well="d7", plate_format="384")
    assert a1 == pytest.approx((40000.0 - 6 * 4500.0, 30000.0 - 3 * 4500.0), abs=0.01)

    harness.session.flush()
    start = next(d for n, d in reversed(harness.documents) if n == "start")
    assert start["plan_name"] == "calibrate_plate_a1"
    assert start["a1_center_xy"] == pytest.approx(list(a1))
    run = harness.session.catalog[start["uid"]]
    recorded = stream_columns(run, PLATE_CALIBRATION_STREAM, "plate_calibration-")
    assert (str(recorded["well"][0]), str(recorded["plate_format"][0])) == ("D7", "384")
    assert float(recorded["stage_x_um"][0]) == pytest.approx(40000.0, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"well": "I1"}, ValueError, "well 'I1' is not on this plate (wells A1..H12)"),
        ({"well": "A13"}, ValueError, "well 'A13' is not on this plate (wells A1..H12)"),
        ({"plate_format": "97"}, KeyError, "unknown plate format '97'; formats are"),
    ],
)
def test_calibration_refuses_a_well_or_plate_format_it_does_not_know_and_records_nothing(
    harness: SessionHarness, kwargs: dict[str, str], error: type[Exception], says: str
) -> None:
    before = len(harness.documents)
    with pytest.raises(error, match=says.replace("(", r"\(").replace(")", r"\)")):
        calibrate(harness, **kwargs)
    assert len(harness.documents) == before
