"""Lab mode with real services: ``hcs lab up`` in a temporary directory, plates queued remotely.

Real Redis, RE Manager (its worker loads ``profile/startup``), Tiled server and
forwarder, started by ``hcs lab up``; plates queued through ``bluesky_queueserver_api``
and through the ``qserver`` command line; images and rows read back from the Tiled
server; every listening socket on 127.0.0.1; an observer may not add a plan; ``hcs lab
down`` leaves no process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from lab_harness import HCS, PROFILE, hcs_lab, queue_client_at, service_processes, wait_until

from hcs_orchestrator.lab.processes import wait_ended
from hcs_orchestrator.paths import DEMO_SPEC

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

QSERVER = Path(sys.executable).with_name("qserver")


def small_demo(experiment_id: str) -> dict[str, Any]:
    """The demo sequence cut down to one well, two fields, one channel, one plane."""
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    positions = spec["sequence"]["stage_positions"]
    positions["selected_wells"] = [[1], [1]]
    positions["well_points_plan"] = {"rows": 1, "columns": 2, "overlap": 10}
    spec["sequence"]["channels"] = [{"config": "DAPI"}]
    del spec["sequence"]["z_plan"]
    return spec | {"experiment_id": experiment_id}


SMALL_DEMO_IMAGES = 2


def finished_in_tiled(client: Any, uid: str) -> bool:
    try:
        return "stop" in client[uid].metadata
    except KeyError:
        return False


@pytest.mark.timeout(900)
def test_lab_runs_plates_queued_with_the_api_and_the_qserver_cli_and_stops_cleanly(
    config_file: Path, tmp_path: Path
) -> None:
    lab_dir, data_dir = tmp_path / "lab", tmp_path / "data"
    up = hcs_lab(
        "up", "--lab-dir", lab_dir, "--data-dir", data_dir, "--profile", PROFILE,
        "--config", config_file,
    )  # fmt: skip
    processes: list[psutil.Process] = service_processes(lab_dir)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        settings = json.loads((lab_dir / "lab.json").read_text())
        control = f"tcp://127.0.0.1:{settings['zmq_control_port']}"
        for name in ("redis", "tiled", "forwarder", "re-manager"):
            assert any(line.split()[:2] == [name, "up"] for line in up.stdout.splitlines()), name
        assert "re-manager  up" in up.stdout and control in up.stdout
        assert "worker environment open" in up.stdout

        # Every socket the lab's processes listen on is on loopback.
        listening = [
            c.laddr
            for p in processes
            for c in p.net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert len(listening) >= 4  # Redis, Tiled, RE Manager control and info
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening

        # An observer may read the queue but not add to it; nor may an operator run a
        # plan that is not in the allowed list.
        plate = {"name": "acquire_plate", "args": ["microscope"]}
        refused, queue = queue_client_at(
            control,
            "observer",
            [{"add": plate | {"kwargs": {"spec": small_demo("x")}}}, {"queue": True}],
        )
        assert not refused["success"]
        assert "not in the list of allowed plans" in refused["msg"]
        assert queue == []
        (refused,) = queue_client_at(
            control, "operator", [{"add": {"name": "count", "args": [["microscope.camera"]]}}]
        )
        assert not refused["success"]
        assert "not in the list of allowed plans" in refused["msg"]

        # One plate through the Python API, one through the qserver command line.
        (added,) = queue_client_at(
            control, "operator", [{"add": plate | {"kwargs": {"spec": small_demo("via-api")}}}]
        )
        assert added["success"], added
        request = plate | {"kwargs": {"spec": small_demo("via-qserver")}}
        env = {**os.environ, "QSERVER_ZMQ_CONTROL_ADDRESS": control}

        def qserver(*command: str) -> None:
            done = subprocess.run(
                [str(QSERVER), *command], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr

        qserver("queue", "add", "plan", json.dumps(request))
        # Last, a plate with a misspelt setting: it fails naming it, before anything moves.
        misspelt = small_demo("misspelt") | {"binnig": 2}
        (added,) = queue_client_at(
            control, "operator", [{"add": plate | {"kwargs": {"spec": misspelt}}}]
        )
        assert added["success"], added
        qserver("queue", "start")
        (history,) = queue_client_at(control, "observer", [{"wait_idle_s": 300}])
        assert [item["kwargs"]["spec"]["experiment_id"] for item in history] == [
            "via-api",
            "via-qserver",
            "misspelt",
        ]
        assert [item["result"]["exit_status"] for item in history] == [
            "completed",
            "completed",
            "failed",
        ]
        assert "binnig" in history[-1]["result"]["msg"]
        assert history[-1]["result"]["run_uids"] == []  # no run was opened
        uids = [uid for item in history[:2] for uid in item["result"]["run_uids"]]
        assert len(uids) == 2

        # Images and rows, read back from the Tiled server the forwarder feeds.
        from tiled.client import from_uri

        key = (lab_dir / "tiled-api-key").read_text().strip()
        client = from_uri(f"http://127.0.0.1:{settings['tiled_port']}", api_key=key)
        try:
            for uid, experiment in zip(uids, ["via-api", "via-qserver"], strict=True):
                wait_until(lambda u=uid: finished_in_tiled(client, u), 120, f"run {uid} in Tiled")
                run = client[uid]
                assert run.metadata["start"]["experiment_id"] == experiment
                assert run.metadata["stop"]["exit_status"] == "success"
                images = run["primary"]["camera"].read()
                rows = run["frames"].base["internal"].read()
                assert images.shape[0] == len(rows) == SMALL_DEMO_IMAGES
                assert images.max() > 0  # rendered frames, not empty arrays
                assert sorted(rows["frame-fov"]) == sorted(set(rows["frame-fov"]))
        finally:
            client.context.close()

        # An embedded acquisition on the lab's data directory is refused at once.
        spec = tmp_path / "embedded.yaml"
        spec.write_text(yaml.safe_dump(small_demo("embedded")))
        started = time.monotonic()
        embedded = subprocess.run(
            [
                str(HCS),
                "acquire",
                str(spec),
                "--config",
                str(config_file),
                "--data-dir",
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        # Refused once the interpreter has started (slow on a loaded machine); never a hang.
        assert time.monotonic() - started < 110
        assert embedded.returncode == 2, embedded.stdout + embedded.stderr
        assert "(hcs lab (queue server worker))" in embedded.stderr
        assert "run uid" not in embedded.stdout

        status = hcs_lab("status", "--lab-dir", lab_dir)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "1 queued, 3 in history" in status.stdout  # the failed plate waits, first
    finally:
        down = hcs_lab("down", "--lab-dir", lab_dir)
        alive = wait_ended(processes, timeout_s=30)
        for process in alive:  # never leave a service behind, even when the test failed
            process.kill()
    assert down.returncode == 0, down.stdout + down.stderr
    assert alive == [], f"still running after hcs lab down: {alive}"
    after = hcs_lab("status", "--lab-dir", lab_dir)
    assert after.returncode == 1
    assert "the RE Manager does not answer" in after.stdout
