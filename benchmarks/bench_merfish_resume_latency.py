"""Resume latency of a MERFISH experiment: from ``hcs merfish resume`` to its first new image.

Each repeat starts a small 4-round experiment on the simulated microscope (fluidics
included) with ``hcs merfish run``, kills it with ``kill -9`` in the middle of round
1's first field, then starts ``hcs merfish resume`` and measures the time from its
launch to the first new frame file in the data directory. The resume has to start
Python, read the protocol and the journal, open the data directory (closing the
crashed run), wait until the catalog holds that run, reconcile the unit in flight with
the catalog and re-take the field.

The peer, measured in the same invocation on the same machine: ``hcs acquire`` of a
one-field acquisition from launch to its first frame file (start Python, read the
files, open the data directory, take the first image): what any acquisition costs
before its first image. Printed: each figure's median and the ratio resume / acquire.

Run on demand::

    .venv/bin/python benchmarks/bench_merfish_resume_latency.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "profile" / "merfish"
PORTS = {"wash": 1, "imaging": 2, "cleave": 3, "RO-1": 4, "RO-2": 5, "RO-3": 6, "RO-4": 7}
HCS = [sys.executable, "-m", "hcs_orchestrator.cli"]


def write_files(directory: Path) -> tuple[Path, Path, Path]:
    """A fast simulated microscope with fluidics, a small protocol, a one-field spec."""
    from hcs_devices.config import load_config
    from hcs_orchestrator.paths import DEFAULT_CONFIG

    base = load_config(DEFAULT_CONFIG)
    config = base.model_dump(mode="json")
    config["camera"]["sensor_width_px"] = config["camera"]["sensor_height_px"] = 256
    config["fluidics"] = {
        "valves": {"n_valves": 1, "ports_per_valve": 8, "sim_speed_factor": 100},
        "pump": {"tube_ul_per_rev": 31.5, "status_poll_s": 0.01},
        "reagents": {name: [[1, port]] for name, port in PORTS.items()},
    }
    config_path = directory / "microscope.yaml"
    config_path.write_text(yaml.safe_dump(config))
    protocol = yaml.safe_load((EXAMPLE / "protocol.yaml").read_text())
    image: dict[str, Any] = {}
    for step in protocol["round_template"]:
        if "volume_ul" in step:
            step["volume_ul"], step["rate_ul_min"] = 10.0, 1500.0
        if step["kind"] == "incubate":
            step["duration_s"] = 0.1
        if step["kind"] == "image":
            image = step["acquisition"]
    protocol["flow_parts"] = 25
    shutil.copy(EXAMPLE / "codebook.csv", directory / "codebook.csv")
    protocol_path = directory / "protocol.yaml"
    protocol_path.write_text(yaml.safe_dump(protocol, sort_keys=False))
    spec = dict(image)
    spec["sequence"] = dict(image["sequence"])
    spec["sequence"]["stage_positions"] = dict(spec["sequence"]["stage_positions"])
    spec["sequence"]["stage_positions"]["selected_wells"] = [[1], [1]]
    spec["sequence"]["stage_positions"]["well_points_plan"] = {"rows": 1, "columns": 1}
    spec["sequence"]["channels"] = [{"config": c} for c in ("Cy3", "Cy5", "GFP")]
    spec_path = directory / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    return config_path, protocol_path, spec_path


def frame_files(data_dir: Path) -> set[Path]:
    return set((data_dir / "frames").glob("*/*.tif"))


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout_s: float = 300
) -> float:
    """Wait (polling every 2 ms) until ``condition()``; the time it became true."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            raise RuntimeError(f"the process ended first (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        pause.wait(0.002)
    return time.monotonic()


def image_unit_started(journal: Path) -> bool:
    if not journal.exists():
        return False
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT unit_id FROM units WHERE unit_id LIKE '%/r1/s4/%'").fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:
        return False
    return bool(rows)


def resume_latency(directory: Path, config: Path, protocol: Path) -> float:
    data_dir = directory / "data"
    log = (directory / "hcs.log").open("ab")
    run = subprocess.Popen(
        [*HCS, "merfish", "run", str(protocol), "--config", str(config),
         "--data-dir", str(data_dir), "--no-wait"], stdout=log, stderr=log,
    )  # fmt: skip
    journal = data_dir / "merfish-journal.sqlite"
    wait_for(lambda: image_unit_started(journal) and bool(frame_files(data_dir)), run)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    before = frame_files(data_dir)
    start = time.monotonic()
    resume = subprocess.Popen(
        [*HCS, "merfish", "resume", "--data-dir", str(data_dir), "--no-wait"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        first = wait_for(lambda: bool(frame_files(data_dir) - before), resume)
    finally:
        resume.kill()
        resume.wait()
        log.close()
    return first - start


def acquire_latency(directory: Path, config: Path, spec: Path) -> float:
    data_dir = directory / "acquire"
    log = (directory / "acquire.log").open("ab")
    start = time.monotonic()
    process = subprocess.Popen(
        [*HCS, "acquire", str(spec), "--config", str(config), "--data-dir", str(data_dir)],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        first = wait_for(lambda: bool(frame_files(data_dir)), process)
    finally:
        process.kill()
        process.wait()
        log.close()
    return first - start


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description="MERFISH resume latency")
    parser.add_argument("--repeat", type=int, default=5, help="measurements of each")
    args = parser.parse_args()
    resumes: list[float] = []
    acquires: list[float] = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="hcs-bench-merfish-") as tmp:
            directory = Path(tmp)
            config, protocol, spec = write_files(directory)
            resumes.append(resume_latency(directory, config, protocol))
            acquires.append(acquire_latency(directory, config, spec))
        print(f"repeat {i + 1}: resume {resumes[-1]:.2f} s, acquire {acquires[-1]:.2f} s")
    resume_s, acquire_s = statistics.median(resumes), statistics.median(acquires)
    print(f"resume to first new image: median {resume_s:.2f} s (min {min(resumes):.2f})")
    print(f"hcs acquire to first image: median {acquire_s:.2f} s (min {min(acquires):.2f})")
    print(f"ratio resume / acquire: {resume_s / acquire_s:.2f}")


if __name__ == "__main__":
    main()
