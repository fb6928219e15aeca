"""RunEngine per-image time with the durable storage path on, off, and with Tiled down.

Run as a script: ``.venv/bin/python benchmarks/bench_storage_overhead.py``. One session
(simulated microscope, 256 x 256 frames, software-triggered plate acquisition) runs
the same plate repeatedly, alternating:

- null: the storage callback replaced by one that does nothing (the peer figure);
- spool + forwarder: every document journaled, a forwarder thread feeding Tiled;
- Tiled down: the same with the Tiled server stopped (the spool grows, the forwarder
  retries with backoff).

Targets: storage on within 5 % of null; Tiled down within 10 % of Tiled up. Medians
of ``--repeats`` runs; the machine is shared, so read the spread too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from plate_harness import fast_config  # noqa: E402
from storage_support import TiledServer, plate_sequence, storage_session  # noqa: E402

from hcs_devices.config import load_config  # noqa: E402
from hcs_plans.acquire import acquire_plate  # noqa: E402
from hcs_plans.specs import spec_from_data  # noqa: E402

SEQUENCE = plate_sequence([[1, 1, 2, 2], [1, 2, 1, 2]])  # 32 images
IMAGES = 32


def per_image_s(h: Any, spec: Any) -> float:
    t0 = time.perf_counter()
    h.RE(acquire_plate(h.microscope, spec))
    return (time.perf_counter() - t0) / IMAGES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = fast_config(load_config(ROOT / "profile" / "microscope.yaml"))
    spec = spec_from_data({"sequence": SEQUENCE, "hardware_sequencing": False})
    figures: dict[str, list[float]] = {"null": [], "on": [], "up": [], "down": []}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        server = TiledServer(data_dir)
        server.start()
        try:
            with storage_session(config, data_dir, catalog=server.client()) as h:
                storage = h.session.storage
                spool = storage.spool
                per_image_s(h, spec)  # warm up
                for _ in range(args.repeats):
                    storage.spool = lambda name, doc: None  # type: ignore[assignment]
                    figures["null"].append(per_image_s(h, spec))
                    storage.spool = spool
                    figures["on"].append(per_image_s(h, spec))
                    assert h.session.flush(300.0)
                for _ in range(args.repeats):
                    figures["up"].append(per_image_s(h, spec))
                assert h.session.flush(300.0)
                server.stop()
                for _ in range(args.repeats):
                    figures["down"].append(per_image_s(h, spec))
                backlog = storage.backlog
                server.start()
                t0 = time.perf_counter()
                assert h.session.flush(600.0)
                drain_s = time.perf_counter() - t0
        finally:
            server.stop()
    med = {k: statistics.median(v) for k, v in figures.items()}
    for key, values in figures.items():
        print(
            f"{key:5}: per image median {med[key] * 1e3:6.1f} ms "
            f"(runs: {', '.join(f'{v * 1e3:.1f}' for v in values)})"
        )
    print(f"storage on / null: {med['on'] / med['null']:.3f} (target <= 1.05)")
    print(f"Tiled down / Tiled up: {med['down'] / med['up']:.3f} (target <= 1.10)")
    print(f"backlog while down: {backlog} documents, drained in {drain_s:.1f} s after restart")


if __name__ == "__main__":
    main()
