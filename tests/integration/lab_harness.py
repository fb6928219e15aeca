"""A lab for the tests: ``hcs lab up`` in a temporary directory, its clients, its records.

Shared by the lab tests that start one lab per module. Queue-server clients run in
processes of their own (``lab_client.py``), as a remote user's do; the images and
rows are read back from the lab's Tiled server.
"""

from __future__ import annotations

import contextlib
import json
import os
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
import yaml

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.lab.control import PUBLIC_KEY_ENV
from hcs_orchestrator.lab.processes import wait_ended
from hcs_orchestrator.paths import DEMO_SPEC
from hcs_storage.spool import JOURNAL_SUFFIX, read_journal, spool_dir

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
    public_key: str | None = None

    def client_env(self) -> dict[str, str]:
        """A client's environment: the control key when the lab encrypts, else none."""
        env = {k: v for k, v in os.environ.items() if k != PUBLIC_KEY_ENV}
        if self.public_key is not None:
            env[PUBLIC_KEY_ENV] = self.public_key
        return env


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


@contextlib.contextmanager
def running_lab(root: Path, config: MicroscopeConfig, *up_options: str) -> Iterator[RunningLab]:
    """``hcs lab up`` in ``root`` with ``config``; ``hcs lab down`` (and no process left) after.

    ``up_options`` are added to ``hcs lab up`` (``--encrypt``).
    """
    config_file = root / "microscope.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    lab_dir, data_dir = root / "lab", root / "data"
    up = hcs_lab(
        "up", "--lab-dir", lab_dir, "--data-dir", data_dir, "--profile", PROFILE,
        "--config", config_file, *up_options,
    )  # fmt: skip
    processes = service_processes(lab_dir)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        settings = json.loads((lab_dir / "lab.json").read_text())
        public_key = lab_dir / "zmq-control-key.pub"
        yield RunningLab(
            lab_dir=lab_dir,
            data_dir=data_dir,
            control=f"tcp://127.0.0.1:{settings['zmq_control_port']}",
            tiled_uri=f"http://127.0.0.1:{settings['tiled_port']}",
            api_key=(lab_dir / "tiled-api-key").read_text().strip(),
            public_key=public_key.read_text().strip() if public_key.exists() else None,
        )
    finally:
        hcs_lab("down", "--lab-dir", lab_dir)
        processes += service_processes(lab_dir)
        alive = wait_ended(processes, timeout_s=30)
        for process in alive:
            process.kill()


def queue_client_at(
    control: str, group: str, steps: list[dict[str, Any]], env: dict[str, str] | None = None
) -> list[Any]:
    """Run ``lab_client.py`` (bluesky_queueserver_api in a process of its own)."""
    done = subprocess.run(
        [sys.executable, str(CLIENT), control, group, json.dumps(steps)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def queue_client(lab: RunningLab, group: str, steps: list[dict[str, Any]]) -> list[Any]:
    """:func:`queue_client_at` the lab's control address, with its key if it encrypts."""
    return queue_client_at(lab.control, group, steps, lab.client_env())


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


def newest_run(lab: RunningLab) -> str:
    paths = spool_dir(lab.data_dir).glob(f"*{JOURNAL_SUFFIX}")
    return max(paths, key=lambda p: p.stat().st_mtime).stem
