"""Documents per second through the durable document path.

Run as a script: ``.venv/bin/python benchmarks/bench_storage_throughput.py``. A
synthetic run like the camera's (per image: one TIFF frame on disk, one StreamDatum,
one event with the frame's metadata) goes (1) into the spool, as the RunEngine's
callback does it (encode + one ``write`` per document, background ``fdatasync``), and
(2) from the spool into an embedded Tiled catalog through the forwarder. The peer
figure is the acquisition's own rate: 2 documents per image at the camera's
~95 frames/s disk ceiling (FIELD-NOTES) is ~190 documents/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "hcs_storage"))

from test_forwarder import synthetic_run

from hcs_storage.catalog import frames_dir, open_catalog
from hcs_storage.forwarder import Forwarder
from hcs_storage.spool import SpoolWriter, spool_dir

PEER_DOCS_PER_S = 2 * 95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-docs", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        catalog = open_catalog(data_dir)
        docs = synthetic_run(frames_dir(data_dir), args.images)
        writer = SpoolWriter(spool_dir(data_dir))
        per_doc = []
        t0 = time.perf_counter()
        for name, doc in docs:
            t = time.perf_counter()
            writer(name, doc)
            per_doc.append(time.perf_counter() - t)
        spool_s = time.perf_counter() - t0
        writer.close()
        forwarder = Forwarder(spool_dir(data_dir), catalog, batch_docs=args.batch_docs)
        t0 = time.perf_counter()
        while forwarder.drain_once() or forwarder._runs:
            pass
        forward_s = time.perf_counter() - t0
    n = len(docs)
    print(f"documents: {n} ({args.images} images)")
    print(
        f"spool append: {n / spool_s:,.0f} docs/s; per document median "
        f"{statistics.median(per_doc) * 1e6:.0f} us, p99 "
        f"{sorted(per_doc)[int(0.99 * n)] * 1e6:.0f} us, max {max(per_doc) * 1e3:.1f} ms "
        f"(closing the journal at stop: {writer.close_s * 1e3:.1f} ms; background syncs: "
        f"{writer.syncs})"
    )
    print(
        f"forwarder into an embedded catalog (batches of {args.batch_docs}): "
        f"{n / forward_s:,.0f} docs/s ({forward_s:.1f} s); "
        f"ratio to the acquisition's peak {PEER_DOCS_PER_S} docs/s: "
        f"{n / forward_s / PEER_DOCS_PER_S:.1f}x"
    )


if __name__ == "__main__":
    main()
