"""Per-image overhead of ``acquire_plate`` on a zero-latency simulated microscope.

The microscope is the shipped one made instant: a 16 x 16 sensor, 0.1 ms exposures,
a camera whose frame rate is not the limit, a filter wheel that moves in no time and
a stage with near-infinite speed and acceleration. What is left is the software: the
plan, the RunEngine, the devices, the frame writer (TIFF files, as always).

Figures, in ms per image (median of ``--runs`` runs), from each of ``--repeat``
invocations (each a fresh Python process):

- hcs ``acquire_plate``, burst mode (hardware-sequenced z x channel stacks);
- hcs ``acquire_plate``, software-triggered mode (one trigger per frame);
- a bare ``bluesky.plans.count`` of the same camera on the same RunEngine (the floor
  for one event per frame through bluesky and ophyd-async);
- pymmcore-plus's MDA engine running the same useq sequence on a ``UniMMCore`` with
  Python devices (camera, XY stage, focus, filter wheel, shutter; the camera takes
  its exposure time, as hcs's does), without an image
  writer (the issue's reference), and with its ``ImageSequenceWriter`` writing one
  TIFF per frame into the same data directory (the same work hcs does with frames).

and the ratios hcs/count and hcs/pymmcore. After the invocations, the median and the
worst ratio hcs/pymmcore-plus (no writer) of each mode are held against the targets
(median <= 0.8, every invocation <= 1.0) and printed as met or not met. No catalog is
attached: documents go to no callback, so the figures are the control plane's own cost.

``--compare-src`` measures another checkout's hcs (its ``src`` directory) in every
invocation too, right after this one and under the same load, against the same
pymmcore-plus figure: before and after a change, back to back. For example, for the
commit before the plans spoke only in messages::

    git worktree add /tmp/hcs-base 5092140
    .venv/bin/python benchmarks/bench_acquisition_overhead.py --compare-src /tmp/hcs-base/src

Frames are written under ``--data-dir`` (default: a temporary directory inside
``hcs-data/``, where ``hcs demo`` writes plates), so the disk is the data disk. Each
invocation also runs hcs with its frames on a RAM disk (``--ram-dir``, default
``/dev/shm``): the same plan, devices and writer, the same bytes written, without the
file system's cost of a new file on the data disk. hcs makes a file per image while the
pymmcore-plus reference makes none; the RAM disk figure is the control plane's own, the
data disk figure what a user gets there. Both are held against the targets.

Every file the benchmark writes is kept until its last invocation ends, then deleted.
On an ext4 file system without a journal (the machines measured), a new file's inode
is not taken from those deleted in the last 60 s (360 s while their inode table is not
yet written back): the kernel steps over each of them, one by one, for every new file in
that block group. Deleting one invocation's few thousand frames made the next one's
files about ten times dearer (0.05 against 0.5-1 ms per file), which no acquisition
pays for its own frames. The same holds before the benchmark starts: files deleted in
the last minutes near ``--data-dir`` (an earlier benchmark's, a test suite's) make it
slow, as the printed cost of "a frame file alone" shows.

Run on demand::

    .venv/bin/python benchmarks/bench_acquisition_overhead.py [--repeat 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import useq
from bluesky.run_engine import call_in_bluesky_event_loop

import hcs_orchestrator
from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.factory import build_microscope
from hcs_orchestrator.engine import MicroscopeRunEngine
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "hcs-data"
#: Targets for hcs/pymmcore-plus (no writer), ms per image against ms per image.
TARGET_MEDIAN = 0.8
TARGET_EACH = 1.0
MODES = ("burst", "software")
SENSOR_PX = 16
EXPOSURE_MS = 0.1

#: 4 wells x 3 x 3 fields x 2 channels x 3 planes = 216 images.
SEQUENCE: dict[str, Any] = {
    "axis_order": "tpgcz",
    "stage_positions": {
        "plate": 96,
        "a1_center_xy": [14380.0, 11240.0],
        "selected_wells": [[1, 1, 2, 2], [1, 2, 1, 2]],
        "well_points_plan": {"rows": 3, "columns": 3, "overlap": 10},
    },
    "channels": [
        {"config": "DAPI", "exposure": EXPOSURE_MS},
        {"config": "GFP", "exposure": EXPOSURE_MS},
    ],
    "z_plan": {"range": 2.0, "step": 1.0},
}


def shipped_profile() -> Path:
    """The default microscope of the hcs being measured (packaged, or an older checkout's)."""
    package = Path(hcs_orchestrator.__file__).resolve().parent
    packaged = package / "data" / "microscope.yaml"
    return packaged if packaged.exists() else package.parents[1] / "profile" / "microscope.yaml"


def instant_config(base: MicroscopeConfig, sensor_px: int = SENSOR_PX) -> MicroscopeConfig:
    """The microscope with every hardware latency removed, and a small sensor."""
    camera = base.camera.model_copy(
        update={
            "sensor_width_px": sensor_px,
            "sensor_height_px": sensor_px,
            "max_fps": 1e6,
            # frames from the pre-rendered bank: the camera itself costs nothing
            "simulation": "fast",
        }
    )
    wheel = base.filter_wheel.model_copy(update={"move_time_per_position_s": 0.0})
    fast_axis = {"max_velocity_um_s": 1e12, "max_acceleration_um_s2": 1e15}
    stage = base.stage.model_copy(
        update={
            "x": base.stage.x.model_copy(update=fast_axis),
            "y": base.stage.y.model_copy(update=fast_axis),
            "z": base.stage.z.model_copy(update=fast_axis),
            "z_backlash": "none",
        }
    )
    return base.model_copy(update={"camera": camera, "filter_wheel": wheel, "stage": stage})


def timed(work: Callable[[], Any]) -> tuple[float, float]:
    """Seconds ``work`` took: wall clock, and CPU of this process (all its threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - start, time.process_time() - cpu


def medians_ms(per_image: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Median ms/image of each figure: wall clock as ``name``, CPU as ``name_cpu``."""
    figures: dict[str, float] = {}
    for name, runs in per_image.items():
        figures[name] = statistics.median(wall for wall, _ in runs) * 1000
        figures[f"{name}_cpu"] = statistics.median(cpu for _, cpu in runs) * 1000
    return figures


def bench_hcs(config: MicroscopeConfig, data_dir: Path, runs: int) -> dict[str, float]:
    microscope = build_microscope(config, data_dir=data_dir)
    RE = MicroscopeRunEngine(microscope.owner, safe_state=microscope.safe_state)
    call_in_bluesky_event_loop(microscope.connect())
    figures: dict[str, list[tuple[float, float]]] = {"burst": [], "software": [], "count": []}
    try:
        images = 0
        for mode, hardware in (("burst", True), ("software", False)):
            spec = spec_from_data({"sequence": SEQUENCE, "hardware_sequencing": hardware})
            images = len(list(spec.sequence))
            RE(acquire_plate(microscope, spec))  # warm-up: specimen wells, caches
            for _ in range(runs):
                wall, cpu = timed(lambda spec=spec: RE(acquire_plate(microscope, spec)))
                figures[mode].append((wall / images, cpu / images))
        camera = microscope.camera
        RE(bps.mv(camera.exposure_ms, EXPOSURE_MS))
        RE(bp.count([camera], num=10))
        for _ in range(runs):
            wall, cpu = timed(lambda: RE(bp.count([camera], num=images)))
            figures["count"].append((wall / images, cpu / images))
    finally:
        call_in_bluesky_event_loop(microscope.safe_state())
        microscope.close()
        RE.loop.call_soon_threadsafe(RE.loop.stop)
    return medians_ms(figures)


def bench_pymmcore(runs: int, data_dir: Path | None) -> tuple[float, float]:
    """pymmcore-plus ms/image (wall, CPU); with ``data_dir``, frames are written there as TIFFs."""
    from pymmcore_plus.experimental.unicore import (
        ShutterDevice,
        SimpleCameraDevice,
        StageDevice,
        StateDevice,
        UniMMCore,
        XYStageDevice,
    )

    class Camera(SimpleCameraDevice):
        def __init__(self) -> None:
            super().__init__()
            self._exposure = EXPOSURE_MS

        def sensor_shape(self) -> tuple[int, int]:
            return (SENSOR_PX, SENSOR_PX)

        def dtype(self) -> Any:
            return np.uint16

        def get_exposure(self) -> float:
            return self._exposure

        def set_exposure(self, exposure: float) -> None:
            self._exposure = exposure

        def snap(self, buffer: np.ndarray) -> Mapping[str, Any]:
            # Take the exposure time, as hcs's simulated camera does (precisely).
            end = time.perf_counter() + self._exposure / 1000.0
            buffer[:] = 100
            while time.perf_counter() < end:
                pass
            return {}

    class XY(XYStageDevice):
        _xy = (0.0, 0.0)

        def set_position_um(self, x: float, y: float) -> None:
            self._xy = (x, y)

        def get_position_um(self) -> tuple[float, float]:
            return self._xy

        def set_origin_x(self) -> None: ...
        def set_origin_y(self) -> None: ...
        def home(self) -> None: ...
        def stop(self) -> None: ...
        def set_origin(self) -> None: ...

    class Z(StageDevice):
        _z = 3000.0

        def set_position_um(self, val: float) -> None:
            self._z = val

        def get_position_um(self) -> float:
            return self._z

        def home(self) -> None: ...
        def stop(self) -> None: ...
        def set_origin(self) -> None: ...

    class Wheel(StateDevice):
        _state = 0

        def get_state(self) -> int:
            return self._state

        def set_state(self, position: int) -> None:
            self._state = position

    class Light(ShutterDevice):
        _open = False

        def get_open(self) -> bool:
            return self._open

        def set_open(self, open: bool) -> None:
            self._open = open

    core = UniMMCore()
    core.loadPyDevice("Light", Light())
    core.loadPyDevice("Camera", Camera())
    core.loadPyDevice("XY", XY())
    core.loadPyDevice("Z", Z())
    core.loadPyDevice("Wheel", Wheel({0: "450/50", 1: "525/50"}))
    core.initializeAllDevices()
    core.setCameraDevice("Camera")
    core.setXYStageDevice("XY")
    core.setFocusDevice("Z")
    core.setShutterDevice("Light")
    core.defineConfigGroup("Channel")
    core.defineConfig("Channel", "DAPI", "Wheel", "Label", "450/50")
    core.defineConfig("Channel", "GFP", "Wheel", "Label", "525/50")
    sequence = useq.MDASequence.model_validate(SEQUENCE)
    images = len(list(sequence))
    frames = {"n": 0}
    core.mda.events.frameReady.connect(lambda *args: frames.__setitem__("n", frames["n"] + 1))

    def run(k: int) -> None:
        if data_dir is None:
            core.mda.run(sequence)
        else:
            from pymmcore_plus.mda.handlers import ImageSequenceWriter

            core.mda.run(sequence, output=ImageSequenceWriter(data_dir / f"mm-{k}"))

    run(-1)  # warm-up
    per_image = []
    for k in range(runs):
        frames["n"] = 0
        wall, cpu = timed(lambda k=k: run(k))
        assert frames["n"] == images, (frames["n"], images)
        per_image.append((wall / images, cpu / images))
    figures = medians_ms({"mm": per_image})
    return figures["mm"], figures["mm_cpu"]


def file_create_ms(directory: Path, files: int = 1000) -> tuple[float, float]:
    """A frame file's own cost on this disk now, ms per file (wall, kernel CPU).

    Each file is made as hcs's writer makes a frame's: created under a temporary name,
    the bytes of one 16 x 16 uint16 TIFF written, closed, renamed into place. On the
    machines measured, this cost is ten times higher in the minutes after many files
    were deleted nearby (see the module's text), and hcs makes one file per image: it is
    printed beside the ratios. The files are kept, as the frames are.
    """
    payload = bytes(SENSOR_PX * SENSOR_PX * 2 + 200)
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix="bench-files-"))
    start, before = time.perf_counter(), os.times()
    for i in range(files):
        temporary, final = tmp / f".{i:06d}.tmp", tmp / f"{i:06d}.tif"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, payload)
        os.close(fd)
        os.rename(temporary, final)
    after = os.times()
    wall = time.perf_counter() - start
    return wall / files * 1000, (after.system - before.system) / files * 1000


