"""A GenICam camera through hcs against a bare Aravis loop, on the fake camera (loopback).

Aravis's GigE Vision fake camera runs in its own process on 127.0.0.1 (2048 x 2048
Mono16, packet size 65000, software trigger checked 1000 times a second). In the same
run:

1. **Bare loop, software trigger**: TriggerSoftware, pop the buffer, copy its pixels,
   give the buffer back; ``--frames`` times. Frames/s, and trigger-to-pixels latency.
2. **hcs burst**: a real session (RunEngine, embedded Tiled catalog) runs a burst of
   ``--frames`` frames on the camera device (prepare / kickoff / collect while
   completing), each frame software-triggered by the GenICam frame source and written
   by the camera's TIFF writer thread (one file per frame). Frames/s, and frames dropped
   (asked for minus files on disk: must be 0; a frame that arrives incomplete ends the
   burst with an error, printed).
3. **hcs software-trigger latency**: the frame source's ``expose`` on an event loop
   (trigger sent from the control thread, frame handed over by the stream thread),
   ``--latency-frames`` times, against the bare loop's latency measured just before
   and just after (no files written in either).
4. **Bare loop, free run** at the fake camera's top frame rate: what loopback and the
   fake camera can deliver at all (the ceiling of any triggered loop here).

Prints each figure and the ratios hcs / bare. Run on demand::

    .venv/bin/python benchmarks/bench_genicam_throughput.py [--frames 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the burst plan's script

from bench_burst_throughput import burst_plan
from hcs_devices.camera.genicam import GenicamFrameSource
from hcs_devices.camera.genicam.aravis import load_aravis, open_gige_camera
from hcs_devices.camera.genicam.fake_camera import LOOPBACK, FakeCameraProcess
from hcs_devices.camera.settings import ExposureSettings, Roi
from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.config.models import GenicamBackend
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_orchestrator.session import open_session

SENSOR_PX = 2048
EXPOSURE_MS = 10.0
LIVETIME_S = EXPOSURE_MS / 1000.0
PACKET_SIZE = 65000
BUFFERS = 16
TIMEOUT_US = 5_000_000
#: How long a frame's packets are waited for: hcs's default frame timeout (2 s).
FRAME_RETENTION_US = round(GenicamBackend(address=LOOPBACK).frame_timeout_s * 1e6)


def _bare_camera(trigger: str | None) -> tuple[Any, Any, Any]:
    aravis = load_aravis()
    camera = open_gige_camera(LOOPBACK)
    camera.gv_set_packet_size(PACKET_SIZE)
    camera.set_pixel_format_from_string("Mono16")
    camera.set_binning(1, 1)
    camera.set_region(0, 0, SENSOR_PX, SENSOR_PX)
    camera.set_exposure_time(EXPOSURE_MS * 1000.0)
    if trigger is None:
        camera.clear_triggers()
        camera.set_acquisition_mode(aravis.AcquisitionMode.CONTINUOUS)
        camera.set_frame_rate(camera.get_frame_rate_bounds()[1])
    else:
        camera.set_trigger(trigger)
    stream = camera.create_stream(None, None)
    stream.set_property("socket-buffer", aravis.GvStreamSocketBuffer.AUTO)
    stream.set_property("frame-retention", FRAME_RETENTION_US)  # as hcs sets it
    payload = camera.get_payload()
    for _ in range(BUFFERS):
        stream.push_buffer(aravis.Buffer.new_allocate(payload))
    return aravis, camera, stream


def bare_loop(frames: int, *, free_run: bool) -> tuple[float, list[float], int]:
    """Frames/s, per-frame trigger-to-pixels latencies (s), frames not received whole."""
    aravis, camera, stream = _bare_camera(None if free_run else "Software")
    latencies: list[float] = []
    lost = 0
    camera.start_acquisition()
    try:
        start = time.perf_counter()
        for _ in range(frames):
            sent = time.perf_counter()
            if not free_run:
                camera.software_trigger()
            buffer = stream.timeout_pop_buffer(TIMEOUT_US)
            if buffer is None:
                lost += 1
                continue
            if buffer.get_status() == aravis.BufferStatus.SUCCESS:
                buffer.get_data()  # the copy hcs makes too
                latencies.append(time.perf_counter() - sent)
            else:
                lost += 1
            stream.push_buffer(buffer)
        elapsed = time.perf_counter() - start
    finally:
        camera.stop_acquisition()
    return frames / elapsed, latencies, lost


def genicam_config(base: MicroscopeConfig) -> MicroscopeConfig:
    data = base.model_dump(mode="json")
    data["camera"].update(
        sensor_width_px=SENSOR_PX,
        sensor_height_px=SENSOR_PX,
        backend={"kind": "genicam", "address": LOOPBACK, "packet_size_bytes": PACKET_SIZE},
    )
    return MicroscopeConfig.model_validate(data)


def hcs_burst(frames: int, data_dir: Path) -> tuple[float, int, int, str]:
    """Frames/s of the burst, files on disk, images in the catalog, and its error if any."""
    session = open_session(genicam_config(load_config(DEFAULT_CONFIG)), data_dir)
    error = ""
    try:
        camera = session.microscope.camera
        session.RE(bps.mv(camera.gain, 0.0))
        session.RE(burst_plan(camera, 10, {}, LIVETIME_S))  # warm-up: stream, writer, catalog
        assert session.flush(120.0), "the catalog did not catch up"
        timing: dict[str, float] = {}
        try:
            (uid,) = session.RE(burst_plan(camera, frames, timing, LIVETIME_S))
        except Exception as exc:  # reported with the figures (an incomplete frame...)
            error = str(exc)
            timing.setdefault("start", time.perf_counter())
            timing["end"] = time.perf_counter()
            uid = None
        assert session.flush(300.0), "the catalog did not catch up"
        directories = [d for d in (data_dir / "frames").iterdir() if d.is_dir()]
        newest = max(directories, key=lambda d: d.stat().st_mtime)
        on_disk = len(list(newest.glob("*.tif")))
        fps = on_disk / (timing["end"] - timing["start"])
        in_catalog = session.catalog[uid]["primary"]["camera"].shape[0] if uid else 0
    finally:
        session.close()
    return fps, on_disk, in_catalog, error


def hcs_latency(frames: int) -> list[float]:
    """Seconds from ``expose`` called to the frame on the event loop, per frame."""

    async def run() -> list[float]:
        source = GenicamFrameSource(GenicamBackend(address=LOOPBACK, packet_size_bytes=PACKET_SIZE))
        await source.connect()
        settings = ExposureSettings(EXPOSURE_MS, 0.0, 1, Roi(0, 0, SENSOR_PX, SENSOR_PX))
        try:
            await source.expose(settings)  # applies the settings, opens the stream
            times = []
            for _ in range(frames):
                sent = time.perf_counter()
                await source.expose(settings)
                times.append(time.perf_counter() - sent)
            return times
        finally:
            source.close()

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--latency-frames", type=int, default=50)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with FakeCameraProcess("BENCH01"), tempfile.TemporaryDirectory() as tmp:
        bare_fps, bare_lat, bare_lost = bare_loop(args.frames, free_run=False)
        hcs_fps, on_disk, in_catalog, error = hcs_burst(args.frames, Path(tmp) / "data")
        bare_fps_2, _, bare_lost_2 = bare_loop(args.frames, free_run=False)
        # Latency: the bare loop just before and just after hcs (the machine's load drifts).
        _, bare_lat, _ = bare_loop(args.latency_frames, free_run=False)
        lat = hcs_latency(args.latency_frames)
        _, bare_lat_2, _ = bare_loop(args.latency_frames, free_run=False)
        free_fps, _, free_lost = bare_loop(args.frames, free_run=True)
    bare = (bare_fps + bare_fps_2) / 2
    bare_median_ms = statistics.median(bare_lat + bare_lat_2) * 1e3
    hcs_median_ms = statistics.median(lat) * 1e3
    mib = SENSOR_PX * SENSOR_PX * 2 / 2**20
    print(f"{SENSOR_PX} x {SENSOR_PX} Mono16 ({mib:.0f} MiB/frame), {EXPOSURE_MS} ms exposure")
    print(
        f"bare Aravis, software trigger: {bare_fps:.1f} / {bare_fps_2:.1f} frames/s "
        f"(before / after hcs), lost {bare_lost + bare_lost_2}"
    )
    print(
        f"hcs burst (RunEngine, TIFF files, catalog): {hcs_fps:.1f} frames/s; "
        f"ratio to bare {hcs_fps / bare:.2f} (target >= 0.95)"
    )
    dropped = args.frames - on_disk
    if error:
        print(f"hcs burst ended early: {error}")
    print(
        f"frames asked {args.frames}, files on disk {on_disk}, in the catalog {in_catalog}, "
        f"dropped {dropped} (target 0)"
    )
    print(
        f"software trigger to frame, median: bare {bare_median_ms:.1f} ms, "
        f"hcs expose {hcs_median_ms:.1f} ms (ratio {hcs_median_ms / bare_median_ms:.2f}); "
        f"hcs p90 {statistics.quantiles(lat, n=10)[-1] * 1e3:.1f} ms"
    )
    print(
        f"bare Aravis, free run (the fake camera's ceiling over loopback): {free_fps:.1f} "
        f"frames/s, incomplete or late {free_lost}"
    )


if __name__ == "__main__":
    main()
