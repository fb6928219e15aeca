"""``hcs merfish status``: what the journal says of an experiment, as data and as lines.

:func:`experiment_progress` reads the journal (and the decoding QC from the catalog)
into an :class:`ExperimentProgress`; :func:`experiment_status` is that progress as the
lines ``hcs merfish status`` prints. The web console shows the same data.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hcs_devices.config import load_config
from hcs_orchestrator.merfish.journal import Journal, journal_path
from hcs_orchestrator.merfish.protocol import expand_units, load_protocol
from hcs_orchestrator.merfish.qc import qc_summary
from hcs_orchestrator.merfish.runner import experiment_files

#: Log lines shown.
LOG_LINES = 10

RoundState = Literal["done", "in progress", "to do"]


@dataclass(frozen=True)
class RoundProgress:
    """One round: its units done per kind (flow, incubate, image, ...).

    Attributes:
        round: the round's number (from 1).
        done: unit kind -> units of that kind completed.
        total: unit kind -> units of that kind in the round.
        in_flight: units of the round submitted or started, not completed.
    """

    round: int
    done: dict[str, int]
    total: dict[str, int]
    in_flight: int = 0

    @property
    def state(self) -> RoundState:
        """``done`` (every unit completed), ``in progress`` (some started) or ``to do``."""
        if sum(self.done.values()) == sum(self.total.values()):
            return "done"
        return "in progress" if sum(self.done.values()) or self.in_flight else "to do"

    def as_dict(self) -> dict[str, Any]:
        """The round as JSON-able data."""
        return {
            "round": self.round,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "in_flight": self.in_flight,
        }


@dataclass(frozen=True)
class ExperimentProgress:
    """What the journal and the catalog say of a MERFISH experiment.

    Attributes:
        protocol: the protocol's name (the experiment's ``experiment_id``).
        protocol_path: the protocol file the journal names.
        units_done: units completed.
        units_total: units of the protocol.
        rounds: each round's progress, in order.
        in_flight: ``unit (state, run uid prefix)`` of every unit not completed.
        waiting: units waiting for a confirmation (``hcs merfish confirm``).
        log: the journal's last lines: (epoch seconds, event, message).
        qc: the decoding QC's lines.
    """

    protocol: str
    protocol_path: str
    units_done: int
    units_total: int
    rounds: list[RoundProgress]
    in_flight: list[str] = field(default_factory=list[str])
    waiting: list[str] = field(default_factory=list[str])
    log: list[tuple[float, str, str]] = field(default_factory=list[tuple[float, str, str]])
    qc: list[str] = field(default_factory=list[str])

    def as_dict(self) -> dict[str, Any]:
        """The progress as JSON-able data."""
        return {
            "protocol": self.protocol,
            "protocol_path": self.protocol_path,
            "units_done": self.units_done,
            "units_total": self.units_total,
            "rounds": [r.as_dict() for r in self.rounds],
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "log": [list(entry) for entry in self.log],
            "qc": self.qc,
        }

    def lines(self) -> list[str]:
        """The progress as ``hcs merfish status`` prints it."""
        lines = [
            f"protocol: {self.protocol} ({self.protocol_path})",
            f"units done: {self.units_done} of {self.units_total}",
        ]
        for r in self.rounds:
            parts = ", ".join(f"{k} {r.done.get(k, 0)}/{n}" for k, n in r.total.items())
            lines.append(f"  round {r.round}: {parts}")
        lines += [f"in flight: {item}" for item in self.in_flight]
        lines += [f"waiting for confirmation: {u} (hcs merfish confirm)" for u in self.waiting]
        for when, event, message in self.log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
            lines.append(f"{stamp} {event}: {message}")
        return lines + self.qc


def has_experiment(data_dir: Path) -> bool:
    """Whether the data directory holds a MERFISH experiment's journal."""
    return journal_path(data_dir).exists()


def experiment_progress(data_dir: Path, catalog: Any | None = None) -> ExperimentProgress:
    """Units done per round and kind, units in flight, waiting confirmations, log, QC.

    Args:
        data_dir: the experiment's data directory.
        catalog: a Tiled client on its catalog, for the QC (opened here if None).

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
    pending = {u for u, r in records.items() if r.state != "completed"}
    rounds = []
    for number in range(1, protocol.n_rounds + 1):
        mine = [u for u in units if u.round == number]
        rounds.append(
            RoundProgress(
                round=number,
                done=dict(Counter(u.kind for u in mine if u.id in done)),
                total=dict(Counter(u.kind for u in mine)),
                in_flight=sum(1 for u in mine if u.id in pending),
            )
        )
    return ExperimentProgress(
        protocol=protocol.name,
        protocol_path=str(files.protocol),
        units_done=len(done & {u.id for u in units}),
        units_total=len(units),
        rounds=rounds,
        in_flight=[
            f"{u} ({r.state}, run {r.run_uid[:8] or '-'})"
            for u, r in records.items()
            if r.state != "completed"
        ],
        waiting=list(waiting),
        log=[(float(when), str(event), str(message)) for when, event, message in log],
        qc=qc_lines(data_dir, protocol.name, catalog),
    )


def experiment_status(data_dir: Path) -> list[str]:
    """:func:`experiment_progress` as the lines ``hcs merfish status`` prints.

    Raises:
        JournalError: the directory holds no experiment.
        UserFileError: the journal's protocol or configuration no longer loads.
    """
    return experiment_progress(data_dir).lines()


def qc_lines(data_dir: Path, experiment: str, catalog: Any | None = None) -> list[str]:
    """The decoding QC's results so far, from the data directory's catalog (or ``catalog``)."""
    if catalog is not None:
        return qc_summary(catalog, experiment).lines()
    from hcs_storage.catalog import EventTablesBusyError, close_catalog, open_catalog

    try:
        opened = open_catalog(data_dir)
    except EventTablesBusyError:
        return ["decoding QC: not readable while the experiment runs (the catalog is in use)"]
    try:
        return qc_summary(opened, experiment).lines()
    finally:
        close_catalog(opened)
