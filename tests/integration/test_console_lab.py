"""The console beside a lab: the queue and the history read from the lab's RE Manager.

A real lab (``hcs lab up``: Redis, the RE Manager and its worker, Tiled, on 127.0.0.1)
and a console started with its lab directory, as ``hcs console --lab LAB_DIR`` does.
Items are queued by a queue-server client in a process of its own; the console only
reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from console_support import CONSOLE_KEY, served_console
from lab_harness import queue_client, running_lab

from hcs_devices.config import MicroscopeConfig

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

AUTH = {"Authorization": f"Apikey {CONSOLE_KEY}"}
GOOD = {"name": "mv", "args": ["microscope.stage_.z", 3000.0]}
#: Beyond the stage's soft limits: the worker refuses it when it runs.
BAD = {"name": "mv", "args": ["microscope.stage_.z", 1.0e9]}


def test_console_shows_the_labs_queue_then_its_history_with_each_items_result(
    fast_profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    with (
        running_lab(tmp_path, fast_profile_config) as lab,
        served_console(fast_profile_config, tmp_path / "console", lab_dir=lab.lab_dir) as served,
        httpx.Client(base_url=served.url, timeout=60.0) as http,
    ):
        added = queue_client(lab, "primary", [{"add": GOOD}, {"add": BAD}])
        assert [a["success"] for a in added] == [True, True], added

        waiting = http.get("/api/queue", headers=AUTH).json()
        assert waiting["mode"] == "lab" and waiting["control"] == lab.control
        assert waiting["manager_state"] == "idle" and waiting["running"] is None
        assert [(i["name"], i["args"]) for i in waiting["queue"]] == [
            ("mv", GOOD["args"]),
            ("mv", BAD["args"]),
        ]
        assert waiting["history"] == []
        assert http.get("/api/queue").status_code == 401

        queue_client(lab, "primary", [{"call": "queue_start"}, {"wait_idle_s": 120}])
        done = http.get("/api/queue", headers=AUTH).json()

    # The failed item stays in the queue, at its front, for the operator to fix or remove.
    assert [i["args"] for i in done["queue"]] == [BAD["args"]] and done["running"] is None
    newest, oldest = done["history"]  # newest first
    assert (oldest["args"], oldest["exit_status"]) == (GOOD["args"], "completed")
    assert (newest["args"], newest["exit_status"]) == (BAD["args"], "failed")
    assert newest["msg"], "a failed item's history entry says why"
