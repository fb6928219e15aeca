"""Remote control of a running plate in lab mode: deferred pause, resume and abort.

One lab (``hcs lab up``: real Redis, RE Manager, Tiled server and forwarder on
127.0.0.1) serves the module. Clients run in processes of their own
(``lab_client.py``), as a remote user's do.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from lab_harness import (
    PLATE,
    RunningLab,
    closed_run,
    frame_files,
    frames_written,
    newest_run,
    plate_spec,
    queue_client,
    running_lab,
    service_processes,
    wait_until,
)
from test_squid_acquisition import squid_config

from hcs_devices.config import MicroscopeConfig
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.protocol import Axis
from hcs_orchestrator.lab.layout import WORKER_COMMAND
from hcs_schema import frame_key
from hcs_storage.owner import read_holder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, fast_profile_config: MicroscopeConfig
) -> Iterator[RunningLab]:
    """A lab on the simulated microscope."""
    with running_lab(tmp_path_factory.mktemp("lab-remote"), fast_profile_config) as started:
        yield started


@pytest.mark.timeout(300)
def test_lab_plate_paused_resumed_and_aborted_remotely_keeps_each_image_once(
    lab: RunningLab,
) -> None:
    spec = plate_spec("pause-resume-abort", wells=4, fields=4)  # 32 images
    total = 4 * 4 * 2
    (added, started, running) = queue_client(
        lab,
        "operator",
        [
            {"add": PLATE | {"kwargs": {"spec": spec}}},
            {"call": "queue_start"},
            {"wait_status": {"re_state": "running"}, "timeout_s": 60},
        ],
    )
    assert added["success"] and started["success"], (added, started)
    uid_of_item = running["running_item_uid"]
    wait_until(lambda: frames_written(lab) >= 2, 60, "the first images")

    # A deferred pause stops at the next checkpoint; resume goes on from there.
    paused, _ = queue_client(
        lab,
        "operator",
        [
            {"call": "re_pause", "kwargs": {"option": "deferred"}},
            {"wait_status": {"manager_state": "paused", "re_state": "paused"}, "timeout_s": 60},
        ],
    )
    assert paused["success"], paused
    done_at_pause = frames_written(lab)
    assert done_at_pause < total
    threading.Event().wait(1.0)  # nothing is acquired while paused
    assert frames_written(lab) == done_at_pause

    resumed, _ = queue_client(
        lab,
        "operator",
        [{"call": "re_resume"}, {"wait_status": {"re_state": "running"}, "timeout_s": 60}],
    )
    assert resumed["success"], resumed
    wait_until(lambda: frames_written(lab) > done_at_pause, 60, "images after the resume")

    # Paused again, then aborted: the run closes with exit status "abort".
    answers = queue_client(
        lab,
        "operator",
        [
            {"call": "re_pause", "kwargs": {"option": "deferred"}},
            {"wait_status": {"re_state": "paused"}, "timeout_s": 60},
            {"call": "re_abort"},
            {"wait_idle_s": 120},
            {"queue": True},
        ],
    )
    aborted, history, queue = answers[2], answers[3], answers[4]
    assert aborted["success"], aborted
    item = history[-1]
    assert item["item_uid"] == uid_of_item
    assert item["result"]["exit_status"] == "aborted"
    (uid,) = item["result"]["run_uids"]
    assert queue == ["acquire_plate"]  # an aborted item waits at the queue's front

    stop, images, rows = closed_run(lab, uid)
    assert stop["exit_status"] == "abort"
    files = frame_files(lab, uid)
    assert 0 < images < total
    assert images == len(rows) == len(files) == frames_written(lab, uid)
    keys = list(
        zip(
            rows[frame_key("well")],
            rows[frame_key("fov")],
            rows[frame_key("channel")],
            rows[frame_key("z_index")],
            strict=True,
        )
    )
    assert len(set(keys)) == len(keys), "an image was recorded twice"
    queue_client(lab, "operator", [{"call": "item_remove", "kwargs": {"pos": "front"}}])


@pytest.fixture(scope="module")
def board() -> Iterator[EmulatedSquid]:
    """A Squid board emulated in this process, on a pseudo-terminal the worker opens."""
    with EmulatedSquid(speed_factor=50.0, status_period_s=0.004, seed=5) as emulated:
        yield emulated


@pytest.fixture(scope="module")
def squid_lab(
    tmp_path_factory: pytest.TempPathFactory,
    fast_profile_config: MicroscopeConfig,
    board: EmulatedSquid,
) -> Iterator[RunningLab]:
    """A lab whose worker drives the emulated Squid board through the real driver."""
    config = squid_config(fast_profile_config, Path(board.path))
    with running_lab(tmp_path_factory.mktemp("lab-squid"), config) as started:
        yield started


@pytest.mark.timeout(420)
def test_lab_worker_killed_mid_run_is_noticed_its_run_closed_failed_and_the_next_plate_runs(
    squid_lab: RunningLab, board: EmulatedSquid
) -> None:
    lab = squid_lab
    total = 4 * 4 * 2
    moved, added, started = queue_client(
        lab,
        "operator",
        [
            # The board starts at z = 0, below the stage's soft limit: focus height first.
            {"add": {"name": "mv", "args": ["microscope.stage_.z", 3000.0]}},
            {"add": PLATE | {"kwargs": {"spec": plate_spec("killed", wells=4, fields=4)}}},
            {"call": "queue_start"},
        ],
    )
    assert moved["success"] and added["success"] and started["success"], (added, started)
    wait_until(lambda: frames_written(lab) >= 4, 120, "the first images")
    holder = read_holder(lab.data_dir)
    assert holder is not None and holder.command == WORKER_COMMAND
    watcher_log = lab.lab_dir / "logs" / "watcher.log"
    noticed = f"the RE worker (pid {holder.pid}) is gone"

    os.kill(holder.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: noticed in watcher_log.read_text(), 30, "the watcher's notice")
    detected_s = time.monotonic() - killed_at
    print(f"worker death noticed {detected_s:.1f} s after kill -9")
    assert detected_s < 10.0
    uid = newest_run(lab)

    # The watcher reopens the environment; the new worker reset the board.
    (status,) = queue_client(
        lab,
        "observer",
        [
            {
                "wait_status": {"worker_environment_exists": True, "manager_state": "idle"},
                "timeout_s": 200,
            }
        ],
    )
    assert status["items_in_queue"] == 1  # the interrupted plate waits; nothing re-ran it
    assert not board.emulator.light_on
    assert not any(board.emulator.moving(axis) for axis in (Axis.X, Axis.Y, Axis.Z))
    # The watcher reports once it has seen the environment open (a moment later).
    wait_until(lambda: "environment reopened" in watcher_log.read_text(), 30, "the report")

    # The run is closed as failed in the Tiled server with every recorded image.
    stop, images, rows = closed_run(lab, uid)
    assert stop["exit_status"] == "fail"
    unrecorded = stop.get("unrecorded_frames", [])
    files = frame_files(lab, uid)
    print(f"killed run: {images} images, {len(files)} files, {len(unrecorded)} unrecorded")
    assert 0 < images < total
    assert images == len(rows) == frames_written(lab, uid)
    assert len(files) == images + len(unrecorded)

    # The history says what happened; the next plate runs once the item is removed.
    answers = queue_client(
        lab,
        "operator",
        [
            {"call": "item_remove", "kwargs": {"pos": "front"}},
            {"add": {"name": "mv", "args": ["microscope.stage_.z", 3000.0]}},
            {"add": PLATE | {"kwargs": {"spec": plate_spec("after-kill", wells=1, fields=2)}}},
            {"call": "queue_start"},
            {"wait_idle_s": 200},
        ],
    )
    history = answers[-1]
    killed, after = history[-3], history[-1]
    assert killed["kwargs"]["spec"]["experiment_id"] == "killed"
    assert killed["result"]["exit_status"] == "failed"
    assert "destroyed" in killed["result"]["msg"]
    assert after["result"]["exit_status"] == "completed", after["result"]["msg"]
    (next_uid,) = after["result"]["run_uids"]
    stop, images, rows = closed_run(lab, next_uid)
    assert stop["exit_status"] == "success"
    assert images == len(rows) == len(frame_files(lab, next_uid)) == 4
    assert not board.emulator.light_on


@pytest.mark.timeout(180)
def test_lab_refuses_an_observer_s_plans_unlisted_plans_and_devices_and_listens_on_loopback(
    lab: RunningLab,
) -> None:
    plate = PLATE | {"kwargs": {"spec": plate_spec("refused", wells=1, fields=1)}}
    added, executed, queue = queue_client(
        lab, "observer", [{"add": plate}, {"execute": plate}, {"queue": True}]
    )
    for answer in (added, executed):
        assert not answer["success"]
        assert "not in the list of allowed plans" in answer["msg"]
    assert queue == []

    # An operator's plate runs on the microscope, not on another device (the prompt's
    # short names do not exist in the worker), and a plan not listed is refused.
    scan = {"name": "scan", "args": [["microscope.camera"], "microscope.stage_.z", 0, 1, 2]}
    outside, unlisted, queue = queue_client(
        lab,
        "operator",
        [
            {"add": plate | {"args": ["microscope.camera"]}},
            {"add": scan},
            {"queue": True},
        ],
    )
    assert not outside["success"] and "microscope.camera" in outside["msg"], outside
    assert not unlisted["success"] and "not in the list of allowed plans" in unlisted["msg"]
    assert queue == []

    # The groups do not cover starting the queue: an operator locks the environment,
    # and a client without the key can then neither start the queue nor open or close
    # the worker's environment.
    key = "operator-key-" + lab.lab_dir.name
    locked, start, close, unlocked = queue_client(
        lab,
        "operator",
        [
            {"call": "lock", "kwargs": {"lock_key": key, "environment": True, "queue": True}},
            {"call": "queue_start"},
            {"call": "environment_close"},
            {"call": "unlock", "kwargs": {"lock_key": key}},
        ],
    )
    assert locked["success"], locked
    for refused in (start, close):
        assert not refused["success"]
        assert "lock" in refused["msg"].lower(), refused
    assert unlocked["success"], unlocked

    # Every socket the lab's processes (the watcher included) listen on is on loopback.
    processes = service_processes(lab.lab_dir)
    assert {p.name() for p in processes} >= {"redis-server"}
    listening = [
        c.laddr
        for p in processes
        for c in p.net_connections("inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 4  # Redis, Tiled, RE Manager control and info
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
