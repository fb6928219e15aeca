"""A whole 1536-well plate in one run: does anything grow with the run?

Run as a script: ``.venv/bin/python benchmarks/bench_scale.py [--fields 2] [--channels 4]``.

A zero-latency simulated microscope (instant stage and filter wheel, 0.1 ms exposures,
a 64 x 64 sensor in the simulation's fast mode) acquires every well of a 1536-well
plate, ``--fields`` x ``--fields`` fields of view per well, ``--channels`` channels:
24,576 images by default, in one run, through the whole stack (RunEngine, camera,
frame writer, spool, forwarder, embedded Tiled catalog). Printed:

- the per-image time of each tenth of the run (target: the last tenth within 10 % of
  the first), and the process's memory at each tenth: its RSS and the Python heap's
  blocks (target: flat after the first tenth, the last within 2 % of the second);
- the spool's size at the end, and how long the catalog takes to catch up after the
  run's last document;
- on that run: ``well_fields`` for one well, ``frame_table`` of the whole run,
  ``find_runs`` by well and channel (target: each under 1 s);
- the OME-Zarr export's time per image for a 96-well run and for the 1536-well run,
  with a progress bar (target: within 20 %);
- the dry run (``hcs acquire --dry-run``) of the 1536-well spec, as a user runs it
  (target: under 2 s).

The machine may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the instant microscope's script
from bench_acquisition_overhead import instant_config
from hcs_devices.config import load_config
from hcs_orchestrator import DEFAULT_CONFIG
from hcs_orchestrator.progress import image_progress
from hcs_orchestrator.session import open_session
from hcs_plans import acquire_plate, spec_from_data
from hcs_storage.export import export_ome_zarr
from hcs_storage.query import find_runs, frame_table, well_fields
from hcs_storage.spool import spool_dir

CHANNELS = ("DAPI", "GFP", "Cy3", "Cy5")
PLATES = {"96": ([14380.0, 11240.0], "B3"), "1536": ([11005.0, 7865.0], "P24")}
HCS = str(Path(sys.executable).with_name("hcs"))
SENSOR_PX = 64
#: Growth of the memory from the second tenth of the run to the last that counts as flat.
MEMORY_GROWTH = 0.02


def spec_data(plate: str, fields: int, channels: int) -> dict[str, Any]:
    """Every well of a plate, ``fields`` x ``fields`` fields each, 0.1 ms exposures."""
    a1, _ = PLATES[plate]
    return {
        "experiment_id": f"scale-{plate}",
        "clip_to_well": False,
        "hardware_sequencing": True,
        "sequence": {
            "stage_positions": {
                "plate": int(plate),
                "a1_center_xy": a1,
                "well_points_plan": {
                    "rows": fields,
                    "columns": fields,
                    "overlap": 0,
                    "fov_width": 100.0,
                    "fov_height": 100.0,
                },
            },
            "channels": [{"config": c, "exposure": 0.1} for c in CHANNELS[:channels]],
        },
    }


class Sampler:
    """When the run's images passed each tenth of the run, as the run goes.

    It keeps a sample at the start and at each tenth only: the benchmark itself holds
    nothing per image (its memory is in the figures).

    Args:
        total: the images the run takes.
    """

    def __init__(self, total: int) -> None:
        self.marks = [total * k // 10 for k in range(11)]
        # (wall time, this process's CPU time, images announced so far)
        self.images: list[tuple[float, float, int]] = []
        self.count = 0

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "stream_datum" and doc.get("descriptor"):
            self.count = max(self.count, int(doc["indices"]["stop"]))
            taken = len(self.images)
            if taken < len(self.marks) and (not taken or self.count >= self.marks[taken]):
                self.images.append((time.perf_counter(), time.process_time(), self.count))


def rss_mb() -> float:
    """This process's resident memory, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def tenths(
    sampler: Sampler, memory: list[tuple[float, float, int]]
) -> list[tuple[float, float, float, float]]:
    """(ms per image, CPU ms per image, peak RSS MB, peak Python heap blocks) per tenth.

    The CPU time is this process's (every thread: RunEngine, camera, writer, spool,
    forwarder, catalog); on a shared machine it moves much less than the wall time.
    The heap blocks are the Python objects' memory blocks (``sys.getallocatedblocks``):
    they grow with anything a run keeps per image, while the RSS also holds what the
    allocator keeps for reuse and the batches in flight.
    """
    out = []
    for first, last in itertools.pairwise(sampler.images):
        during = [(m, b) for t, m, b in memory if first[0] <= t <= last[0]]
        rss = max((m for m, _ in during), default=float("nan"))
        blocks = max((b for _, b in during), default=float("nan"))
        images = max(1, last[2] - first[2])
        out.append(
            (
                (last[0] - first[0]) / images * 1000,
                (last[1] - first[1]) / images * 1000,
                rss,
                blocks,
            )
        )
    return out