def measure(runs: int, data_dir: Path, ram_dir: Path | None, hcs_only: bool) -> dict[str, float]:
    """One invocation's figures (ms/image), frames written in a new directory under
    ``data_dir`` (and, with a ``ram_dir``, hcs's again there, keyed ``ram_*``).

    The files are left in place: :func:`main` deletes them after the last invocation.
    """
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    config = instant_config(load_config(shipped_profile()))
    tmp = Path(tempfile.mkdtemp(dir=data_dir, prefix="invocation-"))
    # Each part starts with nothing left for the disk to do: the files an earlier part
    # (or invocation) wrote are otherwise flushed by the kernel 30 s later, on the same
    # two cores, in the middle of whichever part runs then.
    os.sync()
    figures = bench_hcs(config, tmp, runs)
    figures["file"], figures["file_kernel"] = file_create_ms(tmp)
    if not hcs_only:
        os.sync()
        figures["pymmcore"], figures["pymmcore_cpu"] = bench_pymmcore(runs, None)
        os.sync()
        figures["pymmcore_tiff"], figures["pymmcore_tiff_cpu"] = bench_pymmcore(runs, tmp)
    os.sync()
    if ram_dir is not None:
        in_ram = bench_hcs(config, Path(tempfile.mkdtemp(dir=ram_dir, prefix="invocation-")), runs)
        figures |= {f"ram_{key}": value for key, value in in_ram.items()}
    return figures


