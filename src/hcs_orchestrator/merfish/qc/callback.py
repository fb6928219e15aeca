"""The decoding QC as a RunEngine document callback that never slows acquisition.

The callback only puts each document on a bounded queue (no copy, no I/O) and returns;
a worker thread follows the documents, reads a round's images from their TIFF files
when the round's run stops, checks it, decodes fields with every bit imaged, and emits
the results as ``merfish_qc`` runs (:mod:`~hcs_orchestrator.merfish.qc.documents`) to
``emit``, e.g. the session's durable storage. When the worker falls behind it lags; when
the queue is full a document is not queued, counted in :attr:`DecodingQc.dropped` and
logged, and the QC of the runs it belonged to may be incomplete: acquisition never
waits for the QC. On Linux the worker thread runs at a lower priority (niceness
+10), so that on a busy machine the acquisition's threads are scheduled first.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from hcs_devices.config.codebook import Codebook
from hcs_orchestrator.merfish.qc.collector import ImageIndex
from hcs_orchestrator.merfish.qc.documents import Emit, emit_qc_run
from hcs_orchestrator.merfish.qc.experiment import ExperimentQc, FieldResult, Truth
from hcs_orchestrator.merfish.qc.limits import QcLimits

log = logging.getLogger(__name__)

#: Documents that may wait for the worker.
QUEUE_SIZE = 100_000
#: Niceness added to the worker thread (Linux), so acquisition threads get the CPU first.
WORKER_NICE = 10
_STOP = ("", {})


class DecodingQc:
    """Subscribe to a RunEngine: QC of every MERFISH image run, off its thread.

    Args:
        codebook: the experiment's codebook.
        emit: where the QC runs' documents go (called from the worker thread; must be
            thread-safe, as the session's storage is).
        limits: the QC thresholds.
        truth: the molecules present in a field, when known (a simulation).
        queue_size: documents that may wait for the worker.
    """

    def __init__(
        self,
        codebook: Codebook,
        emit: Emit,
        *,
        limits: QcLimits | None = None,
        truth: Truth | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.emit = emit
        self.qc = ExperimentQc(codebook, limits, truth)
        self.dropped = 0
        self.failures = 0
        self.qc_runs: list[str] = []
        self._index = ImageIndex()
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._work, name="merfish-qc", daemon=True)
        self._thread.start()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Queue one document (the RunEngine's thread: never blocks)."""
        try:
            self._queue.put_nowait((name, doc))
        except queue.Full:
            self.dropped += 1
            log.warning(
                "decoding QC is %d documents behind: a %s document was not queued",
                self._queue.qsize(),
                name,
            )

    @property
    def backlog(self) -> int:
        """Documents waiting for the worker."""
        return self._queue.qsize()

    def join(self) -> None:
        """Wait until every document queued so far has been handled."""
        self._queue.join()

    def close(self, timeout_s: float | None = None) -> None:
        """Handle what is queued, then stop the worker."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _work(self) -> None:
        try:  # Linux: a thread's id is a process id for the scheduler
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        except (AttributeError, OSError):
            log.debug("decoding QC runs at normal priority")
        while True:
            name, doc = self._queue.get()
            try:
                if name == "":
                    return
                self._handle(name, doc)
            except Exception:
                self.failures += 1
                log.exception("decoding QC failed on a %s document", name)
            finally:
                self._queue.task_done()

    def _handle(self, name: str, doc: dict[str, Any]) -> None:
        images = self._index(name, doc)
        if images is None or not images.rounds:
            return
        results = self.qc.add(images)
        if not results:
            return
        for result in results:
            warnings = (
                result.decoding.warnings if isinstance(result, FieldResult) else result.qc.warnings
            )
            for warning in warnings:
                log.warning("MERFISH QC, well %s field %d: %s", *result.field, warning)
        self.qc_runs.append(
            emit_qc_run(
                self.emit,
                results,
                experiment_id=images.experiment_id,
                protocol_hash=str(images.merfish.get("protocol_hash", "")),
                source_run=images.uid,
            )
        )
