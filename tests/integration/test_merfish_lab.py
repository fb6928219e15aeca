"""A MERFISH experiment through a lab's queue server; its orchestrator, then its forwarder killed.

``hcs merfish run --lab`` queues each unit on the lab's RE Manager (real Redis, RE
Manager and worker, Tiled server and forwarder, started by ``hcs lab up``); the
worker's runs journal themselves. The orchestrator process is killed (``kill -9``)
while the lab images a field; the lab finishes that unit, and ``hcs merfish resume
--lab`` does only what is missing. While the resumed experiment runs, the storage
forwarder is killed alone (the lab's watcher starts it again). At the end every
(round, bit, field, z) image is in the catalog once, rows == images == files, each
reagent's volume is the protocol's, and no cleave ran again without a confirmation.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lab_harness import RunningLab, running_lab
from merfish_harness import merfish_config_data, merfish_files, protocol_data
from test_merfish_crash_resume import WAITING_EXIT, assert_each_image_and_volume_once, unit_state

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.lab.supervisor import Lab
from hcs_orchestrator.merfish.journal import Journal, journal_path
from hcs_orchestrator.merfish.protocol import expand_units, load_protocol
from hcs_plans.merfish import Unit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def hcs_merfish(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "hcs_orchestrator.cli", "merfish", *map(str, args)]


#: The forwarder's pid once killed (set by :func:`kill_forwarder_once_imaging`).
KILLED_FORWARDER: list[int] = []


def kill_forwarder_once_imaging(lab: RunningLab, units: list[Unit], stop: threading.Event) -> None:
    """kill -9 the lab's forwarder once round 3's first field is being imaged."""
    target = next(u for u in units if u.kind == "image" and u.round == 3)
    journal = journal_path(lab.data_dir)
    while unit_state(journal, target.id) not in ("started", "completed"):
        if stop.wait(0.01):
            return
    pid = Lab(lab.lab_dir, out=lambda _: None).pid("forwarder")
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        KILLED_FORWARDER.append(pid)


def test_merfish_through_the_lab_queue_resumes_after_its_orchestrator_is_killed(
    tmp_path: Path, profile_config: MicroscopeConfig
) -> None:
    # One field of view a round (B2): enough to kill mid-field, half the images to take.
    files = merfish_files(tmp_path / "files", profile_config, protocol_data(wells=[[1], [1]]))
    config = MicroscopeConfig.model_validate(merfish_config_data(profile_config))
    units = expand_units(load_protocol(files.protocol), load_config(files.config))
    target = next(u for u in units if u.kind == "image" and u.round == 1)
    with (tmp_path / "hcs.log").open("a") as log, running_lab(tmp_path, config) as lab:
        journal = journal_path(lab.data_dir)
        run = subprocess.Popen(
            hcs_merfish("run", files.protocol, "--lab", lab.lab_dir, "--no-wait"),
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 240
            while unit_state(journal, target.id) not in ("started", "completed"):
                assert run.poll() is None, (tmp_path / "hcs.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the lab never started the field"
                threading.Event().wait(0.01)
            run.send_signal(signal.SIGKILL)  # the orchestrator alone: the lab goes on
            run.wait(30)
        finally:
            if run.poll() is None:
                run.kill()
        stop = threading.Event()
        forwarder_killed = threading.Thread(
            target=kill_forwarder_once_imaging, args=(lab, units, stop)
        )
        forwarder_killed.start()
        code = WAITING_EXIT
        try:
            for _ in range(10):
                code = subprocess.run(
                    hcs_merfish("resume", "--lab", lab.lab_dir, "--no-wait"),
                    stdout=log,
                    stderr=log,
                    timeout=400,
                ).returncode
                if code != WAITING_EXIT:
                    break
                subprocess.run(
                    hcs_merfish("confirm", "--data-dir", lab.data_dir), check=True, timeout=120
                )
        finally:
            stop.set()  # the watching thread never outlives the test
            forwarder_killed.join(60)
        output = (tmp_path / "hcs.log").read_text()
        assert code == 0, output[-3000:]
        assert KILLED_FORWARDER, "the forwarder was never killed"
        assert "experiment: completed" in output
        with Journal(journal) as jr:
            runs = jr.units()[target.id].runs
        assert runs, "the worker journaled no run of the field it imaged"
    # The lab is down: its catalog is the data directory's own.
    assert_each_image_and_volume_once(lab.data_dir, units, journal, fields=1)
