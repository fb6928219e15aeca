"""Remote control of a running plate in lab mode: deferred pause, resume and abort.

One lab (``hcs lab up``: real Redis, RE Manager, Tiled server and forwarder on
127.0.0.1) serves the module. Clients run in processes of their own
(``lab_client.py``), as a remote user's do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import psutil
import pytest
import yaml

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.paths import DEMO_SPEC
from hcs_schema import frame_key
from hcs_storage.spool import JOURNAL_SUFFIX, read_journal, spool_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

HCS = Path(sys.executable).with_name("hcs")
PROFILE = Path(__file__).resolve().parents[2] / "profile"
CLIENT = Path(__file__).with_name("lab_client.py")
PLATE = {"name": "acquire_plate", "args": ["microscope"]}


@dataclass(frozen=True)
class RunningLab:
    """A lab started for the module: its directories and addresses."""

    lab_dir: Path
    data_dir: Path
    control: str
    tiled_uri: str
    api_key: str


def hcs_lab(*args: str | Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HCS), "lab", *map(str, args)], capture_output=True, text=True, timeout=timeout_s
    )


def service_processes(lab_dir: Path) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid_file in (lab_dir / "run").glob("*.pid"):
        try:
            root = psutil.Process(json.loads(pid_file.read_text())["pid"])
            found += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, fast_profile_config: MicroscopeConfig
) -> Iterator[RunningLab]:
    root = tmp_path_factory.mktemp("lab-remote")
    config = root / "microscope.yaml"
    config.write_text(yaml.safe_dump(fast_profile_config.model_dump(mode="json")))
    lab_dir, data_dir = root / "lab", root / "data"
    up = hcs_lab(
        "up", "--lab-dir", lab_dir, "--data-dir", data_dir, "--profile", PROFILE,
        "--config", config,
    )  # fmt: skip
    processes = service_processes(lab_dir)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        settings = json.loads((lab_dir / "lab.json").read_text())
        yield RunningLab(
            lab_dir=lab_dir,
            data_dir=data_dir,
            control=f"tcp://127.0.0.1:{settings['zmq_control_port']}",
            tiled_uri=f"http://127.0.0.1:{settings['tiled_port']}",
            api_key=(lab_dir / "tiled-api-key").read_text().strip(),
        )
    finally:
        hcs_lab("down", "--lab-dir", lab_dir)
        _, alive = psutil.wait_procs(processes, timeout=30)
        for process in alive:
            process.kill()


def queue_client(lab: RunningLab, group: str, steps: list[dict[str, Any]]) -> list[Any]:
    """Run ``lab_client.py`` (bluesky_queueserver_api in a process of its own)."""
    done = subprocess.run(
        [sys.executable, str(CLIENT), lab.control, group, json.dumps(steps)],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def plate_spec(experiment_id: str, wells: int, fields: int) -> dict[str, Any]:
    """The demo sequence on ``wells`` wells of row A, ``fields`` fields each, one plane."""
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    positions = spec["sequence"]["stage_positions"]
    positions["selected_wells"] = [[0] * wells, list(range(wells))]
    positions["well_points_plan"] = {"rows": 1, "columns": fields, "overlap": 10}
    spec["sequence"]["channels"] = [{"config": "DAPI"}, {"config": "GFP"}]
    del spec["sequence"]["z_plan"]
    return spec | {"experiment_id": experiment_id}


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        pause.wait(0.2)


def journal(lab: RunningLab, uid: str) -> list[Any]:
    return read_journal(spool_dir(lab.data_dir) / f"{uid}{JOURNAL_SUFFIX}")


def frame_files(lab: RunningLab, uid: str) -> list[Path]:
    """The image files of a run's frame sets (each StreamResource's directory)."""
    files: list[Path] = []
    for entry in journal(lab, uid):
        if entry.name == "stream_resource" and "template" in entry.doc.get("parameters", {}):
            directory = Path(url2pathname(urlparse(entry.doc["uri"]).path))
            files += [p for p in directory.iterdir() if p.suffix in (".tif", ".tiff")]
    return files


def closed_run(lab: RunningLab, uid: str) -> tuple[dict[str, Any], int, Any]:
    """A run read back from the Tiled server once closed: stop document, images, rows."""
    from tiled.client import from_uri

    client = from_uri(lab.tiled_uri, api_key=lab.api_key)
    try:

        def stopped() -> bool:
            try:
                return "stop" in client[uid].metadata
            except KeyError:
                return False

        wait_until(stopped, 120, f"run {uid} closed in Tiled")
        run = client[uid]
        stop = dict(run.metadata["stop"])
        images = run["primary"]["camera"].read().shape[0] if "primary" in run else 0
        rows = run["frames"].base["internal"].read() if "frames" in run else None
        return stop, images, rows
    finally:
        client.context.close()


def frames_written(lab: RunningLab, uid: str | None = None) -> int:
    """Images announced so far in the spool (of one run, or of the newest)."""
    directory = spool_dir(lab.data_dir)
    paths = sorted(directory.glob(f"*{JOURNAL_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    if uid is None and not paths:
        return 0
    path = directory / f"{uid}{JOURNAL_SUFFIX}" if uid else paths[-1]
    return sum(
        e.doc["indices"]["stop"] - e.doc["indices"]["start"]
        for e in read_journal(path)
        if e.name == "stream_datum"
    )


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
