"""How fast the simulated camera makes 2048 x 2048 frames on one core.

Prints, for each channel of the default microscope (``src/hcs_orchestrator/data/microscope.yaml``):

- realistic rendering: every frame rendered from the specimen (blobs, optics, defocus)
  and digitised with noise, stepping through a 3 x 3 grid of fields in one well, as a
  plate acquisition does; target 10 frames/s;
- the fast path (``camera.simulation: fast``): frames replayed from a bank rendered
  once, with fresh noise each time; target 100 frames/s (the camera's max_fps).

Each figure is followed by its ratio to the target (>= 1.00 meets it). The process is
pinned to one CPU and numerical libraries to one thread before numpy is imported.

Run on demand::

    .venv/bin/python benchmarks/bench_specimen_render.py [--frames 20] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402 - after the thread limits above

from hcs_devices.camera.settings import ExposureSettings, Roi  # noqa: E402
from hcs_devices.config import ChannelConfig, MicroscopeConfig, load_config  # noqa: E402
from hcs_devices.factory import build_microscope  # noqa: E402
from hcs_devices.sim.camera import SimFrameSource  # noqa: E402
from hcs_orchestrator.paths import DEFAULT_CONFIG  # noqa: E402

PROFILE = DEFAULT_CONFIG
REALISTIC_TARGET_FPS = 10.0
FAST_TARGET_FPS = 100.0
WELL = "B2"


def _source(config: MicroscopeConfig, data_dir: Path) -> SimFrameSource:
    scope = build_microscope(config, data_dir=data_dir)
    source = scope.camera.source
    assert isinstance(source, SimFrameSource)
    return source


def _set_channel(source: SimFrameSource, channel: ChannelConfig) -> ExposureSettings:
    """Put the simulated hardware in a channel's state (what a plan's moves would do)."""
    optics = source.optics
    optics.filter_wheel.current = channel.filter_position
    optics.illumination.selected = channel.source
    optics.illumination.intensity_percent = channel.intensity_percent
    optics.illumination.is_on = True
    cam = source.config.camera
    return ExposureSettings(
        channel.exposure_ms, 1.0, 1, Roi(0, 0, cam.sensor_width_px, cam.sensor_height_px)
    )


def _fields(source: SimFrameSource) -> list[tuple[float, float]]:
    """A 3 x 3 grid of adjacent fields of view around the centre of one well."""
    cx, cy = source.specimen.plate.well_center_um(WELL)
    fov_x, fov_y = source.config.field_of_view_um()
    return [(cx + i * fov_x, cy + j * fov_y) for j in (-1, 0, 1) for i in (-1, 0, 1)]


def _move(source: SimFrameSource, x: float, y: float, channel: ChannelConfig) -> None:
    optics = source.optics
    optics.x._position = x
    optics.y._position = y
    optics.z._position = source.specimen.surface_z_um(x, y) + channel.z_offset_um


def realistic_fps(
    source: SimFrameSource, channel: ChannelConfig, frames: int, warmup: int
) -> float:
    settings = _set_channel(source, channel)
    fields = _fields(source)
    for i in range(warmup):
        _move(source, *fields[i % len(fields)], channel)
        source.render(settings)
    elapsed = 0.0
    for i in range(frames):
        _move(source, *fields[i % len(fields)], channel)
        t0 = time.perf_counter()
        frame = source.render(settings)
        elapsed += time.perf_counter() - t0
        assert frame.shape == settings.shape and frame.dtype == np.uint16
    return frames / elapsed


def fast_fps(source: SimFrameSource, channel: ChannelConfig, frames: int) -> tuple[float, float]:
    """(frames/s once the bank exists, seconds to build the bank)."""
    settings = _set_channel(source, channel)
    _move(source, *_fields(source)[4], channel)
    t0 = time.perf_counter()
    source.render(settings)  # builds this channel's bank
    bank_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(frames):
        source.render(settings)
    return frames / (time.perf_counter() - t0), bank_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="realistic frames per channel")
    parser.add_argument("--fast-frames", type=int, default=300, help="fast-path frames per channel")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames first")
    parser.add_argument(
        "--cpu", type=int, default=None, help="CPU to pin to (default: the first allowed)"
    )
    args = parser.parse_args(argv)

    allowed = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else allowed[0]
    os.sched_setaffinity(0, {cpu})

    config = load_config(PROFILE)
    cam = config.camera
    assert (cam.sensor_width_px, cam.sensor_height_px) == (2048, 2048), (
        "the profile's sensor changed"
    )
    with tempfile.TemporaryDirectory() as tmp:
        realistic = _source(config, Path(tmp) / "realistic")
        fast_config = config.model_copy(
            update={"camera": cam.model_copy(update={"simulation": "fast"})}
        )
        fast = _source(fast_config, Path(tmp) / "fast")
        print(
            f"simulated camera, {cam.sensor_width_px} x {cam.sensor_height_px} px, "
            f"objective {config.objective}, well {WELL}, one core (CPU {cpu})"
        )
        header = ("channel", "realistic fps", "/10", "fast fps", "/100", "bank s")
        print("{:<8} {:>14} {:>6} {:>10} {:>6} {:>7}".format(*header))
        worst_realistic, worst_fast = float("inf"), float("inf")
        for channel in config.channels:
            r = realistic_fps(realistic, channel, args.frames, args.warmup)
            f, bank_s = fast_fps(fast, channel, args.fast_frames)
            worst_realistic, worst_fast = min(worst_realistic, r), min(worst_fast, f)
            print(
                f"{channel.name:<8} {r:>14.1f} {r / REALISTIC_TARGET_FPS:>6.2f} "
                f"{f:>10.1f} {f / FAST_TARGET_FPS:>6.2f} {bank_s:>7.2f}"
            )
        print(
            f"slowest channel: realistic {worst_realistic:.1f} fps "
            f"({worst_realistic / REALISTIC_TARGET_FPS:.2f} x the "
            f"{REALISTIC_TARGET_FPS:.0f} fps target), "
            f"fast {worst_fast:.1f} fps ({worst_fast / FAST_TARGET_FPS:.2f} x the "
            f"{FAST_TARGET_FPS:.0f} fps target)"
        )
        realistic.close()
        fast.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
