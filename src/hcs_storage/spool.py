"""The durable document spool: an append-only journal of every document, per run.

The RunEngine's side of the document path only appends. :class:`SpoolWriter` is a
document callback that encodes each document as one JSON line and hands it to the
operating system at once (one ``write`` call, no user-space buffer), so a killed
process loses nothing it has emitted; ``fdatasync`` makes the journal durable against
power loss at the run's stop, every ``sync_every`` documents and at least every
``sync_interval_s``, from a helper thread, so the RunEngine never waits for the disk
(:meth:`SpoolWriter.close` waits for the outstanding syncs).

Layout, in ``DATA_DIR/spool/``::

    <run uid>.jsonl   the journal: one line per document,
                      {"seq": n, "name": "event", "doc": {...}}, seq 0 is the start
    <run uid>.ack     what the catalog holds: {"seq": n, "complete": bool},
                      written atomically (temporary file + rename) by the forwarder

While a run is open its journal is locked (``flock``) by the process writing it. The
lock goes away with the process, however it dies: a journal with no stop document
and no lock belongs to a crashed writer, and :func:`close_abandoned` ends it with an
honest stop document (exit status ``"fail"``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcs_storage.runs import describe_unrecorded

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"
JOURNAL_SUFFIX = ".jsonl"
ACK_SUFFIX = ".ack"
#: Documents between two background syncs of a journal.
SYNC_EVERY = 256
#: Longest time a written document waits for its sync (seconds).
SYNC_INTERVAL_S = 1.0

Document = dict[str, Any]


def spool_dir(data_dir: str | Path) -> Path:
    """Where a data directory's journals live."""
    return Path(data_dir).resolve() / SPOOL_DIR


def _json_default(value: Any) -> Any:
    # numpy arrays and scalars, recognised without importing numpy (``hcs runs`` loads
    # this module and should start fast): ``tolist`` gives lists and Python numbers.
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a document journal")


def encode_line(seq: int, name: str, doc: Document) -> bytes:
    """One journal line (JSON, newline-terminated); numpy values become plain JSON."""
    line = json.dumps(
        {"seq": seq, "name": name, "doc": doc}, default=_json_default, separators=(",", ":")
    )
    return line.encode() + b"\n"


@dataclass(frozen=True)
class SpooledDocument:
    """One journal line, decoded."""

    seq: int
    name: str
    doc: Document
    end_offset: int
    """Byte offset just after this line (where reading resumes)."""


class SpoolCorruptError(RuntimeError):
    """A complete journal line could not be decoded."""


def read_journal(path: Path, offset: int = 0, limit: int | None = None) -> list[SpooledDocument]:
    """The complete lines of a journal from a byte offset.

    A last line without its newline is a write in progress (or torn by a crash) and is
    not returned.

    Args:
        path: the journal.
        offset: byte offset to start at (a previous :attr:`SpooledDocument.end_offset`).
        limit: at most this many documents.

    Raises:
        SpoolCorruptError: when a complete line is not a journal entry.
    """
    found: list[SpooledDocument] = []
    with open(path, "rb") as fh:
        fh.seek(offset)
        position = offset
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            position += len(raw)
            try:
                entry = json.loads(raw)
                found.append(SpooledDocument(entry["seq"], entry["name"], entry["doc"], position))
            except (ValueError, KeyError, TypeError) as exc:
                raise SpoolCorruptError(f"{path}: bad line ending at byte {position}") from exc
            if limit is not None and len(found) >= limit:
                break
    return found


def read_ack(path: Path) -> dict[str, Any]:
    """A run's acknowledgement record (``{"seq": -1, "complete": False}`` if none)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"seq": -1, "complete": False}


def write_ack(path: Path, seq: int, *, complete: bool, sync: bool = False) -> None:
    """Record atomically that the catalog holds a run's documents up to ``seq``."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump({"seq": seq, "complete": complete, "time": time.time()}, fh)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Run:
    """One open journal."""

    def __init__(self, uid: str, path: Path) -> None:
        self.uid = uid
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise
        self.seq = 0
        self.held = b""  # stream datum lines waiting for the next document
        self.unsynced = 0
        self.last_sync = time.monotonic()


class _Syncer(threading.Thread):
    """Makes journals durable (``fdatasync``) off the RunEngine's thread."""

    def __init__(self) -> None:
        super().__init__(name="hcs-spool-sync", daemon=True)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[int, int] = {}  # duplicated fd -> count of requests
        self._closing = False
        self.syncs = 0
        self.busy_s = 0.0

    def request(self, fd: int) -> None:
        """Sync ``fd`` soon (a duplicate is taken, so the caller may close it)."""
        dup = os.dup(fd)
        with self._lock:
            self._pending[dup] = 1
            self._wake.notify()

    def run(self) -> None:
        while True:
            with self._lock:
                self._wake.wait_for(lambda: self._pending or self._closing)
                pending, self._pending = list(self._pending), {}
                if not pending and self._closing:
                    return
            for fd in pending:
                start = time.perf_counter()
                try:
                    os.fdatasync(fd)
                except OSError:
                    log.exception("syncing a document journal failed")
                finally:
                    os.close(fd)
                    self.syncs += 1
                    self.busy_s += time.perf_counter() - start

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._wake.notify()
        self.join()


