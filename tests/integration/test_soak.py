"""Fifty acquisitions back to back, with aborts, stops and pauses at random points.

One session, one catalog. A seeded random schedule picks, for each run, what a watcher
thread does once the run has recorded some images: nothing, ``RE.abort()``,
``RE.stop()``, or a deferred pause (``RE.request_pause(defer=True)``) after which the
main thread resumes or aborts. Every run must end (pytest-timeout), leave the
microscope safe, record exactly what its ending implies, and leak neither threads nor
file descriptors.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky.run_engine import RunEngineInterrupted, TransitionError
from plate_harness import SessionHarness, Watcher, fast_config, open_test_session

from frame_rows import frame_rows, images_announced
from hcs_devices.config import MicroscopeConfig
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

RUNS = 50
SEED = 20240611
ACTIONS = ("none", "abort", "stop", "pause-resume", "pause-abort")
#: What each ending records as the run's exit status.
EXIT_STATUS = {
    "none": "success",
    "abort": "abort",
    "stop": "success",
    "pause-resume": "success",
    "pause-abort": "abort",
}
#: Threads and descriptors that may legitimately appear after the warm-up: the
#: RunEngine loop's default executor starts its worker threads lazily (one per
#: concurrent blocking call, up to min(32, cpus + 4)), and the in-process HTTP client
#: may keep an extra pooled connection (a socket pair) to the catalog app.
THREAD_TOLERANCE = 3
FD_TOLERANCE = 6


def tiny_sequence(rng: random.Random, fovs: int) -> tuple[dict[str, Any], int]:
    """One well, ``fovs`` fields, 1-2 channels, 1-2 planes; and images per field."""
    channels, planes = rng.randint(1, 2), rng.randint(1, 2)
    sequence: dict[str, Any] = {
        "axis_order": rng.choice(["tpgcz", "tpgzc"]),
        "stage_positions": {
            "plate": 96,
            "a1_center_xy": [14380.0, 11240.0],
            "selected_wells": [[rng.randint(1, 6)], [rng.randint(1, 10)]],
            "well_points_plan": {"rows": 1, "columns": fovs, "overlap": 10},
        },
        "channels": [{"config": name, "exposure": 2.0} for name in ("DAPI", "GFP")[:channels]],
    }
    if planes == 2:
        sequence["z_plan"] = {"range": 1.0, "step": 1.0}
    return sequence, channels * planes


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def images_of(harness: SessionHarness, uid: str) -> int:
    """Images of a run announced so far (StreamDatums of its primary stream)."""
    return images_announced(harness.run_documents(uid))


def rows_of(harness: SessionHarness, uid: str) -> list[dict[str, Any]]:
    """Every image's row of a run so far (its ``frames`` stream), in image order."""
    return frame_rows(harness.run_documents(uid))


def latest_uid(harness: SessionHarness) -> str:
    return next(d["uid"] for n, d in reversed(harness.documents) if n == "start")


