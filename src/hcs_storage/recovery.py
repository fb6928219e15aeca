"""Taking the runs a crashed acquisition left open to the catalog, from a one-off command.

A session's forwarder does this by itself (:mod:`hcs_storage.forwarder`). A command
that only reads, such as ``hcs runs``, first takes the data directory
(:mod:`hcs_storage.owner`), closes the crashed runs of the spool
(:func:`hcs_storage.spool.close_crashed_runs`) and forwards just those runs with
:func:`forward_runs`, so that it lists them closed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hcs_storage.forwarder import BATCH_DOCS, RunForwarder
from hcs_storage.spool import JOURNAL_SUFFIX, spool_dir

log = logging.getLogger(__name__)

#: Longest time ``forward_runs`` spends by default (seconds).
FORWARD_TIMEOUT_S = 60.0


def forward_runs(
    data_dir: str | Path, client: Any, uids: list[str], timeout_s: float = FORWARD_TIMEOUT_S
) -> list[str]:
    """Forward whole runs of a data directory's spool into a catalog, in this thread.

    Call it only while owning the data directory, so that no other forwarder feeds the
    same runs. A run that fails (e.g. the event tables are open in another process)
    stays in the spool for the next forwarder.

    Args:
        data_dir: the data directory.
        client: the catalog (writable).
        uids: the runs to forward.
        timeout_s: longest time spent in all.

    Returns:
        The uids that are not completely in the catalog yet.
    """
    directory = spool_dir(data_dir)
    client = client.include_data_sources()
    deadline = time.monotonic() + timeout_s
    unfinished: list[str] = []
    for uid in uids:
        run = RunForwarder(client, directory / f"{uid}{JOURNAL_SUFFIX}")
        try:
            while not run.complete and time.monotonic() < deadline:
                if not run.step(BATCH_DOCS):
                    break
        except Exception as exc:
            log.warning("forwarding run %s failed: %s: %s", uid, type(exc).__name__, exc)
        if not run.complete:
            unfinished.append(uid)
    return unfinished
