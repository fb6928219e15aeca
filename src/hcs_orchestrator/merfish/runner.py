"""The MERFISH orchestrator: runs a protocol's units in order, journaled, resumable.

The orchestrator decides what to run and records it; it never drives a device. It
hands each unit to a :class:`UnitSubmitter`: :class:`RunEngineSubmitter` runs the
``run_unit`` plan on the session's RunEngine in this process;
:class:`~hcs_orchestrator.merfish.lab_runner.QueueServerSubmitter` (lab mode) queues the
same plan with the unit as JSON. The journal is written by
the runs' own documents (:class:`~hcs_orchestrator.merfish.journal.JournalRecorder`)
plus the orchestrator's "submitted" and confirmation records.

A unit not safe to repeat that a crash interrupted is not run again until the operator
confirms it (``hcs merfish confirm``): the orchestrator records the question, notifies,
and either waits (polling the journal) or returns :data:`WAITING`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from bluesky.utils import RunEngineInterrupted

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.merfish.journal import Journal, JournalError, JournalRecorder, journal_path
from hcs_orchestrator.merfish.notify import notify
from hcs_orchestrator.merfish.preflight import check_protocol
from hcs_orchestrator.merfish.protocol import (
    Protocol as MerfishProtocol,
)
from hcs_orchestrator.merfish.protocol import (
    expand_units,
    load_protocol,
    load_protocol_codebook,
    protocol_hash,
)
from hcs_orchestrator.merfish.qc import DecodingQc, QcLimits
from hcs_orchestrator.merfish.resume import UnitTodo, reconcile
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_orchestrator.session import Session, open_session
from hcs_plans.merfish.plan import CustomPlan, run_unit
from hcs_storage.spool import JOURNAL_SUFFIX, inspect_journal, spool_dir

#: How an experiment's call ended.
Outcome = Literal["completed", "waiting", "failed", "interrupted"]
COMPLETED: Outcome = "completed"
WAITING: Outcome = "waiting"
FAILED: Outcome = "failed"
INTERRUPTED: Outcome = "interrupted"

#: How often a waiting orchestrator looks for the operator's confirmation, s.
CONFIRM_POLL_S = 1.0
#: Longest wait for the catalog to hold the runs a resume reconciles, s.
RECONCILE_TIMEOUT_S = 120.0


class UnitSubmitter(Protocol):
    """Runs one unit somewhere (a RunEngine here, a queue server in lab mode)."""

    def submit(self, todo: UnitTodo) -> tuple[str, str]:
        """Run ``todo`` to its end; return its run's exit status and reason."""
        ...


