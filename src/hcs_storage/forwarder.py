"""The forwarder: drains the document spool into Tiled, exactly once, whatever crashed.

A :class:`Forwarder` reads each run's journal (see :mod:`hcs_storage.spool`) in order
and feeds the documents to a :class:`~hcs_storage.run_writer.ResumableRunWriter`. It
writes in batches it controls: after each batch every event row and every frame it has
read is in Tiled, and the acknowledged seq is recorded in the run's ``.ack`` file.

Exactly once: the acknowledgement file cannot be updated in the same transaction as
Tiled, so it is only a progress marker. The truth is what Tiled holds. Whenever a
writer for a run is (re)built, after a crash of either side or after any failed
request, the run's journal is replayed from its start through a writer that skips what
the catalog already has (see :mod:`hcs_storage.run_writer`).

A journal with no stop document whose writer process is gone (its lock is free) is
closed with an honest stop document (exit status ``"fail"``) before it is forwarded.

When Tiled is unreachable the forwarder retries with exponential backoff (capped) and
the spool grows; nothing is ever raised into the RunEngine.

It runs in the acquisition process (:class:`~hcs_storage.durable_storage.DurableStorage`,
embedded mode) or as a process of its own (lab mode, ``hcs forward``; see
:mod:`hcs_storage.lab_forwarder`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluesky_tiled_plugins.writing.tiled_writer import RunNormalizer

from hcs_storage.run_writer import ResumableRunWriter
from hcs_storage.spool import (
    ACK_SUFFIX,
    JOURNAL_SUFFIX,
    SpoolCorruptError,
    close_abandoned,
    is_abandoned,
    read_ack,
    read_journal,
    write_ack,
)

log = logging.getLogger(__name__)

#: Documents read and written to Tiled per batch (one table append per stream and one
#: frame registration per array per batch).
BATCH_DOCS = 500
#: Backoff after a failed batch: first delay and cap (seconds).
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
#: How often an idle forwarder looks for new documents (seconds).
POLL_S = 0.2


class RunForwarder:
    """Forwards one run's journal: a normalizer feeding a :class:`ResumableRunWriter`."""

    def __init__(self, client: Any, journal: Path) -> None:
        self.journal = journal
        self.ack_path = journal.with_suffix(ACK_SUFFIX)
        ack = read_ack(self.ack_path)
        self.acked: int = ack["seq"]
        self.complete: bool = ack["complete"]
        self._client = client
        self._writer: ResumableRunWriter | None = None
        self._normalizer: RunNormalizer | None = None
        self._offset = 0
        self._fed = -1
        self.failures = 0
        self.retry_at = 0.0

    @property
    def uid(self) -> str:
        """The run's uid."""
        return self.journal.stem

    def reset(self) -> None:
        """Forget the writer: the next batch replays the journal against the catalog."""
        self._writer = None
        self._normalizer = None
        self._offset = 0
        self._fed = -1

    def step(self, batch_docs: int) -> bool:
        """Forward one batch; True if anything was written or acknowledged."""
        if self._writer is None:
            self._writer = ResumableRunWriter(self._client)
            self._normalizer = RunNormalizer()
            self._normalizer.subscribe(self._writer)
        assert self._normalizer is not None
        entries = read_journal(self.journal, self._offset, limit=batch_docs)
        if not entries:
            if is_abandoned(self.journal) and close_abandoned(self.journal) is not None:
                log.warning(
                    "run %s was left open by a crash: closed with exit status 'fail'", self.uid
                )
                return True
            return False
        for entry in entries:
            if entry.seq != self._fed + 1:
                raise RuntimeError(f"{self.journal}: seq {entry.seq} after {self._fed}")
            self._normalizer(entry.name, entry.doc)
            self._fed = entry.seq
            self._offset = entry.end_offset
            if entry.name == "stop":
                self.complete = True
        self._writer.flush()
        if self._fed > self.acked or self.complete:
            self.acked = max(self.acked, self._fed)
            write_ack(self.ack_path, self.acked, complete=self.complete, sync=self.complete)
        return True


@dataclass
class ForwarderStats:
    """Counters of a forwarder."""

    batches: int = 0
    documents: int = 0
    failures: int = 0
    busy_s: float = 0.0
    last_error: str | None = None
    closed_runs: list[str] = field(default_factory=list)


