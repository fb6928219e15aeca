"""The console's MERFISH panel: rounds done, in progress and to do, and the decoding QC.

The experiment's journal is written by the orchestrator's own :class:`Journal` (as a
run of the experiment writes it) for the test experiment of :mod:`merfish_harness`:
round 1 completed, one unit of round 2 started, rounds 3 and 4 untouched. The
console is served over a real session on that data directory.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from console_support import CONSOLE_KEY, served_console
from merfish_harness import merfish_files

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.merfish.journal import Journal, journal_path
from hcs_orchestrator.merfish.protocol import expand_units, load_protocol, protocol_hash
from hcs_orchestrator.merfish.status import experiment_status

pytestmark = pytest.mark.slow  # system tests of a second or more each

AUTH = {"Authorization": f"Apikey {CONSOLE_KEY}"}


def test_console_shows_each_rounds_progress_and_the_qc_lines_of_the_experiment(
    fast_profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    files = merfish_files(tmp_path, fast_profile_config)
    protocol = load_protocol(files.protocol)
    units = expand_units(protocol, load_config(files.config))
    files.data_dir.mkdir(parents=True)
    first = [u for u in units if u.round == 1]
    second = [u for u in units if u.round == 2]
    with Journal(journal_path(files.data_dir)) as journal:
        journal.begin(protocol_hash(protocol), str(files.protocol), str(files.config))
        for number, unit in enumerate(first):
            journal.mark_completed(unit.id, f"run-{number}")
        journal.started(second[0].id, "run-in-flight")
        journal.log("started", "round 2 began")

    with (
        served_console(fast_profile_config, files.data_dir) as served,
        httpx.Client(base_url=served.url, timeout=60.0) as http,
    ):
        answer = http.get("/api/merfish", headers=AUTH)
        assert http.get("/api/merfish").status_code == 401

    assert answer.status_code == 200, answer.text
    experiment = answer.json()["experiment"]
    assert experiment["protocol"] == protocol.name
    assert experiment["units_done"] == len(first)
    assert experiment["units_total"] == len(units) == 4 * len(first)
    rounds = experiment["rounds"]
    assert [r["state"] for r in rounds] == ["done", "in progress", "to do", "to do"]
    assert rounds[0]["done"] == rounds[0]["total"]
    assert rounds[1]["in_flight"] == 1 and sum(rounds[1]["done"].values()) == 0
    assert rounds[1]["total"] == {"flow": 4, "incubate": 1, "image": 2, "cleave": 1}
    assert experiment["in_flight"] == [f"{second[0].id} (started, run run-in-f)"]
    assert [entry[1:] for entry in experiment["log"]] == [["started", "round 2 began"]]
    # No QC run yet: the QC's own summary line, as hcs merfish status prints it.
    assert experiment["qc"] == ["decoding QC: 0 rounds checked, 0 fields decoded"]

    # hcs merfish status prints the same progress, once the console has let go of the data.
    lines = experiment_status(files.data_dir)
    assert f"units done: {len(first)} of {len(units)}" in lines
    assert "  round 2: flow 0/4, incubate 0/1, image 0/2, cleave 0/1" in lines
    assert f"in flight: {experiment['in_flight'][0]}" in lines
    assert lines[-1] == experiment["qc"][-1]