class RunEngineSubmitter:
    """Runs units on a session's RunEngine, in this process.

    Args:
        session: the session.
        custom_plans: plans custom steps may name; a name of the form
            ``module:function`` is imported.
        metadata: extra start-document metadata of every unit's run.
    """

    def __init__(
        self,
        session: Session,
        custom_plans: Mapping[str, CustomPlan] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.custom_plans = dict(custom_plans or {})
        self.metadata = dict(metadata or {})

    def _plans_for(self, todo: UnitTodo) -> dict[str, CustomPlan]:
        plans = dict(self.custom_plans)
        name = getattr(todo.unit.step, "plan", None)
        if isinstance(name, str) and name not in plans and ":" in name:
            module, _, attr = name.partition(":")
            plans[name] = getattr(importlib.import_module(module), attr)
        return plans

    def submit(self, todo: UnitTodo) -> tuple[str, str]:
        """Run ``todo``'s plan on the RunEngine; Ctrl-C aborts its run."""
        stops: list[dict[str, Any]] = []

        def note(name: str, doc: dict[str, Any]) -> None:
            if name == "stop":
                stops.append(doc)

        RE = self.session.RE
        token = RE.subscribe(note)
        try:
            try:
                RE(
                    run_unit(
                        self.session.microscope,
                        todo.unit,
                        parts_done=todo.parts_done,
                        skip_frames=todo.skip_frames,
                        custom_plans=self._plans_for(todo),
                        metadata=self.metadata,
                    )
                )
            except RunEngineInterrupted:
                RE.abort(reason="interrupted by the operator")
            except Exception as err:
                if not stops:
                    return "fail", str(err)
        finally:
            RE.unsubscribe(token)
        stop = stops[-1] if stops else {}
        return str(stop.get("exit_status", "fail")), str(stop.get("reason", ""))


@dataclass(frozen=True)
class ExperimentFiles:
    """Where an experiment's protocol and microscope configuration are."""

    protocol: Path
    config: Path


def experiment_files(data_dir: Path) -> ExperimentFiles:
    """The protocol and configuration a data directory's journal names.

    Raises:
        JournalError: the directory has no MERFISH experiment.
    """
    path = journal_path(data_dir)
    if not path.exists():
        raise JournalError(f"{data_dir} holds no MERFISH experiment (no {path.name})")
    with Journal(path) as journal:
        record = journal.experiment()
    if record is None:
        raise JournalError(f"{path} names no experiment")
    return ExperimentFiles(Path(record["protocol_path"]), Path(record["config_path"]))


@dataclass
class Orchestrator:
    """Runs a protocol in a session, unit by unit, from the journal.

    Attributes:
        protocol: the protocol.
        config: the microscope configuration.
        data_dir: the data directory.
        catalog: the data directory's catalog (a Tiled client of its runs).
        catch_up: waits until the catalog holds every document of the given runs.
        journal: the experiment's journal.
        submitter: where units run.
        wait_for_confirmation: wait for ``hcs merfish confirm`` (True) or return
            :data:`WAITING` at once.
        on_unit: called after each unit (the unit's id and its exit status).
    """

    protocol: MerfishProtocol
    config: MicroscopeConfig
    data_dir: Path
    catalog: Any
    catch_up: Callable[[list[str]], None]
    journal: Journal
    submitter: UnitSubmitter
    wait_for_confirmation: bool = True
    on_unit: Callable[[str, str], None] | None = None
    stop_event: threading.Event | None = None

    def _notify(self, event: Literal["pause", "failure", "completion"], message: str) -> None:
        notify(self.protocol, self.journal, self.data_dir, event, message)

    def todo(self) -> list[UnitTodo]:
        """What is left, reconciled with the catalog."""
        units = expand_units(self.protocol, self.config)
        records = self.journal.units()
        uids = [uid for r in records.values() if r.state != "completed" for uid in r.runs]
        self.catch_up(uids)
        return reconcile(units, self.journal, self.catalog)

    def run(self) -> Outcome:
        """Run every unit left; returns how it ended."""
        for todo in self.todo():
            unit = todo.unit
            if todo.needs_confirmation and not self.journal.take_confirmation(unit.id):
                self.journal.ask_confirmation(unit.id)
                self._notify(
                    "pause",
                    f"unit {unit.id} ({unit.kind}, round {unit.round}) was interrupted and is "
                    f"not safe to repeat; check the sample, then run: hcs merfish confirm "
                    f"--data-dir {self.data_dir} {unit.id}",
                )
                if not self._wait(unit.id):
                    return WAITING
                self.journal.take_confirmation(unit.id)
            self.journal.submitted(unit.id)
            status, reason = self.submitter.submit(todo)
            if self.on_unit is not None:
                self.on_unit(unit.id, status)
            if status == "abort":
                self._notify("pause", f"unit {unit.id} was interrupted: {reason}")
                return INTERRUPTED
            if status != "success":
                self._notify("failure", f"unit {unit.id} ended with {status}: {reason}")
                return FAILED
        self._notify("completion", f"{self.protocol.name}: every unit is done")
        return COMPLETED

    def _wait(self, unit_id: str) -> bool:
        if not self.wait_for_confirmation:
            return False
        stop = self.stop_event or threading.Event()
        while unit_id in self.journal.waiting():
            if stop.wait(CONFIRM_POLL_S):
                return False
        return True


def spooled_last_seq(data_dir: Path, uids: list[str]) -> dict[str, int]:
    """The last document seq of each run's spool journal (runs never spooled left out)."""
    targets: dict[str, int] = {}
    for uid in uids:
        path = spool_dir(data_dir) / f"{uid}{JOURNAL_SUFFIX}"
        if path.exists():
            targets[uid] = inspect_journal(path).last_seq
    return targets


def _wait_for_catalog(session: Session, uids: list[str]) -> None:
    """Wait until the catalog holds every document of these runs' spool journals."""
    forwarder = session.storage.forwarder
    if forwarder is None or not uids:
        return
    forwarder.wait_for(spooled_last_seq(session.data_dir, uids), RECONCILE_TIMEOUT_S)


#: How long the end of an experiment waits for the decoding QC to finish, seconds.
QC_CATCH_UP_S = 120.0


def decoding_qc(protocol: MerfishProtocol, session: Session) -> DecodingQc:
    """The decoding QC of an experiment's images, writing its results with the session's.

    It runs in a thread of its own, off the RunEngine's (rule 1); its thresholds are the
    protocol's ``qc`` section.
    """
    policy = protocol.qc
    limits = QcLimits(
        min_spots_per_bit=policy.min_spots_per_bit,
        max_shift_px=policy.max_shift_px,
        max_blank_rate=policy.max_blank_rate,
    )
    return DecodingQc(load_protocol_codebook(protocol), session.storage, limits=limits)


@dataclass
class OpenedExperiment:
    """An experiment checked and begun in its journal (:func:`begin_experiment`)."""

    protocol: MerfishProtocol
    config: MicroscopeConfig
    journal: Journal


def begin_experiment(
    protocol_path: Path | None, config_path: Path | None, data_dir: Path, *, resume: bool
) -> OpenedExperiment:
    """Load and check the protocol against the microscope, and begin (or reopen) its journal.

    Args:
        protocol_path: the protocol (a resume takes the journal's when None).
        config_path: the microscope configuration (the journal's, or the shipped one).
        data_dir: the data directory (catalog, frames, spool and journal).
        resume: continue the journal's experiment (refused if there is none); a new
            run is refused where a journal already holds units.

    Raises:
        UserFileError: the protocol or configuration is invalid for this microscope.
        JournalError: resume without an experiment, or run over an existing one.
    """
    if resume:
        files = experiment_files(data_dir)
        protocol_path = protocol_path or files.protocol
        config_path = config_path or files.config
    if protocol_path is None:
        raise JournalError("give the protocol file")
    config_path = (config_path or DEFAULT_CONFIG).resolve()
    protocol = load_protocol(protocol_path)
    config = load_config(config_path)
    check_protocol(protocol, config, source=str(protocol_path), data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(journal_path(data_dir))
    try:
        if not resume and journal.units():
            raise JournalError(
                f"{data_dir} already holds this experiment's journal; "
                f"continue it with: hcs merfish resume --data-dir {data_dir}"
            )
        journal.begin(protocol_hash(protocol), str(protocol_path.resolve()), str(config_path))
    except BaseException:
        journal.close()
        raise
    return OpenedExperiment(protocol, config, journal)


def run_experiment(
    protocol_path: Path | None,
    config_path: Path | None,
    data_dir: Path,
    *,
    resume: bool,
    wait_for_confirmation: bool = True,
    custom_plans: Mapping[str, CustomPlan] | None = None,
) -> Outcome:
    """Start (or resume) the experiment of a data directory, in this process.

    Raises what :func:`begin_experiment` raises.

    Args:
        protocol_path: as :func:`begin_experiment` takes it.
        config_path: as :func:`begin_experiment` takes it.
        data_dir: as :func:`begin_experiment` takes it.
        resume: as :func:`begin_experiment` takes it.
        wait_for_confirmation: wait for ``hcs merfish confirm`` rather than return.
        custom_plans: plans custom steps may name.
    """
    opened = begin_experiment(protocol_path, config_path, data_dir, resume=resume)
    protocol, journal = opened.protocol, opened.journal
    try:
        session = open_session(opened.config, data_dir)
        qc = decoding_qc(protocol, session)
        try:
            session.RE.subscribe(JournalRecorder(journal))
            session.RE.subscribe(qc)
            orchestrator = Orchestrator(
                protocol=protocol,
                config=opened.config,
                data_dir=session.data_dir,
                catalog=session.catalog,
                catch_up=lambda uids: _wait_for_catalog(session, uids),
                journal=journal,
                submitter=RunEngineSubmitter(
                    session, custom_plans, {"experiment_id": protocol.name}
                ),
                wait_for_confirmation=wait_for_confirmation,
            )
            return orchestrator.run()
        finally:
            qc.close(QC_CATCH_UP_S)  # its last results reach the spool before the session ends
            session.close()
    finally:
        journal.close()
