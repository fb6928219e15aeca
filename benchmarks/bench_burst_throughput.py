"""Sustained 2048 x 2048 uint16 throughput of a hardware-timed burst, through the stack.

The camera runs in ``fast`` simulation mode (frames replayed from a pre-rendered bank
with fresh noise) at up to 1000 frames/s, so neither rendering nor the sensor's frame
rate is the limit. A burst of ``--frames`` frames is prepared, kicked off and collected
inside a run (``prepare`` / ``kickoff`` / ``collect_while_completing``) in a real
session, with the document path to the embedded Tiled catalog attached; every frame is
written by the camera's TIFF writer thread (one file per frame).

Compared, in the same run and on the same disk, with:

- a plain ``tifffile.imwrite`` loop writing the same number of frames of the same
  size, one file each;
- the physical limit: a raw ``os.write`` loop of the same bytes (one file of a frame's
  TIFF bytes per frame), without and with ``fsync`` of each file. The stack does not
  ``fsync`` frames by default (the page cache writes them back), so the first is its
  peer; the second is what durable writes cost on this disk.

Prints frames/s of each, the ratios (target: the stack at >= 0.9 of the raw loop), and
frames dropped (frames asked for minus files on disk: must be 0).

Run on demand::

    .venv/bin/python benchmarks/bench_burst_throughput.py [--frames 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import tifffile
from ophyd_async.core import TriggerInfo

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_orchestrator.session import open_session

PROFILE = DEFAULT_CONFIG
EXPOSURE_S = 0.001


def burst_config(base: MicroscopeConfig) -> MicroscopeConfig:
    camera = base.camera.model_copy(update={"simulation": "fast", "max_fps": 1000.0})
    return base.model_copy(update={"camera": camera})


def burst_plan(
    camera: Any, frames: int, timing: dict[str, float], livetime_s: float = EXPOSURE_S
) -> Any:
    """One run of a ``frames``-frame burst; ``timing`` gets its start and end (perf_counter)."""

    @bpp.stage_decorator([camera])
    @bpp.run_decorator(md={"purpose": "burst throughput benchmark"})
    def inner() -> Any:
        yield from bps.prepare(
            camera, TriggerInfo(number_of_events=frames, livetime=livetime_s), wait=True
        )
        yield from bps.declare_stream(camera, name="primary", collect=True)
        timing["start"] = time.perf_counter()
        yield from bps.kickoff(camera, wait=True)
        yield from bps.collect_while_completing([camera], [camera], flush_period=0.5)
        timing["end"] = time.perf_counter()

    return inner()


def bench_stack(frames: int, data_dir: Path) -> tuple[float, int, float, Path]:
    session = open_session(burst_config(load_config(PROFILE)), data_dir)
    try:
        camera = session.microscope.camera
        session.RE(burst_plan(camera, 20, {}))  # warm-up: the frame bank, the catalog
        session.flush(120.0)
        timing: dict[str, float] = {}
        (uid,) = session.RE(burst_plan(camera, frames, timing))
        flush_start = time.perf_counter()
        assert session.flush(300.0), "the catalog did not catch up"
        flush_s = time.perf_counter() - flush_start
        fps = frames / (timing["end"] - timing["start"])
        resources = [d for d in (data_dir / "frames").iterdir() if d.is_dir()]
        newest = max(resources, key=lambda d: d.stat().st_mtime)
        on_disk = len(list(newest.glob("*.tif")))
        in_catalog = session.catalog[uid]["primary"]["camera"].shape[0]
        assert in_catalog == frames, (in_catalog, frames)
        return fps, on_disk, flush_s, newest
    finally:
        session.close()


def bench_tifffile(frames: int, directory: Path, sample: np.ndarray) -> float:
    directory.mkdir(parents=True)
    bank = [sample, np.roll(sample, 7, axis=1), np.roll(sample, 13, axis=0), sample[::-1]]
    start = time.perf_counter()
    for i in range(frames):
        tifffile.imwrite(
            directory / f"{i:06d}.tif", bank[i % 4], photometric="minisblack", metadata=None
        )
    return frames / (time.perf_counter() - start)


def bench_raw(frames: int, directory: Path, payload: bytes, *, fsync: bool) -> float:
    """Frames/s of writing ``payload`` to one new file per frame with ``os.write``."""
    directory.mkdir(parents=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    start = time.perf_counter()
    for i in range(frames):
        fd = os.open(directory / f"{i:06d}.tif", flags, 0o644)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    root = Path(tempfile.mkdtemp(prefix="hcs-burst-", dir=args.dir))
    try:
        gib = args.frames * 8 / 1024
        print(f"{args.frames} frames of 2048 x 2048 uint16 ({gib:.2f} GiB) in {root}")
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average: {load} on {os.cpu_count()} CPUs")
        fps, on_disk, flush_s, frame_dir = bench_stack(args.frames, root / "session")
        sample = tifffile.imread(frame_dir / "000000.tif")
        plain = bench_tifffile(args.frames, root / "plain", sample)
        payload = (frame_dir / "000000.tif").read_bytes()
        raw = bench_raw(args.frames, root / "raw", payload, fsync=False)
        durable = bench_raw(args.frames, root / "raw-fsync", payload, fsync=True)
        print(f"{'hcs burst (prepare/kickoff/collect, catalog attached)':54} {fps:7.1f} frames/s")
        print(f"{'plain tifffile.imwrite loop, one file per frame':54} {plain:7.1f} frames/s")
        print(f"{'raw os.write loop of the same bytes':54} {raw:7.1f} frames/s")
        print(f"{'raw os.write + fsync loop of the same bytes':54} {durable:7.1f} frames/s")
        print(f"ratio hcs/plain tifffile: {fps / plain:.2f}")
        print(f"ratio hcs/raw os.write: {fps / raw:.2f} (target >= 0.9)")
        print(f"ratio hcs/raw os.write + fsync: {fps / durable:.2f}")
        print(f"frames dropped: {args.frames - on_disk} (asked {args.frames}, on disk {on_disk})")
        print(f"catalog caught up {flush_s:.2f} s after the burst ended")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
