"""Live preview: latency to the browser, frames dropped at the viewer, cost to the plate.

Two measurements on the shipped simulated microscope (2048 x 2048 sensor; frames from
the pre-rendered bank, ``simulation: fast``, so rendering is not what is measured),
with a real session, the web console served by uvicorn on 127.0.0.1 and real WebSocket
viewers:

1. Live view free-running at ``--fps`` (exposure 1000/fps ms) for ``--seconds``, with
   ``--viewers`` WebSocket viewers: the frame rate the camera reached (and its ratio to
   the target), latency from a frame's timestamp to its WebSocket message arriving
   (median, p95), and the share of frames each viewer did not get (dropped at the
   viewer: a viewer takes the newest frame when it is ready). The camera drops nothing
   if every frame it took reached the preview tap (``offered == taken``). The same
   live view with no viewer, in the same run, is the peer of the frame rate.
2. The demo plate (``hcs demo``'s sequence), acquired ``--runs`` times with no viewer
   and ``--runs`` times with two web viewers and one shared-memory reader in another
   process, previewing every frame (``preview_every_n = 1``): median seconds per image
   of each, their ratio (the target is within 5 %), and images written == images
   expected (the writer drops nothing). Then ``--runs`` more with the same viewers each
   also polling what the console page polls (the state twice a second; the queue,
   MERFISH and overview panels every 3 s; the overview's PNG whenever a newer run has
   ended, which the console draws then).

Run on demand::

    .venv/bin/python benchmarks/bench_preview.py [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import httpx
from websockets.sync.client import connect

from hcs_devices.camera.shared_frame import SharedFrameReader, SharedFrameSlot
from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.console.server import ConsoleServer
from hcs_orchestrator.console.wiring import Console, console_for
from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC
from hcs_orchestrator.session import Session, open_session
from hcs_plans import load_spec

KEY = "benchmarkkey0123456789"
#: Images of the demo plate: 3 wells x 4 fields x 3 channels x 3 planes.
DEMO_IMAGES = 108


class Viewer:
    """A WebSocket viewer in a thread: records each frame's seq and latency (s)."""

    def __init__(self, url: str) -> None:
        self.latencies: list[float] = []
        self.seqs: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        with connect(url, max_size=None) as ws:
            while not self._stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.5))
                except TimeoutError:
                    continue
                self.latencies.append(time.time() - message["meta"]["time_s"])
                self.seqs.append(int(message["meta"]["seq"]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class PagePoller:
    """What a console page reads besides the frames, polled as the page does, in a thread."""

    def __init__(self, base_url: str) -> None:
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base_url,), daemon=True)
        self._thread.start()

    def _run(self, base_url: str) -> None:
        headers = {"Authorization": f"Apikey {KEY}"}
        shown = ""
        with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:
            tick = 0
            while not self._stop.wait(0.5):
                client.get("/api/state")
                self.requests += 1
                if tick % 6 == 0:
                    for path in ("/api/queue", "/api/merfish"):
                        client.get(path)
                    latest = client.get("/api/overview").json().get("run_uid", "")
                    self.requests += 3
                    if latest and latest != shown:
                        client.get("/api/overview.png")
                        shown, self.requests = latest, self.requests + 1
                tick += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def fast_microscope(base: MicroscopeConfig) -> MicroscopeConfig:
    """The shipped microscope with frames from the pre-rendered bank."""
    camera = base.camera.model_copy(update={"simulation": "fast"})
    return base.model_copy(update={"camera": camera})


def live_latency(
    session: Session, console: Console, url: str, fps: float, seconds: float, viewers: int
) -> dict[str, Any]:
    """Free-run live view at ``fps`` with ``viewers`` WebSocket viewers for ``seconds``."""
    camera = session.microscope.camera
    control = console.control
    control.start_live(channel="DAPI", exposure_ms=1000.0 / fps)
    time.sleep(1.0)  # noqa: TID251  (a benchmark warming up)
    watching = [Viewer(f"{url}?api_key={KEY}") for _ in range(viewers)]
    time.sleep(0.5)  # noqa: TID251
    taken0, offered0 = camera.live.frames, camera.preview.offered
    seq0 = camera.preview.next_seq()
    start = time.monotonic()
    time.sleep(seconds)  # noqa: TID251
    elapsed = time.monotonic() - start
    taken, offered = camera.live.frames - taken0, camera.preview.offered - offered0
    seq1 = camera.preview.next_seq()
    for viewer in watching:
        viewer.stop()
    control.stop_live()
    latencies = sorted(x for v in watching for x in v.latencies[2:])
    shares = []
    for viewer in watching:
        got = len([s for s in viewer.seqs if seq0 <= s < seq1])
        shares.append(1.0 - got / max(seq1 - seq0, 1))
    return {
        "fps_target": fps,
        "fps_reached": taken / elapsed,
        "frames_taken": taken,
        "frames_offered": offered,
        "latency_median_ms": 1e3 * statistics.median(latencies) if latencies else float("nan"),
        "latency_p95_ms": 1e3 * latencies[int(0.95 * (len(latencies) - 1))]
        if latencies
        else float("nan"),
        "dropped_at_viewer": shares,
    }


