"""Sustained 2048 x 2048 uint16 throughput of a hardware-timed burst, against the disk.

The camera runs in ``fast`` simulation mode (frames replayed from a pre-rendered bank
with fresh noise) at up to 1000 frames/s, so neither rendering nor the sensor's frame
rate is the limit. A burst of ``--frames`` frames is prepared, kicked off and collected
inside a run (``prepare`` / ``kickoff`` / ``collect_while_completing``) in a real
session, with the document path to the embedded Tiled catalog attached; every frame is
written by the camera's frame writer (one TIFF file per frame). A burst is timed from
kickoff until its last frame is announced.

The physical limit depends on what the writer promises when it announces a frame:

- by default a frame is announced once its file is complete under its final name (it
  survives the process being killed; the operating system writes it to the disk in the
  background). Its limit is a raw ``os.write`` loop of the same bytes, one new file per
  frame, with no ``fsync``.
- with ``fsync`` (``fsync_frames``), a frame is announced only once it is on stable
  storage. Its limit is the same raw loop with an ``fsync`` of each file before the next.

Both are measured, in the same run and on the same disk, each next to its limit, in
``--rounds`` rounds whose order changes from round to round (the machine may be shared:
load drifts). Before each measurement the previous one's files are deleted, ``sync``
is called and the memory they held is let settle (``SETTLE_S``), so no measurement pays
for another's write-back or gains from the memory it freed. Also printed for
reference: a plain ``tifffile.imwrite`` loop, and the disk's streaming rate (the raw
loop writing every file first, then one ``fsync`` per file).

Prints frames/s of each, per round and the median; the ratios (target: each stack
mode at >= 0.9 of its limit); and frames dropped (frames asked for minus complete
files on disk, and minus images in the catalog: must be 0).

Run on demand::

    .venv/bin/python benchmarks/bench_burst_throughput.py [--frames 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import tifffile
from ophyd_async.core import TriggerInfo

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_orchestrator.session import Session, open_session

PROFILE = DEFAULT_CONFIG
EXPOSURE_S = 0.001
FRAME_BYTES = 2048 * 2048 * 2
#: Seconds between deleting the last measurement's files and starting the next. In a
#: virtual machine whose balloon reports free memory to the host (the machines
#: measured), the page cache freed by a delete is handed back within a few seconds;
#: until then the next writes reuse it at memory speed, afterwards each new page is a
#: fault in the host. Writing 8 MiB frames right after a delete ran 2-4 times faster
#: than 6 s later, so a measurement that happened to follow a delete closely won its
#: comparison by that alone. Every measurement now starts on memory in the same state.
SETTLE_S = 6.0


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


#: Thread name prefixes and the part of the stack each thread is.
THREAD_GROUPS = (
    ("tiff-writer", "writer"),
    ("tiff-sync", "writer fsync"),
    ("bluesky-run-engine", "camera + RunEngine loop"),
    ("hcs-", "spool + forwarder"),
    ("asyncio-portal", "catalog server"),
    ("asyncio_", "executor"),
    ("MainThread", "main"),
)


class ThreadCpu:
    """CPU time of this process's threads over a measurement, by part of the stack (Linux).

    Samples ``/proc/self/task`` every 10 ms, so threads that end during the measurement
    (the frame writer's) are counted up to their last sample.
    """

    def __init__(self) -> None:
        self._tick_s = 1.0 / os.sysconf("SC_CLK_TCK")
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="cpu-sampler", daemon=True)

    def _read(self) -> dict[int, float]:
        cpu = {}
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/self/task/{tid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                cpu[int(tid)] = (int(fields[11]) + int(fields[12])) * self._tick_s
        return cpu

    def _sample(self) -> None:
        while True:
            for thread in threading.enumerate():
                if thread.native_id is not None:
                    self._names[thread.native_id] = thread.name
            self._last.update(self._read())
            if self._stop.wait(0.01):
                return

    def __enter__(self) -> ThreadCpu:
        self._first = self._read()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._read())

    def by_group(self) -> dict[str, float]:
        """CPU seconds by part of the stack (the sampler's own thread left out)."""
        groups: dict[str, float] = {}
        for tid, cpu in self._last.items():
            name = self._names.get(tid, "")
            if name == "cpu-sampler":
                continue
            group = next((g for prefix, g in THREAD_GROUPS if name.startswith(prefix)), "other")
            groups[group] = groups.get(group, 0.0) + cpu - self._first.get(tid, 0.0)
        return groups


class Stack:
    """A session on a simulated burst camera, and its bursts."""

    def __init__(self, data_dir: Path) -> None:
        self.session: Session = open_session(burst_config(load_config(PROFILE)), data_dir)
        self.camera = self.session.microscope.camera
        self.frames_root = data_dir.resolve() / "frames"
        self.dropped: list[int] = []
        self.sample: Path | None = None
        self.session.RE(burst_plan(self.camera, 20, {}))  # warm-up: the frame bank, the catalog
        self.session.flush(120.0)

    def burst(self, frames: int, *, durable: bool) -> tuple[float, ThreadCpu]:
        """Frames/s of one burst, kickoff to the last frame announced; checks every frame."""
        self.camera.data.fsync = durable
        before = set(self.frames_root.iterdir())
        timing: dict[str, float] = {}
        with ThreadCpu() as cpu:
            (uid,) = self.session.RE(burst_plan(self.camera, frames, timing))
        fps = frames / (timing["end"] - timing["start"])
        assert self.session.flush(300.0), "the catalog did not catch up"
        (frame_dir,) = set(self.frames_root.iterdir()) - before
        on_disk = sorted(frame_dir.glob("*.tif"))
        in_catalog = self.session.catalog[uid]["primary"]["camera"].shape[0]
        leftovers = [p.name for p in frame_dir.iterdir() if p.suffix != ".tif"]
        assert not leftovers, leftovers
        self.dropped.append(max(frames - len(on_disk), frames - in_catalog))
        if self.sample is None:
            self.sample = frame_dir.parent / "sample.tif"
            shutil.copy(on_disk[0], self.sample)
        assert tifffile.imread(on_disk[-1]).shape == (2048, 2048)
        shutil.rmtree(frame_dir)
        return fps, cpu

    def close(self) -> None:
        self.session.close()


def bench_tifffile(frames: int, directory: Path, sample: np.ndarray) -> float:
    directory.mkdir(parents=True)
    bank = [sample, np.roll(sample, 7, axis=1), np.roll(sample, 13, axis=0), sample[::-1]]
    start = time.perf_counter()
    for i in range(frames):
        tifffile.imwrite(
            directory / f"{i:06d}.tif", bank[i % 4], photometric="minisblack", metadata=None
        )
    return frames / (time.perf_counter() - start)


def payload_bank(sample: Path) -> list[np.ndarray]:
    """A stack file's bytes as four distinct files' bytes (numpy buffers, as frames are).

    The raw loops cycle through them as the tifffile loop cycles through its frames:
    the same bytes per file as the stack's, not one buffer the cache keeps hot.
    """
    data = np.frombuffer(sample.read_bytes(), dtype=np.uint8)
    pixels = len(data) - FRAME_BYTES
    bank = []
    for shift in (0, 7, 13, 29):
        buffer = data.copy()
        buffer[pixels:] = np.roll(data[pixels:], 2 * shift)
        bank.append(buffer)
    return bank


def _write_file(path: Path, payload: np.ndarray) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    view = payload.data
    while view:
        view = view[os.write(fd, view) :]
    return fd


def bench_raw(frames: int, directory: Path, bank: list[np.ndarray], *, fsync: bool) -> float:
    """Frames/s of writing a frame's bytes to one new file per frame with ``os.write``."""
    directory.mkdir(parents=True)
    start = time.perf_counter()
    for i in range(frames):
        fd = _write_file(directory / f"{i:06d}.tif", bank[i % len(bank)])
        try:
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    return frames / (time.perf_counter() - start)


def bench_streaming(frames: int, directory: Path, bank: list[np.ndarray]) -> float:
    """Frames/s of writing every file first, then one ``fsync`` per file: the disk's rate."""
    directory.mkdir(parents=True)
    start = time.perf_counter()
    fds = [_write_file(directory / f"{i:06d}.tif", bank[i % len(bank)]) for i in range(frames)]
    for fd in fds:
        os.fsync(fd)
        os.close(fd)
    return frames / (time.perf_counter() - start)


def with_cpu(run: Callable[[], float]) -> tuple[float, ThreadCpu]:
    """``run``'s frames/s and the CPU time its threads took."""
    with ThreadCpu() as cpu:
        return run(), cpu


def measure(
    name: str, run: Callable[[], tuple[float, ThreadCpu]], scratch: Path, frames: int
) -> float:
    """Run one measurement from a clean page cache: no earlier write-back in its way,
    and no memory freed just before it (see ``SETTLE_S``)."""
    shutil.rmtree(scratch, ignore_errors=True)
    os.sync()
    time.sleep(SETTLE_S)  # noqa: TID251  (a benchmark letting freed memory settle)
    fps, cpu = run()
    print(f"  {name:44} {fps:7.1f} frames/s   load {os.getloadavg()[0]:.1f}", flush=True)
    groups = sorted(cpu.by_group().items(), key=lambda item: -item[1])
    spent = ", ".join(f"{group} {1000 * s / frames:.1f}" for group, s in groups if s > 0.005)
    print(f"  {'':44} CPU ms/frame: {spent}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return fps


STACK = "hcs burst, announced when complete"
RAW = "raw os.write loop"
STACK_DURABLE = "hcs burst, fsync: announced when durable"
RAW_FSYNC = "raw os.write + fsync loop"
TIFFFILE = "plain tifffile.imwrite loop"
STREAMING = "raw os.write all, then fsync each (disk)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per burst")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    frames = args.frames
    root = Path(tempfile.mkdtemp(prefix="hcs-burst-", dir=args.dir))
    scratch = root / "scratch"
    try:
        gib = frames * FRAME_BYTES / 2**30
        print(f"bursts of {frames} frames of 2048 x 2048 uint16 ({gib:.2f} GiB) in {root}")
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average: {load} on {os.cpu_count()} CPUs")
        stack = Stack(root / "session")
        try:
            stack.burst(20, durable=False)  # a sample file of the stack's, to copy
            assert stack.sample is not None
            bank = payload_bank(stack.sample)
            sample = tifffile.imread(stack.sample)
            runs: dict[str, Callable[[], tuple[float, ThreadCpu]]] = {
                STACK: lambda: stack.burst(frames, durable=False),
                RAW: lambda: with_cpu(lambda: bench_raw(frames, scratch, bank, fsync=False)),
                STACK_DURABLE: lambda: stack.burst(frames, durable=True),
                RAW_FSYNC: lambda: with_cpu(lambda: bench_raw(frames, scratch, bank, fsync=True)),
                TIFFFILE: lambda: with_cpu(lambda: bench_tifffile(frames, scratch, sample)),
                STREAMING: lambda: with_cpu(lambda: bench_streaming(frames, scratch, bank)),
            }
            # A first pass, not counted: on this VM the first writes into memory it has
            # not used for a while cost about three times as much CPU (the host maps it).
            for name in (STACK, RAW):
                shutil.rmtree(scratch, ignore_errors=True)
                runs[name]()
            shutil.rmtree(scratch, ignore_errors=True)
            stack.dropped.clear()
            names = list(runs)
            results: dict[str, list[float]] = {name: [] for name in names}
            for round_ in range(args.rounds):
                # Each pair (stack, its limit) stays together; pairs and their order rotate.
                pairs = [names[i : i + 2] for i in range(0, len(names), 2)]
                pairs = pairs[round_ % 3 :] + pairs[: round_ % 3]
                print(f"round {round_ + 1}")
                for pair in pairs:
                    for name in pair if round_ % 2 == 0 else pair[::-1]:
                        results[name].append(measure(name, runs[name], scratch, frames))
        finally:
            stack.close()
        report(results, args.rounds, stack.dropped, frames)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[str, list[float]], rounds: int, dropped: list[int], frames: int) -> None:
    print(f"\nmedian of {rounds} rounds (frames/s):")
    for name, values in results.items():
        print(f"  {name:44} {statistics.median(values):7.1f}")
    print("limit for each promise, ratio per round (target >= 0.9):")
    for stack_name, limit, promise in (
        (STACK, RAW, "announced when complete (default)"),
        (STACK_DURABLE, RAW_FSYNC, "announced when durable (fsync)"),
    ):
        ratios = [s / r for s, r in zip(results[stack_name], results[limit], strict=True)]
        per_round = " ".join(f"{r:.2f}" for r in ratios)
        print(f"  {promise:34} hcs / {limit}: {per_round}; median {statistics.median(ratios):.2f}")
    streaming = [s / d for s, d in zip(results[STACK_DURABLE], results[STREAMING], strict=True)]
    plain = [s / t for s, t in zip(results[STACK], results[TIFFFILE], strict=True)]
    print(
        f"  for reference: hcs durable / disk streaming rate: median "
        f"{statistics.median(streaming):.2f}; hcs default / plain tifffile: median "
        f"{statistics.median(plain):.2f}"
    )
    print(
        f"frames dropped: {sum(dropped)} over {len(dropped)} bursts of {frames} "
        "(frames asked minus complete files on disk, and minus images in the catalog)"
    )


if __name__ == "__main__":
    main()
