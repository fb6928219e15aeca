"""What the DuckDB connection lock costs one use of the event tables.

Run as a script: ``.venv/bin/python benchmarks/bench_duckdb_lock.py``. One thread
checks the event-table connection out of Tiled's storage, appends a row, commits and
returns it, ``--uses`` times: first through Tiled's own ``connect()`` (the peer), then
with :func:`hcs_storage.duckdb_lock.install_duckdb_connection_lock` installed. Prints
microseconds per use for each and their ratio. (Without the lock, uses from several
threads at once fail or crash the process, so only one thread is timed.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pyarrow as pa
from tiled.storage import SQLStorage, parse_storage

from hcs_storage.duckdb_lock import install_duckdb_connection_lock


def time_uses(storage: Any, uses: int) -> float:
    """Microseconds per connect-append-commit-close on ``storage``."""
    row = pa.table({"seq_num": [1], "x_um": [1.5]})
    start = time.perf_counter()
    for _ in range(uses):
        with closing(storage.connect()) as conn:
            with conn.cursor() as cursor:
                cursor.adbc_ingest("events", row, mode="append")
            conn.commit()
    return (time.perf_counter() - start) / uses * 1e6


def main() -> None:
    """Print the per-use time with and without the lock."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uses", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        storage = parse_storage(f"duckdb:///{Path(tmp) / 'tables.duckdb'}")
        assert isinstance(storage, SQLStorage)
        with closing(storage.connect()) as conn:
            with conn.cursor() as cursor:
                cursor.execute("CREATE TABLE events (seq_num BIGINT, x_um DOUBLE)")
            conn.commit()
        peer = [time_uses(storage, args.uses) for _ in range(args.repeats)]
        install_duckdb_connection_lock()
        locked = [time_uses(storage, args.uses) for _ in range(args.repeats)]
        storage.dispose()
    peer_us, locked_us = statistics.median(peer), statistics.median(locked)
    print(f"Tiled's connect():   {peer_us:8.1f} us per use (median of {args.repeats})")
    print(f"with the hcs lock:   {locked_us:8.1f} us per use (median of {args.repeats})")
    print(f"ratio locked / peer: {locked_us / peer_us:.3f}")


if __name__ == "__main__":
    main()