def shm_reader(name: str, seconds: float) -> None:
    """Read the shared-memory slot at 30 Hz for ``seconds`` (run in another process)."""
    reader = SharedFrameReader(name)
    reads = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if reader.read() is not None:
            reads += 1
        time.sleep(1 / 30)  # noqa: TID251
    reader.close()
    print(reads)


def plate_seconds_per_image(
    session: Session, console: Console, url: str, runs: int, watched: bool, pages: bool = False
) -> tuple[list[float], list[bool]]:
    """Seconds per image of the demo plate, each run; and whether each wrote every image."""
    spec = load_spec(DEMO_SPEC)
    camera = session.microscope.camera
    documents: list[tuple[str, dict[str, Any]]] = []
    token = session.RE.subscribe(lambda name, doc: documents.append((name, doc)))
    session.RE(bps.mv(camera.preview_every_n, 1))
    per_image, complete = [], []
    for _ in range(runs):
        viewers: list[Viewer] = []
        pollers: list[PagePoller] = []
        reader: subprocess.Popen[str] | None = None
        slot: SharedFrameSlot | None = None
        if watched:
            slot = SharedFrameSlot(2048, 2048)
            camera.preview.add_sink(slot)
            reader = subprocess.Popen(
                [sys.executable, __file__, "--shm-reader", slot.name, "600"],
                stdout=subprocess.PIPE,
                text=True,
            )
            viewers = [Viewer(f"{url}?api_key={KEY}") for _ in range(2)]
            page = url.replace("ws://", "http://").removesuffix("/ws/live")
            pollers = [PagePoller(page) for _ in viewers] if pages else []
        start = time.monotonic()
        uid = console.control.acquire(spec)
        elapsed = time.monotonic() - start
        written = asyncio.run_coroutine_threadsafe(
            camera.data.frames_written.get_value(), session.RE.loop
        ).result(30)
        stops = [d for n, d in documents if n == "stop" and d["run_start"] == uid]
        per_image.append(elapsed / DEMO_IMAGES)
        complete.append(written == DEMO_IMAGES and stops[0]["exit_status"] == "success")
        for viewer in viewers:
            viewer.stop()
        for poller in pollers:
            poller.stop()
        if reader is not None:
            reader.terminate()
            reader.wait(10)
        if slot is not None:
            camera.preview.remove_sink(slot)
            slot.close()
    session.RE.unsubscribe(token)
    return per_image, complete


def main() -> int:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shm-reader", nargs=2, metavar=("NAME", "SECONDS"), default=None)
    args = parser.parse_args()
    if args.shm_reader:
        shm_reader(args.shm_reader[0], float(args.shm_reader[1]))
        return 0
    config = fast_microscope(load_config(DEFAULT_CONFIG))
    with tempfile.TemporaryDirectory(prefix="bench-preview-", dir=".") as tmp:
        session = open_session(config, Path(tmp) / "data")
        console = console_for(session, api_key=KEY)
        try:
            with ConsoleServer(console.app) as server:
                url = f"ws://{server.host}:{server.port}/ws/live"
                alone = live_latency(session, console, url, args.fps, args.seconds, 0)
                live = live_latency(session, console, url, args.fps, args.seconds, args.viewers)
                print("live view, 2048 x 2048, free-running:")
                print(
                    f"  camera: {live['fps_reached']:.1f} frames/s of {args.fps:.0f} wanted "
                    f"(ratio {live['fps_reached'] / args.fps:.2f}); frames taken "
                    f"{live['frames_taken']}, offered to the preview tap "
                    f"{live['frames_offered']} (camera dropped "
                    f"{live['frames_taken'] - live['frames_offered']})"
                )
                print(
                    f"  camera with no viewer, same run: {alone['fps_reached']:.1f} frames/s; "
                    f"with {args.viewers} viewers / without: "
                    f"{live['fps_reached'] / alone['fps_reached']:.2f}"
                )
                print(
                    f"  frame -> WebSocket latency: median {live['latency_median_ms']:.1f} ms, "
                    f"p95 {live['latency_p95_ms']:.1f} ms; frame period "
                    f"{1e3 / args.fps:.1f} ms"
                )
                drops = ", ".join(f"{share:.0%}" for share in live["dropped_at_viewer"])
                print(f"  dropped at each of {args.viewers} viewers: {drops}")
                quiet, ok_quiet = plate_seconds_per_image(
                    session, console, url, args.runs, watched=False
                )
                busy, ok_busy = plate_seconds_per_image(
                    session, console, url, args.runs, watched=True
                )
                paged, ok_paged = plate_seconds_per_image(
                    session, console, url, args.runs, watched=True, pages=True
                )
        finally:
            console.close()
            session.close()
    q, b, p = statistics.median(quiet), statistics.median(busy), statistics.median(paged)
    print(f"demo plate ({DEMO_IMAGES} images), every frame previewed:")
    print(f"  no viewer:                          {1e3 * q:.1f} ms per image {quiet}")
    print(f"  2 web viewers + 1 shm reader:       {1e3 * b:.1f} ms per image {busy}")
    print(f"  the same, pages polling the panels: {1e3 * p:.1f} ms per image {paged}")
    for what, value in (("watched", b), ("watched with panels", p)):
        print(
            f"  ratio {what} / unwatched: {value / q:.3f} (target <= 1.05: "
            f"{'met' if value / q <= 1.05 else 'not met'})"
        )
    print(f"  every image written: {all(ok_quiet + ok_busy + ok_paged)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
