"""The acquisition processes of the unrecorded-frames kill test, forked from one parent.

Importing the acquisition stack costs several seconds; this script pays it once, then
forks one acquisition process per request (read as JSON lines on stdin) and prints
``{"pid": n}`` as soon as the process exists and ``{"status": n}`` when it has ended.
A request is ``{"data_dir": ..., "sequence": ..., "kill_on_datum": k}``: the process
opens a session on the data directory and acquires the sequence; with ``kill_on_datum``
it kills itself (SIGKILL) as soon as the run emits its k-th StreamDatum, i.e. inside the
collect of that field, after its images were announced and before their rows.
The forking parent starts no thread (a fork copies only the calling thread).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import tiled.client  # noqa: E402, F401
from plate_harness import fast_config  # noqa: E402

from hcs_devices.config import load_config  # noqa: E402
from hcs_orchestrator.session import open_session  # noqa: E402
from hcs_plans.acquire import acquire_plate  # noqa: E402
from hcs_plans.specs import spec_from_data  # noqa: E402

CONFIG = Path(__file__).parents[2] / "src" / "hcs_orchestrator" / "data" / "microscope.yaml"
#: Cells per mm^2 of the simulated specimen (``fast_config`` has 2000).
SPARSE_CELLS_PER_MM2 = 100.0


def acquire(request: dict[str, Any]) -> None:
    """One acquisition, in the forked process; never returns."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    config = fast_config(load_config(CONFIG))
    # Sparse cells: the simulated well is generated at its first frame, which must come
    # within the camera's trigger timeout on a loaded machine.
    specimen = config.specimen.model_copy(update={"cells_per_mm2": SPARSE_CELLS_PER_MM2})
    config = config.model_copy(update={"specimen": specimen})
    session = open_session(config, Path(request["data_dir"]))
    datums = 0
    kill_on = request.get("kill_on_datum")

    def kill_in_collect(name: str, doc: dict[str, Any]) -> None:
        nonlocal datums
        if name == "stream_datum":
            datums += 1
            if datums == kill_on:
                os.kill(os.getpid(), signal.SIGKILL)

    session.RE.subscribe(kill_in_collect)  # after the spool: it has seen the datum
    spec = spec_from_data({"sequence": request["sequence"], "hardware_sequencing": False})
    try:
        session.RE(acquire_plate(session.microscope, spec))
    finally:
        session.close()
    os._exit(0)


def main() -> None:
    """Serve fork requests until stdin closes."""
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                acquire(request)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
