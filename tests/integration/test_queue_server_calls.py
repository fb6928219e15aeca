"""Every user-facing plan, called the way the queue server calls it.

The plan's parameters arrive as JSON; bluesky-queueserver's own code describes the
namespace's plans and devices, validates the request against those descriptions, and
replaces device names by the devices (``prepare_plan``). The plans then run on a real
RunEngine with the simulated microscope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bluesky_queueserver.manager.profile_ops import (
    existing_plans_and_devices_from_nspace,
    prepare_plan,
    validate_plan,
)
from plate_harness import SessionHarness, open_test_session
from test_autofocus import af_config, go_to, well_xy
from test_plate_acquisition import plate_sequence

from hcs_devices.config import MicroscopeConfig
from hcs_devices.sim import specimen_of
from hcs_plans import (
    acquire_plate,
    calibrate_laser_autofocus,
    calibrate_plate_a1,
    contrast_autofocus,
    laser_autofocus,
)

pytestmark = pytest.mark.slow

USER_FACING_PLANS = {
    "acquire_plate": acquire_plate,
    "contrast_autofocus": contrast_autofocus,
    "calibrate_laser_autofocus": calibrate_laser_autofocus,
    "laser_autofocus": laser_autofocus,
    "calibrate_plate_a1": calibrate_plate_a1,
}


@pytest.fixture(scope="module")
def harness(
    profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    with open_test_session(af_config(profile_config), tmp_path_factory.mktemp("qs")) as h:
        yield h


@pytest.fixture(scope="module")
def queue_server(harness: SessionHarness) -> dict[str, Any]:
    """What the queue server knows of the namespace: plans and devices, described."""
    nspace: dict[str, Any] = dict(USER_FACING_PLANS, microscope=harness.microscope)
    plans, devices, plans_in_nspace, devices_in_nspace = existing_plans_and_devices_from_nspace(
        nspace=nspace
    )
    return {
        "allowed_plans": {"admin": plans},
        "allowed_devices": {"admin": devices},
        "plans_in_nspace": plans_in_nspace,
        "devices_in_nspace": devices_in_nspace,
    }


def run_as_queued(harness: SessionHarness, queue_server: dict[str, Any], request: str) -> Any:
    """Validate and prepare a JSON plan request as the queue server does, then run it."""
    plan = json.loads(request) | {"user_group": "admin"}
    ok, message = validate_plan(
        plan,
        allowed_plans=queue_server["allowed_plans"]["admin"],
        allowed_devices=queue_server["allowed_devices"]["admin"],
    )
    assert ok, message
    prepared = prepare_plan(plan, **queue_server)
    return harness.RE(prepared["callable"](*prepared["args"], **prepared["kwargs"]))


def test_queue_server_describes_every_user_facing_plan_and_the_microscope_devices(
    queue_server: dict[str, Any],
) -> None:
    (plans,) = queue_server["allowed_plans"].values()
    assert set(USER_FACING_PLANS) <= set(plans)
    (devices,) = queue_server["allowed_devices"].values()
    components = devices["microscope"].get("components", {})
    assert {"camera", "stage_", "illumination", "filter_wheel"} <= set(components)


def test_every_user_facing_plan_runs_when_called_with_json_parameters_and_device_names(
    harness: SessionHarness, queue_server: dict[str, Any]
) -> None:
    m = harness.microscope
    x, y = well_xy("C3")
    go_to(harness.RE, m, x, y, specimen_of(m).surface_z_um(x, y) + 4.0)
    starts = len([d for n, d in harness.documents if n == "start"])

    search = {"half_range_um": 12.0, "coarse_step_um": 3.0, "crop_px": 256}
    run_as_queued(
        harness,
        queue_server,
        json.dumps(
            {"name": "contrast_autofocus", "args": ["microscope"], "kwargs": {"settings": search}}
        ),
    )
    run_as_queued(
        harness,
        queue_server,
        '{"name": "calibrate_laser_autofocus", "args": ["microscope"]}',
    )
    run_as_queued(
        harness,
        queue_server,
        json.dumps(
            {
                "name": "laser_autofocus",
                "args": ["microscope"],
                "kwargs": {"settings": {"actuator": "stage"}, "channel": "DAPI"},
            }
        ),
    )
    run_as_queued(
        harness,
        queue_server,
        '{"name": "calibrate_plate_a1", "args": ["microscope"], "kwargs": {"well": "C3"}}',
    )
    sequence = plate_sequence(wells=([2], [2]), channels=(("DAPI", 2.0),), z_range=1.0)
    run_as_queued(
        harness,
        queue_server,
        json.dumps(
            {
                "name": "acquire_plate",
                "args": ["microscope"],
                "kwargs": {"spec": {"sequence": sequence, "experiment_id": "queued"}},
            }
        ),
    )
    new_starts = [d for n, d in harness.documents if n == "start"][starts:]
    assert [d["plan_name"] for d in new_starts] == [
        "contrast_autofocus",
        "calibrate_laser_autofocus",
        "laser_autofocus",
        "calibrate_plate_a1",
        "acquire_plate",
    ]
    # The stage sat on C3's centre: A1 is where the plate says (2 rows, 2 columns back).
    a1_x, a1_y = well_xy("A1")
    assert new_starts[-2]["a1_center_xy"] == pytest.approx([a1_x, a1_y], abs=0.5)
    assert new_starts[-1]["num_images"] == 2
    stops = {d["run_start"]: d for n, d in harness.documents if n == "stop"}
    assert all(stops[d["uid"]]["exit_status"] == "success" for d in new_starts)


def test_queued_plan_with_a_misspelt_setting_is_refused_by_name_before_it_runs(
    harness: SessionHarness, queue_server: dict[str, Any]
) -> None:
    starts = len([d for n, d in harness.documents if n == "start"])
    request = json.dumps(
        {
            "name": "acquire_plate",
            "args": ["microscope"],
            "kwargs": {"spec": {"sequence": plate_sequence(), "experiment_idd": "x"}},
        }
    )
    with pytest.raises(Exception, match="experiment_idd"):
        run_as_queued(harness, queue_server, request)
    assert len([d for n, d in harness.documents if n == "start"]) == starts
