"""The dry run's estimate against the real run, on the simulated microscope.

Run as a script: ``.venv/bin/python benchmarks/bench_dry_run_estimate.py``.

For each spec below (the demo plate, burst and software-triggered; one channel without
z; a deep z stack; a time-lapse with waits), a user's two commands, each in a new
process as a user runs them:

- ``hcs acquire SPEC --dry-run``: the estimate (it measures the simulated camera's
  rendering first, then models exposures, readout, focus and filter moves, stage moves,
  messages and waits: :mod:`hcs_plans.estimate`);
- ``hcs acquire SPEC``: the run, whose duration is what its summary prints (the run's
  start to its stop document).

Target: every estimate within 10 % of its run. The machine may be shared: the load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from hcs_orchestrator import DEMO_SPEC

TARGET = 0.10
HCS = str(Path(sys.executable).with_name("hcs"))


def specs() -> dict[str, dict[str, Any]]:
    """The specs measured, by name."""
    demo = yaml.safe_load(DEMO_SPEC.read_text())
    seq = demo["sequence"]
    one_well = {**seq["stage_positions"], "selected_wells": [[1], [1]]}
    return {
        "demo, bursts": demo,
        "demo, software triggers": {**demo, "hardware_sequencing": False},
        "one channel, no z": {
            **demo,
            "sequence": {**seq, "channels": [{"config": "GFP"}], "z_plan": None},
        },
        "9 planes, binning 4": {
            **demo,
            "binning": 4,
            "sequence": {**seq, "z_plan": {"range": 8, "step": 1}},
        },
        "time-lapse, 3 x 3 s": {
            **demo,
            "sequence": {
                **{k: v for k, v in seq.items() if k != "z_plan"},
                "stage_positions": one_well,
                "time_plan": {"interval": 3, "loops": 3},
            },
        },
    }


def hcs(*args: str) -> str:
    done = subprocess.run([HCS, *args], capture_output=True, text=True, check=True)
    return done.stdout


def estimated_s(planned: str) -> float:
    """The estimate a dry run printed, seconds."""
    return float(re.search(r"estimated duration: ([\d.]+) s", planned).group(1))  # type: ignore[union-attr]


def ran_s(ran: str) -> float:
    """The run's duration its summary printed (start to stop document), seconds."""
    return float(re.search(r"images: +\d+ in ([\d.]+) s", ran).group(1))  # type: ignore[union-attr]


def measure(name: str, spec: dict[str, Any], work: Path) -> tuple[float, float]:
    """(estimated, actual) seconds of one spec."""
    path = work / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.yaml"
    path.write_text(yaml.safe_dump(spec))
    data_dir = work / path.stem
    planned = hcs("acquire", str(path), "--dry-run", "--data-dir", str(data_dir))
    ran = hcs("acquire", str(path), "--data-dir", str(data_dir))
    return estimated_s(planned), ran_s(ran)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'spec':28s} {'estimate s':>10s} {'run s':>8s} {'ratio':>7s}  within 10 %")
    misses = 0
    with tempfile.TemporaryDirectory(prefix="hcs-estimate-") as tmp:
        for name, spec in specs().items():
            estimate, actual = measure(name, spec, Path(tmp))
            ratio = estimate / actual
            ok = abs(ratio - 1.0) <= TARGET
            misses += not ok
            verdict = "yes" if ok else "NO"
            print(f"{name:28s} {estimate:10.1f} {actual:8.1f} {ratio:7.2f}  {verdict}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"{len(specs()) - misses} of {len(specs())} estimates within 10 % of the run")


if __name__ == "__main__":
    main()