def default_ram_dir() -> Path | None:
    """``/dev/shm`` where it is a RAM disk (tmpfs), else None."""
    shm = Path("/dev/shm")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and fields[1] == str(shm) and fields[2] == "tmpfs":
            return shm
    return None


def invoke(runs: int, data_dir: Path, ram_dir: Path | None, src: Path | None) -> dict[str, float]:
    """Run one invocation in a fresh Python process (of another checkout's ``src``, if given)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(src), *env.get("PYTHONPATH", "").split(os.pathsep)]
        )
    command = [sys.executable, __file__, "--invocation", "--runs", str(runs)]
    command += ["--data-dir", str(data_dir)] + (["--hcs-only"] if src is not None else [])
    command += ["--ram-dir", str(ram_dir)] if ram_dir is not None else ["--no-ram-dir"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"invocation failed ({' '.join(command)}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_invocation(k: int, hcs: dict[str, float], base: dict[str, float] | None) -> None:
    mm, mm_files = hcs["pymmcore"], hcs["pymmcore_tiff"]
    print(f"invocation {k}:")
    print(f"  {'hcs acquire_plate, burst':46} {hcs['burst']:7.2f} ms/image")
    print(f"  {'hcs acquire_plate, software-triggered':46} {hcs['software']:7.2f} ms/image")
    print(f"  {'bluesky count (same camera, same RE)':46} {hcs['count']:7.2f} ms/image")
    print(f"  {'pymmcore-plus MDA, no writer':46} {mm:7.2f} ms/image")
    print(f"  {'pymmcore-plus MDA + ImageSequenceWriter (TIFF)':46} {mm_files:7.2f} ms/image")
    cpu = " ".join(
        f"{name} {hcs[f'{key}_cpu']:.2f}"
        for name, key in (("burst", "burst"), ("software", "software"), ("pymmcore", "pymmcore"))
    )
    print(f"  CPU of the process, ms/image (all threads; a busy machine inflates it less): {cpu}")
    print(
        f"  the disk now: a frame file alone (create, write, rename) {hcs['file']:.3f} ms, "
        f"{hcs['file_kernel']:.3f} ms of it in the kernel (hcs makes one per image)"
    )
    for mode in MODES:
        print(
            f"  ratio hcs {mode}/count: {hcs[mode] / hcs['count']:5.2f}   "
            f"hcs {mode}/pymmcore: {hcs[mode] / mm:5.2f} (no writer), "
            f"{hcs[mode] / mm_files:5.2f} (TIFF writer)"
        )
    if "ram_burst" in hcs:
        for mode in MODES:
            print(
                f"  frames on the RAM disk: hcs {mode:8} {hcs[f'ram_{mode}']:7.2f} ms/image, "
                f"/pymmcore {hcs[f'ram_{mode}'] / mm:5.2f} (no writer)"
            )
    if base is not None:
        for mode in MODES:
            print(
                f"  compared hcs, {mode:8}: {base[mode]:7.2f} ms/image, "
                f"/pymmcore {base[mode] / mm:5.2f}; "
                f"this hcs / compared {hcs[mode] / base[mode]:5.2f}; "
                f"CPU {base[f'{mode}_cpu']:.2f} ms/image"
            )


def verdict(label: str, ratios: list[float]) -> None:
    median, worst = statistics.median(ratios), max(ratios)
    met_median = "met" if median <= TARGET_MEDIAN else "NOT met"
    met_each = "met" if worst <= TARGET_EACH else "NOT met"
    print(
        f"{label}: ratios {' '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {median:.2f} (target <= {TARGET_MEDIAN}: {met_median}), "
        f"worst {worst:.2f} (target <= {TARGET_EACH} each: {met_each})"
    )


def kept_directory(stack: contextlib.ExitStack, parent: Path) -> Path:
    """A new directory under ``parent``, deleted with everything in it when ``stack`` closes."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(
        stack.enter_context(tempfile.TemporaryDirectory(dir=parent, prefix="bench-overhead-"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="invocations (fresh processes)")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure per invocation")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where frames go")
    parser.add_argument(
        "--ram-dir",
        type=Path,
        default=default_ram_dir(),
        help="a RAM disk where hcs's frames go in a second measurement (default /dev/shm)",
    )
    parser.add_argument(
        "--no-ram-dir", action="store_true", help="skip the measurement on the RAM disk"
    )
    parser.add_argument(
        "--compare-src", type=Path, help="another checkout's src directory, measured as well"
    )
    parser.add_argument("--invocation", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hcs-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ram_dir = None if args.no_ram_dir else args.ram_dir
    if args.invocation:
        print(json.dumps(measure(args.runs, args.data_dir, ram_dir, args.hcs_only)))
        return
    images = len(list(useq.MDASequence.model_validate(SEQUENCE)))
    print(
        f"sequence: {images} images (4 wells x 9 fields x 2 channels x 3 planes), "
        f"{SENSOR_PX}x{SENSOR_PX} px, {EXPOSURE_MS} ms exposures; {args.repeat} invocations "
        f"of {args.runs} runs each; frames written under {args.data_dir}"
        + (f", and again under {ram_dir} (RAM disk)" if ram_dir is not None else "")
    )
    compare = args.compare_src.resolve() if args.compare_src else None
    ratios: dict[str, list[float]] = {mode: [] for mode in MODES}
    in_ram: dict[str, list[float]] = {mode: [] for mode in MODES}
    compared: dict[str, list[float]] = {mode: [] for mode in MODES}
    with contextlib.ExitStack() as kept:  # every file stays until the last invocation
        data_dir = kept_directory(kept, args.data_dir)
        ram = kept_directory(kept, ram_dir) if ram_dir is not None else None
        for k in range(1, args.repeat + 1):
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"load average before invocation {k}: {load} on {os.cpu_count()} CPUs")
            hcs = invoke(args.runs, data_dir, ram, None)
            base = invoke(args.runs, data_dir, None, compare) if compare is not None else None
            print_invocation(k, hcs, base)
            for mode in MODES:
                ratios[mode].append(hcs[mode] / hcs["pymmcore"])
                if ram is not None:
                    in_ram[mode].append(hcs[f"ram_{mode}"] / hcs["pymmcore"])
                if base is not None:
                    compared[mode].append(base[mode] / hcs["pymmcore"])
    print("hcs / pymmcore-plus MDA (no writer), per invocation, frames on the data disk:")
    for mode in MODES:
        verdict(f"  {mode:8}", ratios[mode])
        if compare is not None:
            verdict(f"  {mode:8} ({compare})", compared[mode])
    if ram_dir is not None:
        print("the same with hcs's frames on the RAM disk (the control plane, no disk cost):")
        for mode in MODES:
            verdict(f"  {mode:8}", in_ram[mode])


if __name__ == "__main__":
    main()
