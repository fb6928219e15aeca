"""Plates against the instrument's speed limit, on the simulated microscope.

Run as a script: ``.venv/bin/python benchmarks/bench_speed_limit.py [--repeat 3]``.

Two plates, each at the simulated microscope's configured speeds (stage, focus,
filter wheel, camera frame rate):

- the demo plate (``hcs demo``'s spec on the shipped microscope: 3 wells x 4 fields x
  3 channels x 3 planes, 1024 x 1024 frames rendered from the synthetic specimen);
- a whole 96-well plate, 4 fields per well, 3 channels, one plane: 1 152 images. To
  run in a few minutes it uses a 512 x 512 sensor, 10 ms exposures and the camera's
  ``fast`` simulation (frames from a bank rendered once, with fresh noise).

For each: the instrument's lower bound (:mod:`hcs_plans.lower_bound`, from the
configuration alone), the dry run's estimate (:mod:`hcs_plans.estimate`, computed as
``hcs acquire --dry-run`` computes it), and the measured run (``hcs acquire`` in a new
process, its duration as its summary prints it: start to stop document; the median of
``--repeat`` runs). Printed with their parts:

- measured / lower bound (target <= 1.05);
- estimate / measured (target within 10 %);
- the gap between the measurement and the bound, split into what the estimate counts
  as software (rendering the simulated frames on this CPU, the plan's messages, opening
  and closing the run) and the rest.

The machine may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the dry-run benchmark's helpers
from bench_dry_run_estimate import hcs, ran_s
from hcs_orchestrator import DEFAULT_CONFIG, DEMO_SPEC
from hcs_orchestrator.preflight import check_acquisition, estimate, speed_limit
from hcs_plans.estimate import estimate_duration

TARGET_BOUND = 1.05
TARGET_ESTIMATE = 0.10
PLATE_SENSOR_PX = 512
PLATE_EXPOSURE_MS = 10.0


def plate_96() -> tuple[dict[str, Any], dict[str, Any]]:
    """(microscope configuration, spec) of the 96-well, 4-field, 3-channel plate."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["camera"].update(
        sensor_width_px=PLATE_SENSOR_PX, sensor_height_px=PLATE_SENSOR_PX, simulation="fast"
    )
    rows, columns = 8, 12
    spec = {
        "experiment_id": "plate-96",
        "sequence": {
            "axis_order": "tpgcz",
            "stage_positions": {
                "plate": 96,
                "a1_center_xy": [14380, 11240],
                "selected_wells": [
                    [r for r in range(rows) for _ in range(columns)],
                    [c for _ in range(rows) for c in range(columns)],
                ],
                "well_points_plan": {"rows": 2, "columns": 2, "overlap": 10},
            },
            "channels": [
                {"config": name, "exposure": PLATE_EXPOSURE_MS} for name in ("DAPI", "GFP", "Cy3")
            ],
        },
    }
    return config, spec


def plates() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The plates measured, by name: (microscope configuration, spec)."""
    demo = (yaml.safe_load(DEFAULT_CONFIG.read_text()), yaml.safe_load(DEMO_SPEC.read_text()))
    return {"demo plate": demo, "96 wells x 4 fields x 3 channels": plate_96()}


def parts(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in values.items() if v >= 0.05)


def load() -> str:
    return f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"


def measure(
    name: str, config: dict[str, Any], spec: dict[str, Any], work: Path, repeat: int
) -> tuple[float, float]:
    """Print one plate's figures; return (measured / bound, estimate / measured)."""
    stem = "".join(c if c.isalnum() else "-" for c in name.lower())
    config_path, spec_path = work / f"{stem}-microscope.yaml", work / f"{stem}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    spec_path.write_text(yaml.safe_dump(spec))
    checked = check_acquisition(spec_path, config_path, None)
    cfg, sp, table = checked.config, checked.spec, checked.table
    bound = speed_limit(cfg, sp, table)
    planned = estimate(cfg, sp, table)  # as the dry run computes it (rendering measured)
    unrendered = estimate_duration(cfg, table, hardware_timed=sp.hardware_sequencing)
    rendering_s = planned.total_s - unrendered.total_s
    runs: list[float] = []
    for k in range(repeat):
        print(f"  load average before run {k + 1}: {load()}", flush=True)
        out = hcs(
            "acquire",
            str(spec_path),
            "--config",
            str(config_path),
            "--data-dir",
            str(work / f"{stem}-{k}"),
        )
        runs.append(ran_s(out))
    measured = statistics.median(runs)
    software_s = rendering_s + planned.messages_s + planned.run_s
    gap = measured - bound.total_s
    print(f"{name}: {table.images} images")
    print(f"  lower bound      {bound.total_s:7.1f} s  ({parts(bound.parts())})")
    estimate_parts = {
        "frames": planned.frames_s,
        "focus": planned.focus_s,
        "filters": planned.filters_s,
        "stage": planned.stage_s,
        "messages": planned.messages_s,
        "waits": planned.waits_s,
        "run": planned.run_s,
    }
    print(f"  dry-run estimate {planned.total_s:7.1f} s  ({parts(estimate_parts)})")
    print(f"  measured         {measured:7.1f} s  (runs: {', '.join(f'{r:.1f}' for r in runs)})")
    ratio_bound, ratio_estimate = measured / bound.total_s, planned.total_s / measured
    met_bound = "met" if ratio_bound <= TARGET_BOUND else "NOT met"
    met_estimate = "met" if abs(ratio_estimate - 1) <= TARGET_ESTIMATE else "NOT met"
    print(f"  measured / lower bound: {ratio_bound:.3f} (target <= {TARGET_BOUND}: {met_bound})")
    print(f"  estimate / measured:    {ratio_estimate:.3f} (target within 10 %: {met_estimate})")
    print(
        f"  gap measured - bound {gap:.1f} s; the estimate's software in it: rendering the "
        f"simulated frames {rendering_s:.1f} s, messages {planned.messages_s:.1f} s, run "
        f"start/end {planned.run_s:.1f} s (together {software_s:.1f} s); left "
        f"{gap - software_s:.1f} s (waits between steps; load inflates them)"
    )
    without_render = (measured - rendering_s) / bound.total_s
    print(f"  (measured - rendering as estimated) / lower bound: {without_render:.3f}")
    return ratio_bound, ratio_estimate


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each plate (median)")
    parser.add_argument(
        "--plate", choices=["demo", "96"], action="append", help="only these plates"
    )
    args = parser.parse_args()
    chosen = {
        name: plate
        for name, plate in plates().items()
        if not args.plate or any(name.startswith(p) for p in args.plate)
    }
    with tempfile.TemporaryDirectory(prefix="hcs-speed-limit-") as tmp:
        for name, (config, spec) in chosen.items():
            measure(name, config, spec, Path(tmp), args.repeat)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
