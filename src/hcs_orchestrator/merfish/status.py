"""``hcs merfish status``: what the journal says of an experiment, as lines."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from hcs_devices.config import load_config
from hcs_orchestrator.merfish.journal import Journal, journal_path
from hcs_orchestrator.merfish.protocol import expand_units, load_protocol
from hcs_orchestrator.merfish.qc import qc_summary
from hcs_orchestrator.merfish.runner import experiment_files

#: Log lines shown.
LOG_LINES = 10


def experiment_status(data_dir: Path) -> list[str]:
    """Units done per round and kind, units in flight, waiting confirmations, the log.

    Raises:
        JournalError: the directory holds no experiment.
        UserFileError: the journal's protocol or configuration no longer loads.
    """
    files = experiment_files(data_dir)
    protocol = load_protocol(files.protocol)
    units = expand_units(protocol, load_config(files.config))
    with Journal(journal_path(data_dir)) as journal:
        records = journal.units()
        waiting = journal.waiting()
        log = journal.log_lines()[-LOG_LINES:]
    done = {u for u, r in records.items() if r.state == "completed"}
    lines = [
        f"protocol: {protocol.name} ({files.protocol})",
        f"units done: {len(done & {u.id for u in units})} of {len(units)}",
    ]
    for r in range(1, protocol.n_rounds + 1):
        mine = [u for u in units if u.round == r]
        total = Counter(u.kind for u in mine)
        finished = Counter(u.kind for u in mine if u.id in done)
        parts = ", ".join(f"{k} {finished[k]}/{n}" for k, n in total.items())
        lines.append(f"  round {r}: {parts}")
    in_flight = [
        f"{u} ({r.state}, run {r.run_uid[:8] or '-'})"
        for u, r in records.items()
        if r.state != "completed"
    ]
    lines += [f"in flight: {item}" for item in in_flight]
    lines += [f"waiting for confirmation: {u} (hcs merfish confirm)" for u in waiting]
    for when, event, message in log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
        lines.append(f"{stamp} {event}: {message}")
    return lines + qc_lines(data_dir, protocol.name)


def qc_lines(data_dir: Path, experiment: str) -> list[str]:
    """The decoding QC's results so far, from the data directory's catalog."""
    from hcs_storage.catalog import EventTablesBusyError, close_catalog, open_catalog

    try:
        catalog = open_catalog(data_dir)
    except EventTablesBusyError:
        return ["decoding QC: not readable while the experiment runs (the catalog is in use)"]
    try:
        return qc_summary(catalog, experiment).lines()
    finally:
        close_catalog(catalog)
