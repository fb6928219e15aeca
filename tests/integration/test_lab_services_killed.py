"""Lab services killed alone mid-run (``kill -9``): the plate goes on, nothing is lost.

One lab (``hcs lab up``: real Redis, Tiled server, forwarder, RE Manager and watcher on
127.0.0.1) serves the three cases, one after the other; each queues a 32-image plate and
kills one service once the first images are spooled:

- the Tiled server and the forwarder are started again by the lab's watcher;
- Redis is killed with the watcher stopped, so that it stays down past the plate's end
  (``hcs lab status`` says so) until ``hcs lab restart redis``: the RE Manager records
  the finished plate once Redis is back, and the queue's history survives.

Then the plate completed, and the Tiled server holds its run closed with success, with
as many rows as images as image files, each image once.

The lab encrypts its control address (``hcs lab up --encrypt``): every client above
uses the public key, and the last test shows a client without it (or with another
key) gets no answer.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from lab_harness import (
    CLIENT,
    PLATE,
    RunningLab,
    closed_run,
    frame_files,
    frames_written,
    hcs_lab,
    newest_run,
    plate_spec,
    queue_client,
    running_lab,
    wait_until,
)

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.lab.control import PUBLIC_KEY_ENV
from hcs_orchestrator.lab.supervisor import Lab
from hcs_schema import frame_key

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

WELLS, FIELDS, CHANNELS = 4, 4, 2
TOTAL = WELLS * FIELDS * CHANNELS


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, fast_profile_config: MicroscopeConfig
) -> Iterator[RunningLab]:
    """An encrypted lab on the simulated microscope, shared by every test of the module."""
    root = tmp_path_factory.mktemp("lab-killed")
    with running_lab(root, fast_profile_config, "--encrypt") as started:
        yield started


def service_pid(lab: RunningLab, name: str) -> int:
    pid = Lab(lab.lab_dir).pid(name)
    assert pid is not None, f"{name} is not running"
    return pid


def status_line(lab: RunningLab, name: str) -> list[str]:
    """The words of ``hcs lab status``'s line for one service."""
    status = hcs_lab("status", "--lab-dir", lab.lab_dir)
    for line in status.stdout.splitlines():
        if line.split()[:1] == [name]:
            return line.split()
    raise AssertionError(f"no line for {name}: {status.stdout}")


def watcher_log(lab: RunningLab) -> str:
    return (lab.lab_dir / "logs" / "watcher.log").read_text()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", ["tiled", "forwarder", "redis"])
def test_lab_plate_completes_and_loses_nothing_when_a_service_is_killed_mid_run(
    lab: RunningLab, service: str
) -> None:
    (history_before,) = queue_client(lab, "observer", [{"wait_idle_s": 60}])
    if service == "redis":  # no supervisor: Redis stays down until restarted by hand
        assert Lab(lab.lab_dir, out=lambda _: None).stop("watcher")
    added, started, _ = queue_client(
        lab,
        "operator",
        [
            {"add": PLATE | {"kwargs": {"spec": plate_spec(f"killed-{service}", WELLS, FIELDS)}}},
            {"call": "queue_start"},
            {"wait_status": {"re_state": "running"}, "timeout_s": 60},
        ],
    )
    assert added["success"] and started["success"], (added, started)
    wait_until(lambda: frames_written(lab) >= 4, 60, "the first images")
    uid = newest_run(lab)
    pid = service_pid(lab, service)

    os.kill(pid, signal.SIGKILL)
    done_at_kill = frames_written(lab, uid)
    print(f"{service} (pid {pid}) killed after {done_at_kill} of {TOTAL} images")
    assert done_at_kill < TOTAL, "the plate ended before the kill: make it longer"

    if service == "redis":
        wait_until(lambda: status_line(lab, "redis")[1] == "DOWN", 30, "redis shown down")
        # The plate runs to its end without Redis; the manager waits to record it.
        (ended,) = queue_client(
            lab,
            "observer",
            [{"wait_status": {"worker_environment_state": "idle"}, "timeout_s": 120}],
        )
        assert ended["manager_state"] == "executing_queue"  # not yet recorded
        assert frames_written(lab, uid) == TOTAL
        restarted = hcs_lab("restart", "redis", "--lab-dir", lab.lab_dir)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert hcs_lab("restart", "watcher", "--lab-dir", lab.lab_dir).returncode == 0
    else:  # the watcher starts it again by itself
        wait_until(
            lambda: f"{service} is down: starting it again" in watcher_log(lab),
            30,
            f"the watcher restarting {service}",
        )
    wait_until(lambda: Lab(lab.lab_dir).pid(service) not in (None, pid), 30, "a new process")

    (history,) = queue_client(lab, "observer", [{"wait_idle_s": 200}])
    assert history[: len(history_before)] == history_before  # the history survived
    (item,) = history[len(history_before) :]
    assert item["kwargs"]["spec"]["experiment_id"] == f"killed-{service}"
    assert item["result"]["exit_status"] == "completed", item["result"]["msg"]
    assert item["result"]["run_uids"] == [uid]

    stop, images, rows = closed_run(lab, uid)
    assert stop["exit_status"] == "success"
    files = frame_files(lab, uid)
    print(f"{service}: {images} images, {len(rows)} rows, {len(files)} files in Tiled")
    assert images == len(rows) == len(files) == frames_written(lab, uid) == TOTAL
    keys = list(
        zip(
            rows[frame_key("well")],
            rows[frame_key("fov")],
            rows[frame_key("channel")],
            rows[frame_key("z_index")],
            strict=True,
        )
    )
    assert len(set(keys)) == TOTAL, "an image was recorded twice"


def client(control: str, env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``lab_client.py`` asking the manager's status (3 s for an answer), with ``env``."""
    steps = '[{"wait_status": {"manager_state": "idle"}, "timeout_s": 5}]'
    return subprocess.run(
        [sys.executable, str(CLIENT), control, "observer", steps, "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.mark.timeout(180)
def test_lab_encrypted_control_answers_a_client_with_the_public_key_and_refuses_one_without(
    lab: RunningLab,
) -> None:
    layout = Lab(lab.lab_dir).layout
    private = layout.control_key_file
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = layout.control_public_key_file.read_text().strip()
    assert public == lab.public_key and private.read_text().strip() != public
    manager = psutil.Process(service_pid(lab, "re-manager"))
    assert private.read_text().strip() not in " ".join(manager.cmdline())

    # hcs lab's own client has the key (so had the watcher and the restarts above).
    status = hcs_lab("status", "--lab-dir", lab.lab_dir)
    assert "queue: manager idle" in status.stdout, status.stdout + status.stderr
    assert str(layout.control_public_key_file) in status.stdout

    env: dict[str, Any] = {k: v for k, v in os.environ.items() if k != PUBLIC_KEY_ENV}
    with_key = client(lab.control, env | {PUBLIC_KEY_ENV: public}, 60)
    assert with_key.returncode == 0, with_key.stderr[-2000:]
    assert '"manager_state": "idle"' in with_key.stdout

    without_key = client(lab.control, env, 60)
    assert without_key.returncode != 0
    assert "timeout" in without_key.stderr.lower(), without_key.stderr[-2000:]

    from bluesky_queueserver import generate_zmq_keys

    other_public, _ = generate_zmq_keys()
    wrong_key = client(lab.control, env | {PUBLIC_KEY_ENV: other_public}, 60)
    assert wrong_key.returncode != 0
    assert "timeout" in wrong_key.stderr.lower(), wrong_key.stderr[-2000:]