@pytest.fixture(scope="module")
def soak_harness(
    profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    config = fast_config(profile_config, sensor_px=128)
    with open_test_session(config, tmp_path_factory.mktemp("soak")) as h:
        yield h


def one_run(harness: SessionHarness, rng: random.Random, hardware: bool) -> dict[str, Any]:
    """Acquire one tiny sequence with a randomly chosen interruption; what happened."""
    action = rng.choice(ACTIONS)
    # A deferred pause takes effect at the next checkpoint, i.e. the next field of view.
    # Images are announced once per field, so a pause is requested once the first field
    # is recorded, while the second may already be under way: pauses get three fields,
    # so a checkpoint is still ahead (the third field's at the latest).
    # An abort or a stop is requested with a field still to take: requested as the last
    # field is recorded, it may reach the RunEngine after the run has closed (its stop
    # document written), where it ends only the clean-up.
    fovs = 3 if action.startswith("pause") else rng.randint(1, 2)
    if action in ("abort", "stop"):
        fovs = 2
    sequence, per_field = tiny_sequence(rng, fovs)
    images = fovs * per_field
    at = rng.randint(1, per_field) if action != "none" else rng.randint(1, images)
    spec = spec_from_data({"sequence": sequence, "hardware_sequencing": hardware})
    starts = sum(1 for n, _ in harness.documents if n == "start")
    RE = harness.RE

    def has_images() -> bool:
        uids = [d["uid"] for n, d in harness.documents if n == "start"]
        return len(uids) > starts and images_of(harness, uids[-1]) >= at

    def act() -> str:
        uids = [d["uid"] for n, d in harness.documents if n == "start"]
        if any(n == "stop" and d["run_start"] == uids[-1] for n, d in harness.documents):
            return "too-late"  # the run has closed: nothing of it to interrupt
        try:
            if action in ("abort", "stop"):
                getattr(RE, action)()
            elif action.startswith("pause"):
                RE.request_pause(defer=True)
        except TransitionError:
            return "too-late"  # the run ended before the request: nothing to interrupt
        return "done"

    watcher = Watcher(has_images, act).start() if action != "none" else None
    happened = action
    try:
        RE(acquire_plate(harness.microscope, spec))
        if action != "none":
            # No interruption took effect: the request came after the last checkpoint
            # (a deferred pause) or after the run had ended.
            happened = "none"
    except RunEngineInterrupted:
        if RE.state == "paused":
            assert action.startswith("pause")
            assert not harness.sim.illumination.is_on, "paused with the light on"
            if action == "pause-resume":
                RE.resume()
            else:
                RE.abort("soak: abort while paused")
    if watcher is not None:
        outcome = watcher.join()
        if outcome == "too-late":
            happened = "none"
    uid = latest_uid(harness)
    return {"uid": uid, "action": action, "happened": happened, "images": images}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fifty_interrupted_acquisitions_end_cleanly_when_run_back_to_back(
    soak_harness: SessionHarness,
) -> None:
    harness = soak_harness
    rng = random.Random(SEED)
    # Warm up (catalog client, executor threads, one of each mode) before counting.
    for hardware in (True, False):
        one_run(harness, random.Random(1), hardware)
    assert harness.session.flush(60.0)
    threads_before, fds_before = threading.active_count(), open_fds()

    results = []
    for i in range(RUNS):
        result = one_run(harness, rng, hardware=i % 2 == 0)
        problems = harness.safe_state_problems()
        assert problems == [], f"run {i} ({result}) left {problems}"
        results.append(result)
    assert harness.session.flush(120.0)

    happened = Counter(r["happened"] for r in results)
    assert set(ACTIONS) <= set(happened), Counter((r["action"], r["happened"]) for r in results)
    catalog = harness.session.catalog
    for r in results:
        uid = r["uid"]
        (stop,) = [d for n, d in harness.documents if n == "stop" and d["run_start"] == uid]
        expected = EXIT_STATUS[r["happened"]]
        assert stop["exit_status"] == expected, r
        assert catalog[uid].metadata["stop"]["exit_status"] == expected, r
        rows = rows_of(harness, uid)
        keys = [
            tuple(row[f"frame-{k}"] for k in ("well", "fov", "channel", "z_index")) for row in rows
        ]
        assert len(keys) == len(set(keys)), f"duplicated image in {r}"
        images = images_of(harness, uid)
        if r["happened"] in ("none", "pause-resume"):
            assert len(rows) == images == r["images"], r
            assert catalog[uid]["primary"]["camera"].shape[0] == r["images"], r
        else:
            assert len(rows) <= r["images"] and images <= r["images"], r

    # Threads and descriptors: back to where they were after the warm-up.
    assert threading.active_count() <= threads_before + THREAD_TOLERANCE, [
        t.name for t in threading.enumerate()
    ]
    assert open_fds() <= fds_before + FD_TOLERANCE, sorted(os.listdir("/proc/self/fd"))
    assert not [t for t in threading.enumerate() if t.name.startswith("tiff-writer-")]
    assert len(list(Path(harness.session.data_dir, "frames").iterdir())) >= RUNS
