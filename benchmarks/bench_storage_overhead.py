"""RunEngine per-image time with the durable storage path on, off, and with Tiled down.

Run as a script: ``.venv/bin/python benchmarks/bench_storage_overhead.py``. Two
scenarios, each one session against a real Tiled server, running the same plate
repeatedly and alternating:

- null: the storage callback replaced by one that does nothing (the peer figure);
- on: every document journaled, a forwarder feeding Tiled: a thread of the acquisition
  process (embedded mode), or its own process (lab mode,
  ``hcs forward``);
- Tiled up / down: the same, with the Tiled server stopped for the "down" runs (the
  spool grows, the forwarder retries with backoff).

Scenarios, each in embedded and in lab mode:

- plate: the simulated microscope at its configured speeds, 256 x 256 realistic
  frames, software-triggered (32 images);
- zero-latency bursts: the overhead benchmark's instant microscope (16 x 16 frames
  from the frame bank, instant stage), hardware-timed bursts (216 images): the
  control plane is the only cost, so storage's share is the largest it can be.

Targets: storage on within 5 % of null; Tiled down within 10 % of Tiled up. Medians
of ``--repeats`` runs; the machine is shared, so read the spread too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration"), str(ROOT / "benchmarks")]

from plate_harness import fast_config  # noqa: E402
from storage_support import API_KEY, TiledServer, plate_sequence, storage_session  # noqa: E402

from bench_acquisition_overhead import SEQUENCE as INSTANT_SEQUENCE  # noqa: E402
from bench_acquisition_overhead import instant_config  # noqa: E402
from hcs_devices.config import MicroscopeConfig, load_config  # noqa: E402
from hcs_plans.acquire import acquire_plate  # noqa: E402
from hcs_plans.specs import spec_from_data  # noqa: E402

SEQUENCE = plate_sequence([[1, 1, 2, 2], [1, 2, 1, 2]])  # 32 images


def per_image_s(h: Any, spec: Any) -> float:
    images = len(list(spec.sequence))
    t0 = time.perf_counter()
    h.RE(acquire_plate(h.microscope, spec))
    return (time.perf_counter() - t0) / images


def measure(config: MicroscopeConfig, spec: Any, repeats: int, *, lab: bool) -> None:
    """Run one scenario and print its figures and ratios."""
    figures: dict[str, list[float]] = {"null": [], "on": [], "up": [], "down": []}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        server = TiledServer(data_dir)
        server.start()
        forwarder = None
        if lab:
            forwarder = subprocess.Popen(
                [str(Path(sys.executable).with_name("hcs")), "forward", "--data-dir", str(data_dir),
                 "--tiled-uri", server.uri, "--log-level", "ERROR"],
                env={**os.environ, "HCS_TILED_API_KEY": API_KEY},  # never on the command line
            )  # fmt: skip
        try:
            options: dict[str, Any] = {"forwarder": False} if lab else {}
            with storage_session(config, data_dir, catalog=server.client(), **options) as h:
                storage = h.session.storage
                spool = storage.spool
                per_image_s(h, spec)  # warm up
                for _ in range(repeats):
                    storage.spool = lambda name, doc: None  # type: ignore[assignment]
                    figures["null"].append(per_image_s(h, spec))
                    storage.spool = spool
                    figures["on"].append(per_image_s(h, spec))
                    assert h.session.flush(300.0)
                for _ in range(repeats):
                    figures["up"].append(per_image_s(h, spec))
                assert h.session.flush(300.0)
                server.stop()
                for _ in range(repeats):
                    figures["down"].append(per_image_s(h, spec))
                backlog = storage.backlog
                server.start()
                t0 = time.perf_counter()
                assert h.session.flush(600.0)
                drain_s = time.perf_counter() - t0
        finally:
            if forwarder is not None:
                forwarder.terminate()
                forwarder.wait(30)
            server.stop()
    med = {k: statistics.median(v) for k, v in figures.items()}
    for key, values in figures.items():
        print(
            f"{key:5}: per image median {med[key] * 1e3:7.2f} ms "
            f"(runs: {', '.join(f'{v * 1e3:.2f}' for v in values)})"
        )
    print(f"storage on / null: {med['on'] / med['null']:.3f} (target <= 1.05)")
    print(f"Tiled down / Tiled up: {med['down'] / med['up']:.3f} (target <= 1.10)")
    print(f"backlog while down: {backlog} documents, drained in {drain_s:.1f} s after restart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    profile = load_config(ROOT / "src" / "hcs_orchestrator" / "data" / "microscope.yaml")
    plate = spec_from_data({"sequence": SEQUENCE, "hardware_sequencing": False})
    bursts = spec_from_data({"sequence": INSTANT_SEQUENCE, "hardware_sequencing": True})
    for lab in (False, True):
        mode = "lab mode (forwarder process)" if lab else "embedded mode (forwarder thread)"
        print(f"== plate: configured speeds, 256 x 256 frames, software-triggered; {mode}")
        measure(fast_config(profile), plate, args.repeats, lab=lab)
        print(f"== zero-latency bursts: instant microscope, 16 x 16 frames; {mode}")
        measure(instant_config(profile), bursts, args.repeats, lab=lab)


if __name__ == "__main__":
    main()
