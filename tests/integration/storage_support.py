"""Helpers for the storage tests: sessions with options, a Tiled server, a child process.

``storage_session(config, data_dir, **open_session_kwargs)`` is ``open_test_session``
with the session's options exposed (writer capacity, a catalog client, lab mode).
``TiledServer`` runs hcs's Tiled server on a data directory in a subprocess, on a
fixed port, so a test can stop it mid-run and start it again on the same catalog.
Run as a script, this module is the acquisition process of the crash tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

# Also run as the kill tests' child process: make the test helpers importable there.
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from plate_harness import SessionHarness, open_test_session  # noqa: E402

from hcs_devices.config import MicroscopeConfig  # noqa: E402
from hcs_orchestrator.session import open_session  # noqa: E402
from hcs_storage.api_key import API_KEY_ENV  # noqa: E402

API_KEY = "hcstestkey0123456789"
A1_XY_UM = (14380.0, 11240.0)


def plate_sequence(
    wells: list[list[int]], rows: int = 2, columns: int = 2, channels: int = 2
) -> dict[str, Any]:
    """A plate sequence: ``wells`` ([[rows], [columns]]), a grid per well, 1-2 channels."""
    names = [("DAPI", 2.0), ("GFP", 3.0)][:channels]
    return {
        "axis_order": "tpgcz",
        "stage_positions": {
            "plate": 96,
            "a1_center_xy": list(A1_XY_UM),
            "selected_wells": wells,
            "well_points_plan": {"rows": rows, "columns": columns, "overlap": 25.0},
        },
        "channels": [{"config": n, "exposure": e} for n, e in names],
    }


def storage_session(
    config: MicroscopeConfig, data_dir: Path, **session_options: Any
) -> contextlib.AbstractContextManager[SessionHarness]:
    """A real session with ``open_session`` options, torn down completely afterwards."""
    return open_test_session(config, data_dir, **session_options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TiledServer:
    """hcs's Tiled server (``python -m hcs_storage.server``) on a data directory, in a child."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout_s: float = 60.0) -> None:
        from hcs_storage.catalog import catalog_adapter

        catalog_adapter(self.data_dir)  # create the catalog and its directories
        self._log = open(self.data_dir / f"tiled-{self.port}.log", "ab")  # noqa: SIM115
        # hcs's own server: the catalog as ``hcs serve`` serves it (its event tables
        # locked for one request at a time, among the rest).
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hcs_storage.server",
                str(self.data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env={**os.environ, API_KEY_ENV: API_KEY},
        )
        ready = threading.Event()
        for _ in range(int(timeout_s / 0.25)):
            try:
                if httpx.get(f"{self.uri}/api/v1/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the Tiled server exited with {self.process.returncode}")
            ready.wait(0.25)
        raise TimeoutError(f"Tiled did not start on {self.uri}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def client(self) -> Any:
        from tiled.client import from_uri

        return from_uri(self.uri, api_key=API_KEY)


def child_acquire(args: dict[str, Any]) -> None:
    """The acquisition process of the crash tests: acquire, print progress, get killed."""
    from plate_harness import fast_config

    from hcs_devices.config import load_config
    from hcs_plans.acquire import acquire_plate
    from hcs_plans.specs import spec_from_data

    config = fast_config(load_config(args["config"]))
    catalog = None
    if args.get("tiled_uri"):
        from tiled.client import from_uri

        catalog = from_uri(args["tiled_uri"], api_key=API_KEY)
    session = open_session(
        config, Path(args["data_dir"]), catalog=catalog, forwarder=args["forwarder"]
    )
    count = 0
    frames: set[str] = set()

    def progress(name: str, doc: dict[str, Any]) -> None:
        # Counts the rows of the run's ``frames`` stream (one per image); the kill comes
        # once ``kill_after`` rows are recorded, i.e. after the page that reached it.
        nonlocal count
        if name == "descriptor" and doc["name"] == "frames":
            frames.add(doc["uid"])
        elif name in ("event", "event_page") and doc["descriptor"] in frames:
            count += len(doc["seq_num"]) if name == "event_page" else 1
            print(json.dumps({"rows": count}), flush=True)
            if count >= args.get("kill_after", count + 1):
                os.kill(os.getpid(), signal.SIGKILL)

    session.RE.subscribe(progress)
    spec = spec_from_data({"sequence": args["sequence"], "hardware_sequencing": False})
    try:  # closed whatever happens: an open session's threads would keep the process alive
        session.RE(acquire_plate(session.microscope, spec))
        if args["forwarder"]:
            session.flush(120.0)
        print(json.dumps({"done": True}), flush=True)
    finally:
        session.close()


if __name__ == "__main__":
    child_acquire(json.loads(sys.argv[1]))