class Forwarder:
    """Drains every journal of a spool directory into Tiled, oldest run first.

    Args:
        directory: the spool directory.
        client: a Tiled client (a catalog of runs, writable).
        batch_docs: documents per batch.
        poll_s: how often to look for new documents when idle.
        backoff_initial_s: first delay after a failure; doubled each failure.
        backoff_max_s: the longest delay.
    """

    def __init__(
        self,
        directory: str | Path,
        client: Any,
        *,
        batch_docs: int = BATCH_DOCS,
        poll_s: float = POLL_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.client = client.include_data_sources()
        self.batch_docs = batch_docs
        self.poll_s = poll_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = ForwarderStats()
        self._runs: dict[str, RunForwarder] = {}
        self._done: set[str] = set()
        self._started: dict[str, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acked = threading.Condition()
        self._thread: threading.Thread | None = None

    # Progress --------------------------------------------------------------------
    def acked(self, uid: str) -> int:
        """Last seq of run ``uid`` the catalog holds (-1 if none)."""
        run = self._runs.get(uid)
        if run is not None:
            return run.acked
        return read_ack((self.directory / uid).with_suffix(ACK_SUFFIX))["seq"]

    def wait_for(self, targets: dict[str, int], timeout_s: float | None) -> bool:
        """Wait until the catalog holds each run ``uid`` up to seq ``targets[uid]``."""
        with self._acked:
            self._wake.set()
            return self._acked.wait_for(
                lambda: all(self.acked(uid) >= seq for uid, seq in targets.items()),
                timeout=timeout_s,
            )

    def notify(self) -> None:
        """New documents were spooled: look now rather than at the next poll."""
        self._wake.set()

    # Draining --------------------------------------------------------------------
    def _pending(self) -> list[RunForwarder]:
        """Unfinished runs, oldest first (new journals are picked up here)."""
        for path in self.directory.glob(f"*{JOURNAL_SUFFIX}"):
            uid = path.stem
            if uid in self._done or uid in self._runs:
                continue
            run = RunForwarder(self.client, path)
            if run.complete:
                self._done.add(uid)
                continue
            try:
                first = read_journal(path, 0, limit=1)
            except (OSError, SpoolCorruptError):
                log.exception("cannot read journal %s", path)
                continue
            if first:  # an empty journal is a run being created
                self._runs[uid] = run
                self._started[uid] = float(first[0].doc.get("time", 0.0))
        return sorted(self._runs.values(), key=lambda r: (self._started[r.uid], r.uid))

    def drain_once(self) -> bool:
        """One pass over every unfinished run; True if anything was forwarded."""
        progressed = False
        now = time.monotonic()
        for run in self._pending():
            if run.retry_at > now:
                continue
            start = time.perf_counter()
            try:
                before = run.acked
                moved = run.step(self.batch_docs)
            except Exception as exc:
                run.failures += 1
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (run.failures - 1))
                run.retry_at = time.monotonic() + delay
                log.warning(
                    "forwarding run %s failed (%s); retrying in %.1f s",
                    run.uid,
                    self.stats.last_error,
                    delay,
                )
                run.reset()
                continue
            finally:
                self.stats.busy_s += time.perf_counter() - start
            if moved:
                progressed = True
                run.failures = 0
                self.stats.batches += 1
                self.stats.documents += max(0, run.acked - before)
                with self._acked:
                    self._acked.notify_all()
            if run.complete:
                self._done.add(run.uid)
                self._runs.pop(run.uid, None)
        return progressed

    def next_retry_in(self) -> float:
        """Seconds until the earliest scheduled retry (inf if none)."""
        now = time.monotonic()
        waits = [r.retry_at - now for r in self._runs.values() if r.retry_at > now]
        return min(waits, default=math.inf)

    def run_forever(self) -> None:
        """Drain until :meth:`stop` is called (the body of lab mode and of the thread)."""
        while not self._stop.is_set():
            try:
                if self.drain_once():
                    continue
            except Exception:  # a bug must not end the forwarder; it logs and retries
                log.exception("forwarder pass failed")
            self._wake.wait(min(self.poll_s, self.next_retry_in()))
            self._wake.clear()

    def start(self) -> None:
        """Run in a daemon thread (embedded mode)."""
        self._thread = threading.Thread(target=self.run_forever, name="hcs-forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the thread after its current batch."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
