"""Autofocus cost and accuracy per field of view, for each autofocus policy.

Runs ``acquire_plate`` on the simulated microscope (the shipped configuration's stage,
camera pixel and objective; a small sensor so rendering does not dominate) over a
row-by-row set of wells, one field of view per well, one DAPI image per field, on a
tilted, curved specimen with per-well focus offsets. For each policy it prints:

- autofocus time per field of view (mean of the ``autofocus`` stream's durations,
  focus-map measurement and laser calibration spread over the fields);
- frames per autofocus (camera frames for contrast, sensor frames for laser);
- the whole run's time per field of view, and its ratio to the peer (no autofocus);
- the largest |image z - true focal plane| against the depth of field.

Run on demand::

    .venv/bin/python benchmarks/bench_autofocus.py [--wells 24] [--sensor 512]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.run_engine import RunEngine, call_in_bluesky_event_loop

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.factory import build_microscope
from hcs_devices.sim import specimen_of
from hcs_devices.sim.render import FOCAL_SHIFT_UM_PER_NM
from hcs_devices.sim.specimen import DAPI
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

PROFILE = DEFAULT_CONFIG
A1_XY_UM = (14380.0, 11240.0)
CONTRAST = {"half_range_um": 9.0, "coarse_step_um": 3.0, "crop_px": 256}
FOCUS_MAP = {"method": "thin_plate_spline", "search_half_range_um": 30.0, "search_step_um": 5.0}
POLICIES: dict[str, dict[str, Any]] = {
    "none": {},
    "focus_map": {"method": "focus_map", "focus_map": FOCUS_MAP, "contrast": CONTRAST},
    "contrast/fov": {"method": "contrast", "contrast": CONTRAST | {"half_range_um": 12.0}},
    "contrast/fov+map": {"method": "contrast", "focus_map": FOCUS_MAP, "contrast": CONTRAST},
    "laser/fov": {"method": "laser"},
    "laser/fov+map": {"method": "laser", "focus_map": FOCUS_MAP | {"measure_with": "laser"}},
}


def bench_config(sensor_px: int) -> MicroscopeConfig:
    """The shipped microscope with a specimen that needs autofocus."""
    base = load_config(PROFILE)
    camera = base.camera.model_copy(
        update={"sensor_width_px": sensor_px, "sensor_height_px": sensor_px}
    )
    specimen = base.specimen.model_copy(
        update={
            "tilt_x_um_per_mm": 0.5,
            "tilt_y_um_per_mm": -0.4,
            "curvature_um_per_mm2": 0.006,
            "well_offset_rms_um": 2.5,
            "cells_per_mm2": 1500.0,
            "spots_per_cell": 0,
            "empty_wells": (),
        }
    )
    channels = tuple(
        c.model_copy(update={"exposure_ms": 2.0}) if c.name == "DAPI" else c for c in base.channels
    )
    return base.model_copy(update={"camera": camera, "specimen": specimen, "channels": channels})


def spec_data(wells: int, autofocus: dict[str, Any]) -> dict[str, Any]:
    names = [(r, c) for r in range(8) for c in range(12)][:wells]
    return {
        "sequence": {
            "stage_positions": {
                "plate": 96,
                "a1_center_xy": list(A1_XY_UM),
                "selected_wells": [[r for r, _ in names], [c for _, c in names]],
                "well_points_plan": {"rows": 1, "columns": 1},
            },
            "channels": [{"config": "DAPI", "exposure": 2.0}],
        },
        "autofocus": autofocus,
    }


def run_policy(config: MicroscopeConfig, wells: int, name: str) -> dict[str, float]:
    """One acquisition with one policy; its figures."""
    RE = RunEngine({}, call_returns_result=True)
    documents: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda n, d: documents.append((n, d)))
    with tempfile.TemporaryDirectory() as tmp:
        m = build_microscope(config, data_dir=tmp)
        call_in_bluesky_event_loop(m.connect())
        spec = spec_from_data(spec_data(wells, POLICIES[name]))
        x, y = A1_XY_UM
        start_z = specimen_of(m).surface_z_um(x, y) + 2.0
        RE(bps.mv(m.stage_.x, x, m.stage_.y, y, m.stage_.z, start_z))
        started = time.perf_counter()
        RE(acquire_plate(m, spec))
        elapsed = time.perf_counter() - started
        call_in_bluesky_event_loop(m.safe_state())
        m.close()
    descriptors = {d["uid"]: d["name"] for n, d in documents if n == "descriptor"}
    events = [(descriptors[d["descriptor"]], d["data"]) for n, d in documents if n == "event"]
    records = [e for s, e in events if s == "autofocus"]
    fields = [r for r in records if r["af-fov"] >= 0]
    attempted = [r for r in fields if r["af-attempted"]]
    images = [e for s, e in events if s == "primary"]
    shift = FOCAL_SHIFT_UM_PER_NM * (DAPI.emission_nm - 500.0)
    errors = [
        abs(e["frame-z_um"] - specimen_of(m).surface_z_um(e["frame-x_um"], e["frame-y_um"]) - shift)
        for e in images
    ]
    return {
        "run_s_per_fov": elapsed / wells,
        "af_s_per_fov": sum(r["af-duration_s"] for r in records) / wells,
        "frames_per_af": statistics.mean(r["af-frames"] for r in attempted) if attempted else 0.0,
        "failures": float(sum(not r["af-success"] for r in attempted)),
        "max_error_um": max(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wells", type=int, default=24)
    parser.add_argument("--sensor", type=int, default=512)
    args = parser.parse_args()
    config = bench_config(args.sensor)
    dof = config.active_objective.depth_of_field_um(DAPI.emission_nm, config.camera)
    print(
        f"{args.wells} wells, 1 field each, {args.sensor} px sensor, DAPI 2 ms; "
        f"depth of field {dof:.2f} um (in focus: error <= {dof / 2:.2f} um)"
    )
    print(
        f"{'policy':18} {'AF s/FOV':>9} {'frames/AF':>10} {'fails':>6} "
        f"{'run s/FOV':>10} {'vs none':>8} {'max |dz| um':>12}"
    )
    peer: float | None = None
    for name in POLICIES:
        r = run_policy(config, args.wells, name)
        peer = peer or r["run_s_per_fov"]
        print(
            f"{name:18} {r['af_s_per_fov']:9.3f} {r['frames_per_af']:10.1f} "
            f"{int(r['failures']):6d} {r['run_s_per_fov']:10.3f} "
            f"{r['run_s_per_fov'] / peer:8.2f} {r['max_error_um']:12.3f}"
        )


if __name__ == "__main__":
    main()
