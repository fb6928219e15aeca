"""One owner per data directory, with real ``hcs`` processes.

- A second ``hcs acquire`` on a directory in use is refused at once, naming the
  holder, before anything moves; the first one's run completes unaffected.
- ``hcs serve`` on the directory (after reading a table) and ``hcs acquire`` never
  hang: the acquisition is refused at once, naming the server.
- An acquisition killed with SIGKILL frees the directory: the next session opens and
  closes the crashed run as failed, and so does ``hcs runs``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from plate_harness import fast_config, spec_file
from storage_support import plate_sequence

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.session import open_session
from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.owner import read_holder
from hcs_storage.server import free_port
from hcs_storage.spool import inspect_journal, spool_dir

pytestmark = pytest.mark.slow

HCS = Path(sys.executable).with_name("hcs")
SUPPORT = Path(__file__).with_name("storage_support.py")
API_KEY = "hcstestkey0123456789abcdef"
#: Two wells x 2 x 2 fields x 1 channel, at 20 time points 1 s apart: a run that lasts
#: about 20 s, long enough for a second process to start while it runs.
SLOW_SEQUENCE = plate_sequence([[1, 1], [1, 2]], channels=1) | {
    "time_plan": {"interval": 1.0, "loops": 20}
}
SLOW_IMAGES = 2 * 2 * 2 * 20
QUICK_SEQUENCE = plate_sequence([[1], [1]], rows=1, columns=1, channels=1)


def hcs(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(HCS), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        pause.wait(0.05)


def finish(process: subprocess.Popen[str], timeout_s: float) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.timeout(240)
def test_second_acquisition_is_refused_at_once_naming_the_holder_and_the_first_completes(
    config_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "hcs-data"
    first_spec = spec_file(tmp_path, "first", SLOW_SEQUENCE)
    second_spec = spec_file(tmp_path, "second", QUICK_SEQUENCE)
    first = hcs("acquire", first_spec, "--config", config_file, "--data-dir", data)
    try:
        wait_until(
            lambda: (h := read_holder(data)) is not None and h.pid == first.pid,
            120,
            "the first acquisition to own the data directory",
        )
        # Once it is acquiring (its first frames rendered), so that the second process's
        # start-up does not slow the first frame past the camera's trigger timeout.
        wait_until(
            lambda: any(
                inspect_journal(j).events.get("frames", 0) >= 2
                for j in spool_dir(data).glob("*.jsonl")
            ),
            120,
            "the first acquisition to record frames",
        )
        started = time.monotonic()
        second = hcs("acquire", second_spec, "--config", config_file, "--data-dir", data)
        out2, err2 = finish(second, 120)
        refused_after_s = time.monotonic() - started
        first_running_when_refused = first.poll() is None
    finally:
        out1, err1 = finish(first, 180)
    assert second.returncode == 2, (out2, err2)
    assert f"is in use by pid {first.pid} (hcs acquire {first_spec}" in err2
    assert " since " in err2
    assert first_running_when_refused, "the first acquisition ended before the refusal"
    assert refused_after_s < 60
    assert "run uid" not in out2  # it never acquired
    # The first run: complete, and the only run in the directory.
    assert first.returncode == 0, err1[-3000:]
    assert "exit status: success" in out1
    assert f"images:      {SLOW_IMAGES} in" in out1
    (journal,) = spool_dir(data).glob("*.jsonl")
    assert inspect_journal(journal).has_stop
    catalog = open_catalog(data)
    try:
        assert len(catalog) == 1
        (run,) = catalog.values()
        assert run.metadata["start"]["experiment_id"] == "first"
        assert run.metadata["stop"]["exit_status"] == "success"
        assert len(run["frames"].base["internal"].read()) == SLOW_IMAGES
    finally:
        close_catalog(catalog)
    assert read_holder(data) is None  # released at the end


def start_serve(data: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {**os.environ, "HCS_TILED_API_KEY": API_KEY}
    serve = subprocess.Popen(
        [str(HCS), "serve", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert serve.poll() is None, "hcs serve exited"
        try:
            return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 90, "hcs serve to answer")
    return serve, url


@pytest.mark.timeout(300)
def stop_serve(serve: subprocess.Popen[str]) -> None:
    """Stop ``hcs serve`` as Ctrl-C does; kill it if it has not ended within 30 s."""
    serve.send_signal(signal.SIGINT)
    try:
        serve.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        serve.kill()
        serve.communicate()


def test_acquisition_with_hcs_serve_reading_tables_is_refused_at_once_naming_the_server(
    config_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "hcs-data"
    spec = spec_file(tmp_path, "quick", QUICK_SEQUENCE)
    first = hcs("acquire", spec, "--config", config_file, "--data-dir", data)
    out, err = finish(first, 120)
    assert first.returncode == 0, err[-3000:]
    serve, url = start_serve(data)
    try:
        from tiled.client import from_uri

        client = from_uri(url, api_key=API_KEY)
        try:
            (run,) = client.values()
            assert len(run["frames"].base["internal"].read()) == 1  # the server opens tables
        finally:
            client.context.close()
        started = time.monotonic()
        second = hcs("acquire", spec, "--config", config_file, "--data-dir", data)
        out, err = finish(second, 90)  # it used to wait 127 s, then die with KeyError
        elapsed = time.monotonic() - started
    finally:
        stop_serve(serve)
    assert elapsed < 60, elapsed
    assert second.returncode == 2, (out, err)
    assert "KeyError" not in err
    assert f"pid {serve.pid} (hcs serve --data-dir {data}" in err, err
    assert "DuckDB lets one process at a time" in err
    assert read_holder(data) is None  # the refused session released the directory


def killed_child(data: Path, kill_after: int) -> str:
    """Run the crash tests' acquisition child until it kills itself; the run's uid."""
    payload = {
        "config": str(
            Path(__file__).parents[2] / "src" / "hcs_orchestrator" / "data" / "microscope.yaml"
        ),
        "data_dir": str(data),
        "sequence": plate_sequence([[1, 1, 2, 2], [1, 2, 1, 2]]),
        "forwarder": True,
        "kill_after": kill_after,
    }
    process = subprocess.run(
        [sys.executable, str(SUPPORT), json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]
    (journal,) = spool_dir(data).glob("*.jsonl")
    assert not inspect_journal(journal).has_stop
    return journal.stem


@pytest.mark.timeout(240)
def test_session_opens_after_the_holder_is_killed_and_closes_its_run_as_failed(
    profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    uid = killed_child(tmp_path, kill_after=5)
    session = open_session(fast_config(profile_config), tmp_path)  # not refused: no live owner
    try:
        assert session.closed_crashed_runs == [uid]
        assert session.flush(60.0)
        wait_until(
            lambda: "stop" in session.catalog[uid].metadata, 60, "the failed stop in the catalog"
        )
        stop = session.catalog[uid].metadata["stop"]
        assert stop["exit_status"] == "fail"
        assert "without closing" in stop["reason"]
    finally:
        session.close()


@pytest.mark.timeout(240)
def test_hcs_runs_lists_a_killed_acquisition_closed_with_exit_status_fail(tmp_path: Path) -> None:
    uid = killed_child(tmp_path, kill_after=5)
    listing = subprocess.run(
        [str(HCS), "runs", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr[-3000:]
    (row,) = [line for line in listing.stdout.splitlines() if f"  {uid[:8]}  " in line]
    assert row.rstrip().endswith("fail"), listing.stdout
    assert f"run {uid[:8]} had been left open by a crash" in listing.stdout
    assert inspect_journal(spool_dir(tmp_path) / f"{uid}.jsonl").has_stop
    again = subprocess.run(
        [str(HCS), "runs", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert "left open by a crash" not in again.stdout  # closed once, listed as failed
    assert any(f"  {uid[:8]}  " in line and "fail" in line for line in again.stdout.splitlines())


@pytest.mark.timeout(300)
def test_acquisition_beside_a_fresh_hcs_serve_completes_at_once_and_the_server_reads_it_after(
    config_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "hcs-data"
    spec = spec_file(tmp_path, "quick", QUICK_SEQUENCE)
    serve, url = start_serve(data)  # nobody has read a table through it yet
    try:
        started = time.monotonic()
        acquisition = hcs("acquire", spec, "--config", config_file, "--data-dir", data)
        out, err = finish(acquisition, 120)
        elapsed = time.monotonic() - started
        assert acquisition.returncode == 0, err[-3000:]
        assert "exit status: success" in out
        from tiled.client import from_uri

        client = from_uri(url, api_key=API_KEY)
        try:
            (run,) = client.values()
            assert run.metadata["stop"]["exit_status"] == "success"
            assert len(run["frames"].base["internal"].read()) == 1
            assert run["primary"]["camera"].read().shape[0] == 1
        finally:
            client.context.close()
    finally:
        stop_serve(serve)
    assert elapsed < 90, elapsed
