"""Per-image time of the demo plate queued in lab mode vs run in embedded mode.

Run as a script: ``.venv/bin/python benchmarks/bench_lab_mode.py``. On the same
machine, in the same run, alternating:

- embedded: ``open_session`` in this process, ``RE(acquire_plate(microscope, spec))``;
- lab: ``hcs lab up`` (Redis, Tiled server, forwarder, RE Manager, watcher on
  127.0.0.1), the same plate queued with ``bluesky_queueserver_api`` and the queue
  started.

The microscope is the shipped one made quick (``fast_config``: 256 x 256 frames); the
plate is the demo spec (108 images). Per-image time is the run's own clock (its start
to its stop document, from the spool journal, divided by its images), so both modes
are timed the same way. Lab mode also prints the time from the ``queue_start``
request to the first image's row (its event time) and to the end of the item.

Each mode runs the plate once to warm up (imports, first renders), then ``--repeats``
times, alternating; the embedded session stays open as the lab's worker does. Target:
lab within 10 % of embedded. Medians; the machine is shared, so read the spread too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "integration")]

from plate_harness import fast_config  # noqa: E402

from hcs_devices.config import load_config  # noqa: E402
from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC  # noqa: E402
from hcs_orchestrator.session import Session, open_session  # noqa: E402
from hcs_plans.acquire import acquire_plate  # noqa: E402
from hcs_plans.specs import spec_from_data  # noqa: E402
from hcs_schema import FRAMES_STREAM  # noqa: E402
from hcs_storage.spool import JOURNAL_SUFFIX, read_journal, spool_dir  # noqa: E402

HCS = Path(sys.executable).with_name("hcs")
PROFILE = ROOT / "profile"


def run_timing(data_dir: Path, uid: str) -> tuple[float, int, float]:
    """(run seconds, images, first image's row time) from a run's journal."""
    entries = read_journal(spool_dir(data_dir) / f"{uid}{JOURNAL_SUFFIX}")
    start = entries[0].doc["time"]
    stop = next(e.doc for e in entries if e.name == "stop")
    frames = {
        e.doc["uid"]
        for e in entries
        if e.name == "descriptor" and e.doc.get("name") == FRAMES_STREAM
    }
    first = min(
        (e.doc["time"][0] if e.name == "event_page" else e.doc["time"])
        for e in entries
        if e.name in ("event", "event_page") and e.doc["descriptor"] in frames
    )
    images = int(stop["num_events"].get(FRAMES_STREAM, 0))
    return stop["time"] - start, images, first


def embedded(session: Session, spec_data: dict[str, Any]) -> float:
    """Per-image seconds of one embedded run."""
    (uid,) = session.RE(acquire_plate(session.microscope, spec_from_data(spec_data)))
    session.flush(120)
    seconds, images, _ = run_timing(session.data_dir, uid)
    return seconds / images


def lab_run(api: Any, spec_data: dict[str, Any], data_dir: Path) -> tuple[float, float, float]:
    """(per-image s, queue_start to first image s, queue_start to item done s)."""
    from bluesky_queueserver_api import BPlan

    api.item_add(BPlan("acquire_plate", "microscope", spec=spec_data))
    started = time.time()
    api.queue_start()
    api.wait_for_idle(timeout=600)
    done = time.time()
    item = api.history_get()["items"][-1]
    assert item["result"]["exit_status"] == "completed", item["result"]
    (uid,) = item["result"]["run_uids"]
    seconds, images, first = run_timing(data_dir, uid)
    return seconds / images, first - started, done - started


def main() -> None:
    parser = argparse.ArgumentParser(description="lab mode vs embedded mode, per image")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from bluesky_queueserver_api.zmq import REManagerAPI

    config = fast_config(load_config(DEFAULT_CONFIG))
    spec_data = yaml.safe_load(DEMO_SPEC.read_text()) | {"experiment_id": "bench-lab"}
    with tempfile.TemporaryDirectory(prefix="hcs-bench-lab-") as tmp:
        root = Path(tmp)
        config_file = root / "microscope.yaml"
        config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        lab_dir, data_dir = root / "lab", root / "lab-data"
        t0 = time.perf_counter()
        up = subprocess.run(
            [str(HCS), "lab", "up", "--lab-dir", str(lab_dir), "--data-dir", str(data_dir),
             "--profile", str(PROFILE), "--config", str(config_file)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if up.returncode != 0:
            raise SystemExit(up.stdout + up.stderr)
        print(f"hcs lab up: {time.perf_counter() - t0:.1f} s")
        settings = json.loads((lab_dir / "lab.json").read_text())
        api = REManagerAPI(zmq_control_addr=f"tcp://127.0.0.1:{settings['zmq_control_port']}")
        api.user_group = "operator"
        embedded_s: list[float] = []
        lab_s: list[float] = []
        first_s: list[float] = []
        item_s: list[float] = []
        session = open_session(config, root / "embedded")
        try:
            # One run each first: both processes import and warm up what a plate uses.
            embedded(session, spec_data)
            lab_run(api, spec_data, data_dir)
            for repeat in range(args.repeats):
                embedded_s.append(embedded(session, spec_data))
                per_image, first, whole = lab_run(api, spec_data, data_dir)
                lab_s.append(per_image)
                first_s.append(first)
                item_s.append(whole)
                print(
                    f"repeat {repeat + 1}: embedded {embedded_s[-1] * 1e3:.1f} ms/image, "
                    f"lab {per_image * 1e3:.1f} ms/image, queue_start -> first image "
                    f"{first:.2f} s, -> item done {whole:.1f} s"
                )
        finally:
            session.close()
            api.close()
            subprocess.run(
                [str(HCS), "lab", "down", "--lab-dir", str(lab_dir)],
                capture_output=True, check=False,
            )  # fmt: skip
    e, lab = statistics.median(embedded_s), statistics.median(lab_s)
    print(f"demo plate, 108 images, medians of {args.repeats}:")
    print(f"  embedded      {e * 1e3:8.1f} ms/image  (spread {min(embedded_s) * 1e3:.1f}-"
          f"{max(embedded_s) * 1e3:.1f})")  # fmt: skip
    print(f"  lab (queued)  {lab * 1e3:8.1f} ms/image  (spread {min(lab_s) * 1e3:.1f}-"
          f"{max(lab_s) * 1e3:.1f})")  # fmt: skip
    print(f"  ratio lab / embedded: {lab / e:.3f}  (target <= 1.10)")
    print(f"  queue_start -> first image: {statistics.median(first_s):.2f} s; "
          f"-> item done: {statistics.median(item_s):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