class SpoolWriter:
    """A RunEngine document callback that appends every document to its run's journal.

    Appending is cheap (an encode and one ``write``); syncing happens in a helper
    thread, also at a run's stop (requested there, done within milliseconds). When a
    document cannot be journaled at all (the spool's disk is full), the ``OSError`` is
    raised: losing a document silently would break the promise, so the run fails.

    Args:
        directory: the spool directory (created if missing).
        sync_every: documents between background syncs of a journal.
        sync_interval_s: longest a written document waits for a background sync.
        on_append: called after every document (e.g. to wake an embedded forwarder).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        sync_every: int = SYNC_EVERY,
        sync_interval_s: float = SYNC_INTERVAL_S,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sync_every = sync_every
        self.sync_interval_s = sync_interval_s
        self.on_append = on_append
        self._runs: dict[str, _Run] = {}
        self._owner: dict[str, str] = {}  # descriptor / resource uid -> run uid
        self._lock = threading.Lock()
        #: Last seq written per run uid (every run this writer has journaled).
        self.written: dict[str, int] = {}
        self.append_s = 0.0
        self.close_s = 0.0
        self._syncer = _Syncer()
        self._syncer.start()

    @property
    def syncs(self) -> int:
        """Background syncs done so far."""
        return self._syncer.syncs

    def __call__(self, name: str, doc: Document) -> None:
        """Append one document to its run's journal."""
        start = time.perf_counter()
        with self._lock:
            run = self._route(name, doc)
            if run is None:
                log.warning("a %s document belongs to no open run; not journaled", name)
                return
            data = encode_line(run.seq, name, doc)
            if name == "stream_datum":
                # Written with the next document (a field's rows follow its images), so
                # that a kill never leaves images announced without their rows.
                run.held += data
                run.seq += 1
                return
            os.write(run.fd, run.held + data)  # one call: O_APPEND keeps it contiguous
            run.held = b""
            self.written[run.uid] = run.seq
            run.seq += 1
            run.unsynced += 1
            if name == "stop":
                self._syncer.request(run.fd)  # durable within milliseconds, not waited for
                self._close_run(run, sync=False)
            elif run.unsynced >= self.sync_every or (
                time.monotonic() - run.last_sync >= self.sync_interval_s
            ):
                self._syncer.request(run.fd)
                run.unsynced = 0
                run.last_sync = time.monotonic()
        self.append_s += time.perf_counter() - start
        if self.on_append is not None:
            self.on_append()

    def _route(self, name: str, doc: Document) -> _Run | None:
        if name == "start":
            uid = doc["uid"]
            run = _Run(uid, self.directory / f"{uid}{JOURNAL_SUFFIX}")
            self._runs[uid] = run
            return run
        if name in ("descriptor", "resource", "stream_resource", "stop"):
            uid = doc.get("run_start")
            if uid is None and name == "resource":  # resources may omit run_start
                uid = next(reversed(self._runs), None)
            if uid is not None and name != "stop":
                self._owner[doc["uid"]] = uid
            return self._runs.get(uid) if uid is not None else None
        if name in ("event", "event_page", "stream_datum"):
            return self._runs.get(self._owner.get(doc["descriptor"], ""))
        if name == "datum":
            return self._runs.get(self._owner.get(doc["resource"], ""))
        if name == "datum_page":
            resource = doc["resource"]
            return self._runs.get(self._owner.get(resource, ""))
        return None

    def _close_run(self, run: _Run, *, sync: bool) -> None:
        start = time.perf_counter()
        try:
            if run.held:
                os.write(run.fd, run.held)
                self.written[run.uid] = run.seq - 1
                run.held = b""
            if sync:
                os.fdatasync(run.fd)
        finally:
            os.close(run.fd)  # releases the lock
            del self._runs[run.uid]
            self._owner = {k: v for k, v in self._owner.items() if v != run.uid}
            self.close_s += time.perf_counter() - start

    def open_runs(self) -> list[str]:
        """Uids of the runs started and not yet stopped."""
        with self._lock:
            return list(self._runs)

    def close(self) -> None:
        """Sync and close every journal (a run left open stays open: no stop is invented)."""
        with self._lock:
            for run in list(self._runs.values()):
                self._close_run(run, sync=True)
        self._syncer.close()


@dataclass(frozen=True)
class JournalState:
    """What a journal holds."""

    last_seq: int
    has_stop: bool
    events: dict[str, int]
    valid_bytes: int


def _last_seq_num(name: str, doc: dict[str, Any]) -> int:
    """The highest sequence number an event, event page or stream datum covers."""
    if name == "event":
        return int(doc["seq_num"])
    if name == "event_page":
        return max(doc["seq_num"], default=0)
    return int(doc["seq_nums"]["stop"]) - 1


