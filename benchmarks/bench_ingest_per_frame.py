"""Cost of registering one field's frames in the catalog, against the run's size so far.

Run as a script: ``.venv/bin/python benchmarks/bench_ingest_per_frame.py``. For each
N, a run like a plate's (one StreamResource for the camera, one StreamDatum per field
of view of ``--frames-per-field`` frames) is written into an embedded catalog through
hcs's run writer: the first N frames in large blocks (to get there quickly), then
``--fields`` more fields one flush each, as the forwarder does. It prints, per N, the
median CPU time (every thread of the process: client and server) of those
last requests and the bytes each sent. Frames are 8 x 8 pixels unless ``--side``
says otherwise; their files are not written (registering a frame does not read it).

The peer figure is the camera: a field of 4 frames at ~95 frames/s takes ~42 ms, so a
registration that costs more than that at a plate's size falls behind the acquisition.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "hcs_storage"))

from test_run_writer import PlateRun, record_registrations

from hcs_storage.catalog import close_catalog, frames_dir, open_catalog

PEER_FIELD_S = 4 / 95
#: Frames per request while the run is brought to its size.
FILL_BLOCK = 1024


def run_once(frames_before: int, fields: int, per_field: int, side: int = 8) -> tuple[float, float]:
    """Median CPU seconds and bytes per field registration after ``frames_before`` frames."""
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_catalog(Path(tmp))
        try:
            client = catalog.include_data_sources()
            bodies = record_registrations(client)
            run = PlateRun(client, frames_dir(tmp), shape=(side, side))
            while run.frames < frames_before:
                run.field(min(FILL_BLOCK, frames_before - run.frames))
            bodies.clear()
            times = []
            for _ in range(fields):
                t0 = time.process_time()
                run.field(per_field)
                times.append(time.process_time() - t0)
            size = statistics.median(len(body) for body in bodies)
            run.stop()
        finally:
            close_catalog(catalog)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, nargs="+", default=[1536, 12288])
    parser.add_argument("--fields", type=int, default=20)
    parser.add_argument("--frames-per-field", type=int, default=4)
    parser.add_argument("--side", type=int, default=8, help="frame width and height (pixels)")
    args = parser.parse_args()
    print(
        f"one field = {args.frames_per_field} frames of {args.side} x {args.side}; "
        f"median of {args.fields} fields"
    )
    print(f"{'frames before':>14} {'CPU ms/field':>13} {'bytes sent':>11} {'vs camera':>10}")
    for n in args.frames:
        seconds, size = run_once(n, args.fields, args.frames_per_field, args.side)
        print(f"{n:>14,} {seconds * 1e3:>13.1f} {size:>11,.0f} {seconds / PEER_FIELD_S:>9.2f}x")


if __name__ == "__main__":
    main()
