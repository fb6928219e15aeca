"""A MERFISH experiment run through a lab's queue server (``hcs merfish run --lab``).

In lab mode the RunEngine is the queue server's RE worker (``hcs lab up``); the
orchestrator runs wherever the operator starts it and never drives a device. It queues
each unit as a ``run_unit`` plan with the unit as JSON (:class:`QueueServerSubmitter`)
and waits for the item in the queue's history. The worker's runs record their own
started and ended records in the data directory's journal
(:class:`~hcs_orchestrator.merfish.journal.DataDirJournalRecorder`); the orchestrator
records what it submitted and the operator's confirmations. A resume reconciles with
the lab's Tiled server, once the lab's forwarder has taken every document of the runs
in question there.

Killing the orchestrator leaves the lab running the unit it had queued; the next
``hcs merfish resume --lab`` lets that unit end (and drops one still waiting in the
queue), finds its runs in the journal and does only what is missing. The decoding QC
is not run in lab mode (it follows a RunEngine's documents in the orchestrator's
process).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from hcs_orchestrator.lab.supervisor import Lab
from hcs_orchestrator.merfish.journal import Journal
from hcs_orchestrator.merfish.resume import UnitTodo
from hcs_orchestrator.merfish.runner import (
    RECONCILE_TIMEOUT_S,
    Orchestrator,
    Outcome,
    begin_experiment,
    spooled_last_seq,
)
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_storage.spool import ACK_SUFFIX, read_ack, spool_dir

#: The plan each unit is queued as, and the device it runs on.
UNIT_PLAN = "run_unit"
MICROSCOPE = "microscope"
#: How often the orchestrator looks at the queue while a unit runs, s.
POLL_S = 0.2
#: The queue's exit statuses and the run exit statuses they stand for when the journal
#: holds none (a run that never opened).
_QUEUE_STATUS = {"completed": "success", "failed": "fail", "stopped": "success"}


class QueueServerSubmitter:
    """Queues units on a lab's RE Manager and waits for each to end.

    Args:
        manager: a client of the RE Manager (``REManagerAPI``).
        journal: the experiment's journal (the worker records each run's exit there).
        metadata: extra start-document metadata of every unit's run.
        poll_s: how often the queue is looked at while a unit runs.
    """

    def __init__(
        self,
        manager: Any,
        journal: Journal,
        *,
        metadata: dict[str, Any] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.manager = manager
        self.journal = journal
        self.metadata = dict(metadata or {})
        self.poll_s = poll_s

    def submit(self, todo: UnitTodo) -> tuple[str, str]:
        """Queue ``todo``'s plan, start the queue if idle, and wait for its end."""
        from bluesky_queueserver_api import BPlan

        plan = BPlan(
            UNIT_PLAN,
            MICROSCOPE,
            unit=todo.unit.model_dump(mode="json"),
            parts_done=todo.parts_done,
            skip_frames=[list(key) for key in todo.skip_frames],
            metadata=self.metadata,
        )
        added: Any = self.manager.item_add(plan)
        if not added["success"]:
            return "fail", f"the queue server refused unit {todo.unit.id}: {added['msg']}"
        item_uid = str(added["item"]["item_uid"])
        status: Any = self.manager.status()
        if status["manager_state"] == "idle" and not status["worker_environment_exists"]:
            self.manager.environment_open()
            self.manager.wait_for_idle(timeout=120)
        if self.manager.status()["manager_state"] == "idle":
            self.manager.queue_start()
        pause = threading.Event()
        seen = None
        while True:
            status = self.manager.status()
            if status["plan_history_uid"] != seen:
                seen = status["plan_history_uid"]
                ended = self._ended(item_uid)
                if ended is not None:
                    return ended
            pause.wait(self.poll_s)

    def settle(self) -> None:
        """Before reconciling: drop units still waiting in the queue, let a running one end.

        A killed orchestrator leaves the unit it had queued in the lab. One still waiting
        is removed (the resume queues what is missing again); one running is waited for,
        so that the resume never queues frames the lab is still taking.
        """
        queue: Any = self.manager.queue_get()
        for item in queue["items"]:
            if item.get("name") == UNIT_PLAN:
                self.manager.item_remove(uid=item["item_uid"])
        pause = threading.Event()
        while (self.manager.queue_get().get("running_item") or {}).get("name") == UNIT_PLAN:
            pause.wait(self.poll_s)

    def _ended(self, item_uid: str) -> tuple[str, str] | None:
        history: Any = self.manager.history_get()
        for item in reversed(history["items"]):
            if item.get("item_uid") != item_uid:
                continue
            result = item.get("result", {})
            statuses = self.journal.run_exit_statuses()
            runs = [statuses.get(uid, "") for uid in result.get("run_uids", [])]
            status = runs[-1] if runs and runs[-1] else ""
            queued = str(result.get("exit_status", ""))
            return status or _QUEUE_STATUS.get(queued, "abort"), str(result.get("msg", ""))
        return None


def _wait_for_acks(data_dir: Path, uids: list[str], timeout_s: float) -> None:
    """Wait until the lab's forwarder has taken these runs' spooled documents to Tiled."""
    targets = spooled_last_seq(data_dir, uids)
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(
            read_ack((spool_dir(data_dir) / uid).with_suffix(ACK_SUFFIX))["seq"] >= seq
            for uid, seq in targets.items()
        ):
            return
        pause.wait(0.2)


def run_experiment_in_lab(
    protocol_path: Path | None,
    lab_dir: Path,
    *,
    resume: bool,
    wait_for_confirmation: bool = True,
) -> Outcome:
    """Start (or resume) a lab's MERFISH experiment through its queue server.

    Args:
        protocol_path: the protocol (a resume takes the journal's when None).
        lab_dir: the lab directory (``hcs lab up``): its data directory, microscope
            configuration, queue server and Tiled server are the experiment's.
        resume: continue the journal's experiment (refused if there is none).
        wait_for_confirmation: wait for ``hcs merfish confirm`` rather than return.

    Raises:
        LabError: no lab in ``lab_dir``.
        UserFileError: the protocol is invalid for the lab's microscope.
        JournalError: resume without an experiment, or run over an existing one.
    """
    from tiled.client import from_uri

    lab = Lab(lab_dir, out=lambda _: None)
    settings = lab.settings()
    data_dir = Path(settings.data_dir)
    config_path = Path(settings.config) if settings.config else DEFAULT_CONFIG
    opened = begin_experiment(protocol_path, config_path, data_dir, resume=resume)
    journal = opened.journal
    try:
        catalog = from_uri(settings.tiled_uri, api_key=lab.layout.key_file.read_text().strip())
        try:
            with lab.manager() as manager:
                submitter = QueueServerSubmitter(
                    manager, journal, metadata={"experiment_id": opened.protocol.name}
                )
                submitter.settle()
                orchestrator = Orchestrator(
                    protocol=opened.protocol,
                    config=opened.config,
                    data_dir=data_dir,
                    catalog=catalog,
                    catch_up=lambda uids: _wait_for_acks(data_dir, uids, RECONCILE_TIMEOUT_S),
                    journal=journal,
                    submitter=submitter,
                    wait_for_confirmation=wait_for_confirmation,
                )
                return orchestrator.run()
        finally:
            catalog.context.close()
    finally:
        journal.close()