def inspect_journal(path: Path) -> JournalState:
    """Last seq, whether it is stopped, events per stream, and the end of the last line."""
    descriptors: dict[str, str] = {}
    events: Counter[str] = Counter()
    last_seq, has_stop, valid = -1, False, 0
    for entry in read_journal(path):
        last_seq, valid = entry.seq, entry.end_offset
        if entry.name == "descriptor":
            descriptors[entry.doc["uid"]] = entry.doc.get("name", "primary")
        elif entry.name in ("event", "event_page", "stream_datum"):
            # A stream's event count is its highest sequence number, as in the stop
            # document the RunEngine writes (images and their rows share numbers).
            stream = descriptors.get(entry.doc["descriptor"], "primary")
            events[stream] = max(events[stream], _last_seq_num(entry.name, entry.doc))
        elif entry.name == "stop":
            has_stop = True
    return JournalState(last_seq, has_stop, dict(events), valid)


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[int | None]:
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def is_abandoned(path: Path) -> bool:
    """True when no process holds the journal open (its writer is gone)."""
    with _try_lock(path) as fd:
        return fd is not None


def close_abandoned(path: Path, reason: str | None = None) -> Document | None:
    """End a journal whose writer died: drop a torn last line, append a failed stop.

    The stop document lists the run's frame files that no document announces (taken
    after the last announcement, or being written, when the process died) under
    ``unrecorded_frames`` (``[{"file": ..., "reason": ...}]``, paths relative to the data
    directory) and counts them in its reason; the same list is written to
    ``unrecorded.json`` in the frame set (:func:`hcs_storage.recovery.unrecorded_frames`).

    Args:
        path: the journal.
        reason: the stop document's reason (a default explains what happened).

    Returns:
        The stop document appended, or None when the journal is still being written
        or already has a stop document.
    """
    with _try_lock(path) as fd:
        if fd is None:
            return None
        state = inspect_journal(path)
        if state.has_stop or state.last_seq < 0:
            return None
        os.ftruncate(fd, state.valid_bytes)  # a torn line from the crash, if any
        entries = read_journal(path)
        start = entries[0].doc
        unrecorded = _unrecorded_frames(path, entries)
        stop: Document = {
            "run_start": start["uid"],
            "time": time.time(),
            "uid": str(uuid.uuid4()),
            "exit_status": "fail",
            "reason": reason
            or (
                "the acquisition process ended without closing this run (no stop document "
                f"was written); closed after seq {state.last_seq} by pid {os.getpid()}, the "
                "next process to open the data directory"
            ),
            "num_events": state.events,
            "unrecorded_frames": unrecorded,
        }
        if unrecorded:
            stop["reason"] += f"; {describe_unrecorded(unrecorded)}"
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, encode_line(state.last_seq + 1, "stop", stop))
        os.fsync(fd)
        return stop


def _unrecorded_frames(path: Path, entries: list[SpooledDocument]) -> list[dict[str, str]]:
    """The crashed run's frame files that no document announces, also written to disk.

    Listed in ``unrecorded.json`` next to the frames (before the stop document is
    appended, so a crash here leaves the run to be closed again, listing the same files).
    """
    from hcs_storage import recovery  # recovery imports this module

    try:
        unrecorded = recovery.unrecorded_frames(path, entries)
        recovery.record_unrecorded(path.resolve().parent.parent, entries[0].doc["uid"], unrecorded)
    except OSError:
        log.exception("cannot list the unrecorded frame files of journal %s", path)
        return []
    return unrecorded


def close_crashed_runs(data_dir: str | Path, reason: str | None = None) -> list[str]:
    """Close every run of a data directory's spool that a dead process left open.

    Call it only while owning the data directory (:mod:`hcs_storage.owner`); each
    journal's own lock still protects a run that is being written. Journals the catalog
    already holds completely (their ``.ack`` says so) are not read.

    Args:
        data_dir: the data directory.
        reason: the stop documents' reason (see :func:`close_abandoned`).

    Returns:
        The uids of the runs closed (exit status ``"fail"``), oldest first.
    """
    directory = spool_dir(data_dir)
    if not directory.is_dir():
        return []
    closed: list[str] = []
    for path in journals(directory):
        if read_ack(path.with_suffix(ACK_SUFFIX)).get("complete"):
            continue
        try:
            stop = close_abandoned(path, reason)
        except (OSError, SpoolCorruptError):
            log.exception("cannot close the crashed run of journal %s", path)
            continue
        if stop is not None:
            log.warning(
                "run %s was left open by a crash: closed with exit status 'fail'", path.stem
            )
            closed.append(path.stem)
    return closed


def journals(directory: Path) -> list[Path]:
    """The journals in a spool directory, oldest first (by start time)."""
    found = []
    for path in directory.glob(f"*{JOURNAL_SUFFIX}"):
        try:
            first = read_journal(path, 0, limit=1)
        except (OSError, SpoolCorruptError):
            continue
        if first:
            found.append((float(first[0].doc.get("time", 0.0)), path.name, path))
    return [p for _, _, p in sorted(found)]