def timed(work: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def acquire(session: Any, plate: str, fields: int, channels: int) -> tuple[str, dict[str, Any]]:
    """Acquire one plate; the run's uid and what was measured."""
    spec = spec_from_data(spec_data(plate, fields, channels))
    sampler = Sampler(len(list(spec.sequence)))
    memory: list[tuple[float, float, int]] = []
    done = threading.Event()

    def sample_memory() -> None:
        while not done.wait(0.25):
            memory.append((time.perf_counter(), rss_mb(), sys.getallocatedblocks()))

    token = session.RE.subscribe(sampler)
    thread = threading.Thread(target=sample_memory, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        (uid,) = session.RE(acquire_plate(session.microscope, spec))
    finally:
        run_s = time.perf_counter() - start
        done.set()
        thread.join()
        session.RE.unsubscribe(token)
    _, catch_up_s = timed(lambda: session.flush(3600.0))
    gc.collect()
    return uid, {
        "images": sampler.count,
        "run_s": run_s,
        "catch_up_s": catch_up_s,
        "heap_blocks_caught_up": sys.getallocatedblocks(),
        "tenths": tenths(sampler, memory) if len(sampler.images) == 11 else [],
    }


def export_per_image_ms(run: Any, out: Path, label: str) -> float:
    images = int(run.metadata["start"]["num_images"])
    with image_progress() as bar:
        task = bar.add_task(f"export {label}", total=images)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        _, seconds = timed(lambda: export_ome_zarr(run, out, progress=progress))
    return seconds / images * 1000


def dry_run_s(plate: str, fields: int, channels: int, work: Path) -> float:
    """The dry run as a user runs it, on the shipped microscope with the run's sensor size.

    (With the shipped 2048 x 2048 sensor the full plate needs 200 GB, and the dry run
    rightly refuses a disk that has less.)
    """
    path = work / f"dry-{plate}.yaml"
    path.write_text(yaml.safe_dump(spec_data(plate, fields, channels)))
    shipped = load_config(DEFAULT_CONFIG)
    camera = shipped.camera.model_copy(
        update={"sensor_width_px": SENSOR_PX, "sensor_height_px": SENSOR_PX}
    )
    config = work / "microscope.yaml"
    config.write_text(
        yaml.safe_dump(shipped.model_copy(update={"camera": camera}).model_dump(mode="json"))
    )
    args = [HCS, "acquire", str(path), "--dry-run", "--config", str(config)]
    args += ["--data-dir", str(work / "dry")]
    _, seconds = timed(lambda: subprocess.run(args, check=True, capture_output=True))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=2, help="fields of view per well side")
    parser.add_argument("--channels", type=int, default=4, choices=range(1, 5))
    args = parser.parse_args()
    config = instant_config(load_config(DEFAULT_CONFIG), sensor_px=SENSOR_PX)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="hcs-scale-") as tmp:
        work = Path(tmp)
        with open_session(config, work / "data") as session:
            small_uid, small = acquire(session, "96", args.fields, args.channels)
            uid, big = acquire(session, "1536", args.fields, args.channels)
            spool_mb = dir_mb(spool_dir(work / "data"))
            catalog = session.catalog
            run = catalog[uid]
            well = PLATES["1536"][1]
            fields_found, well_s = timed(lambda: well_fields(run, well, "DAPI"))
            table, table_s = timed(lambda: frame_table(run))
            found, find_s = timed(lambda: list(find_runs(catalog, well=well, channel="DAPI")))
            small_ms = export_per_image_ms(catalog[small_uid], work / "small.zarr", "96")
            big_ms = export_per_image_ms(run, work / "big.zarr", "1536")
        dry_s = dry_run_s("1536", args.fields, args.channels, work)

    print(f"96-well run: {small['images']} images in {small['run_s']:.1f} s")
    print(f"1536-well run: {big['images']} images in {big['run_s']:.1f} s")
    print(f"{'tenth':>5s} {'ms/image':>9s} {'CPU ms':>7s} {'RSS MB':>8s} {'heap blocks':>12s}")
    for k, (ms, cpu_ms, rss, blocks) in enumerate(big["tenths"], start=1):
        print(f"{k:5d} {ms:9.2f} {cpu_ms:7.2f} {rss:8.0f} {blocks:12.0f}")
    if big["tenths"]:
        first, last = big["tenths"][0], big["tenths"][-1]
        print(
            f"last tenth / first tenth: {last[0] / first[0]:.2f} wall, "
            f"{last[1] / first[1]:.2f} CPU (target <= 1.10)"
        )
        # Flat after warm-up: the last tenth against the second.
        warm = big["tenths"][1]
        rss_growth, heap_growth = last[2] / warm[2] - 1, last[3] / warm[3] - 1
        flat = max(rss_growth, heap_growth) <= MEMORY_GROWTH
        print(
            f"memory, last tenth against the second: RSS {rss_growth:+.1%}, heap blocks "
            f"{heap_growth:+.1%} (target: flat, within {MEMORY_GROWTH:.0%}: "
            f"{'met' if flat else 'NOT met'})"
        )
    print(f"spool at the end: {spool_mb:.1f} MB")
    print(f"catalog caught up {big['catch_up_s']:.2f} s after the run's last document")
    if big["tenths"]:
        # What grew during the run and was only in flight to the catalog is released now.
        print(
            f"heap blocks once the catalog caught up: {big['heap_blocks_caught_up']} "
            f"({big['heap_blocks_caught_up'] / big['tenths'][1][3] - 1:+.1%} against the "
            "second tenth)"
        )
    print(f"well_fields({well!r}, DAPI): {len(fields_found)} fields in {well_s:.2f} s (target < 1)")
    print(f"frame_table: {len(table['well'])} rows in {table_s:.2f} s (target < 1)")
    print(f"find_runs(well={well!r}, channel='DAPI'): {len(found)} runs in {find_s:.2f} s")
    print(
        f"OME-Zarr export: {small_ms:.2f} ms/image (96 wells), {big_ms:.2f} ms/image "
        f"(1536 wells); ratio {big_ms / small_ms:.2f} (target within 20 %)"
    )
    print(f"dry run of the 1536-well spec: {dry_s:.2f} s as a command (target < 2)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
