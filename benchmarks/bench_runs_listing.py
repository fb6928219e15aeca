"""``hcs runs`` over a catalog of many runs, against opening every run.

Run as a script: ``.venv/bin/python benchmarks/bench_runs_listing.py [--runs 300]``.

Builds (or reuses, with ``--data-dir``) a data directory whose catalog holds
``--runs`` runs: ``--written`` small plate runs written through Bluesky's
``TiledWriter`` (:func:`hcs_storage.sample.write_sample_run`; every tenth aborted
after part of its images), the rest copies of those runs' catalog entries (their
top-level node, start and stop documents, under new uids and start times) inserted
with SQL, because writing a run through the writer takes 2-10 s on this shared
machine. A listing reads only those entries, so copies cost it what written runs do.
It then measures, in the same run:

- ``hcs runs`` as a user runs it (a new process; interpreter start-up included), for
  the default page of 50 runs and for all of them (``--limit``);
- :func:`hcs_storage.runs.list_runs` in this process (one SQL query per page);
- the peers: opening the catalog through Tiled and opening every run
  (``catalog[uid]`` and its metadata), and the Tiled client's paged listing
  (:func:`hcs_storage.runs.describe_runs`), which is how ``hcs runs`` worked before.

Target: ``hcs runs`` under 1 s for 300 runs. Medians of ``--repeats``; the machine is
shared, so the spread, the processes' CPU time and the load average are printed too
(on an oversubscribed machine the wall time is mostly waiting for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.runs import describe_runs, list_runs
from hcs_storage.sample import write_sample_run

TARGET_S = 1.0


def build_catalog(data_dir: Path, runs: int, written: int) -> float:
    """Write runs until the catalog holds ``written``, copy them up to ``runs``; seconds taken."""
    began = time.perf_counter()
    write_runs(data_dir, min(runs, written))
    copy_runs(data_dir, runs)
    return time.perf_counter() - began


def write_runs(data_dir: Path, runs: int) -> None:
    """Write small plate runs through ``TiledWriter`` until the catalog holds ``runs``."""
    have = list_runs(data_dir, limit=1).total
    if have >= runs:
        return
    client = open_catalog(data_dir)
    try:
        for i in range(have, runs):
            write_sample_run(
                client,
                data_dir,
                experiment_id=f"exp{i // 50:02d}",
                wells=("B2", "B3"),
                fields_per_well=1,
                channels=("DAPI",),
                z_planes=1,
                shape=(8, 8),
                stop_after=1 if i % 10 == 9 else None,
            )
            if (i + 1) % 10 == 0:
                print(f"  {i + 1} runs written", flush=True)
    finally:
        close_catalog(client)


def copy_runs(data_dir: Path, runs: int) -> None:
    """Copy the catalog's run entries (new uids, later start times) until it holds ``runs``."""
    with sqlite3.connect(data_dir / "catalog.db") as db:
        (root,) = db.execute("SELECT id FROM nodes WHERE parent IS NULL").fetchone()
        rows = db.execute(
            "SELECT structure_family, metadata, specs FROM nodes WHERE parent = ? ORDER BY id",
            (root,),
        ).fetchall()
        for i in range(len(rows), runs):
            family, metadata, specs = rows[i % len(rows)]
            md = json.loads(metadata)
            uid = str(uuid.uuid4())
            md["start"] = {**md["start"], "uid": uid, "time": md["start"]["time"] + i}
            if md.get("stop"):
                md["stop"] = {**md["stop"], "run_start": uid, "uid": str(uuid.uuid4())}
            cursor = db.execute(
                "INSERT INTO nodes (parent, key, structure_family, metadata, specs) "
                "VALUES (?, ?, ?, ?, ?)",
                (root, uid, family, json.dumps(md), specs),
            )
            node = cursor.lastrowid
            db.executemany(
                # (Tiled's triggers may have added these already.)
                "INSERT OR IGNORE INTO nodes_closure (ancestor, descendant, depth) "
                "VALUES (?, ?, ?)",
                [(node, node, 0), (root, node, 1)],
            )


def timed(work: Callable[[], object], repeats: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``work``."""
    out: list[float] = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        out.append(time.perf_counter() - began)
    return out


#: CPU seconds (user + system) of each ``hcs runs`` process, in order.
CPU_S: list[float] = []


def hcs_runs(data_dir: Path, *extra: str) -> None:
    """``hcs runs`` in a new process, as a user runs it; its CPU time goes to ``CPU_S``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "hcs_orchestrator.cli", "runs", "--data-dir", str(data_dir), *extra],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S.append(
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
    )


def open_every_run(data_dir: Path) -> int:
    """The peer: open the catalog through Tiled, then every run and its metadata."""
    client = open_catalog(data_dir)
    try:
        images = 0
        for uid in list(client):
            stop = client[uid].metadata.get("stop") or {}
            images += int((stop.get("num_events") or {}).get("frames", 0))
        return images
    finally:
        close_catalog(client)


def tiled_listing(data_dir: Path) -> int:
    """The Tiled client's paged listing (runs' metadata in pages; no run opened)."""
    client = open_catalog(data_dir)
    try:
        return len(list(describe_runs(client)))
    finally:
        close_catalog(client)


def show(name: str, times: list[float], peer: float | None = None) -> float:
    median = statistics.median(times)
    spread = f"{min(times):.3f}-{max(times):.3f}"
    ratio = f"  ({median / peer:.3f} x opening every run)" if peer else ""
    print(f"{name:46} {median:8.3f} s  [{spread}]{ratio}")
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs in the catalog")
    parser.add_argument(
        "--written", type=int, default=20, help="of those, runs written through TiledWriter"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of each figure")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse this data directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hcs-bench-runs-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        built = build_catalog(data_dir, args.runs, args.written)
        total = list_runs(data_dir, limit=1).total
        print(
            f"catalog: {total} runs in {data_dir}"
            + (f" (written in {built:.0f} s)" if built else "")
        )
        page = list_runs(data_dir, limit=total)
        aborted = [r for r in page.runs if r.exit_status == "abort"]
        wrong = [r for r in aborted if r.images == r.planned_images]
        print(f"aborted runs: {len(aborted)}, listed with their planned count: {len(wrong)}")
        peer = show(
            "peer: open catalog + every run (Tiled)", timed(lambda: open_every_run(data_dir), 1)
        )
        show(
            "Tiled client's paged listing (before)", timed(lambda: tiled_listing(data_dir), 1), peer
        )
        show(
            "list_runs, one page of 50 (in process)",
            timed(lambda: list_runs(data_dir), args.repeats),
            peer,
        )
        show(
            f"list_runs, all {total} (in process)",
            timed(lambda: list_runs(data_dir, limit=total), args.repeats),
            peer,
        )
        page_s = show(
            "hcs runs (new process, page of 50)",
            timed(lambda: hcs_runs(data_dir), args.repeats),
            peer,
        )
        all_s = show(
            f"hcs runs --limit {total} (new process)",
            timed(lambda: hcs_runs(data_dir, "--limit", str(total)), args.repeats),
            peer,
        )
        cpu = statistics.median(CPU_S)
        print(f"hcs runs CPU time (user + system), median:    {cpu:8.3f} s")
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        verdict = "met" if max(page_s, all_s) < TARGET_S else "NOT met"
        print(f"target: hcs runs under {TARGET_S:.0f} s (wall) for {total} runs: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
