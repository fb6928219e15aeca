"""The MERFISH journal: which unit of work started, ended, and with which run.

A SQLite database in WAL mode in the data directory (``merfish-journal.sqlite``),
written with ``synchronous=FULL`` so a record survives the process and the machine.
It holds:

- the experiment: the protocol's hash, where the protocol and configuration are;
- per unit: submitted (the orchestrator is about to run it), started (its run's start
  document, with the run uid), completed or failed (its stop document);
- every run of every unit (a unit a crash interrupted has several);
- the operator's confirmations to repeat a unit that is not safe to repeat;
- a log of what happened (pauses, failures, completion, notifications).

:class:`JournalRecorder` is a document callback: the run's own documents write the
started/completed records, so the journal is right whoever submitted the run (the
orchestrator in-process now, the queue server later).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hcs_schema import MERFISH_KEY

#: The journal's file name in the data directory.
JOURNAL_FILE = "merfish-journal.sqlite"

UnitState = Literal["submitted", "started", "completed", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    protocol_hash TEXT NOT NULL,
    protocol_path TEXT NOT NULL,
    config_path TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    unit_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    run_uid TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_uid TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL,
    started REAL NOT NULL,
    exit_status TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS confirmations (
    unit_id TEXT NOT NULL,
    asked REAL NOT NULL,
    confirmed REAL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS log (
    time REAL NOT NULL,
    event TEXT NOT NULL,
    message TEXT NOT NULL
);
"""


class JournalError(RuntimeError):
    """The journal belongs to another experiment, or a confirmation has nothing to confirm."""


@dataclass(frozen=True)
class UnitRecord:
    """What the journal knows of one unit.

    Attributes:
        unit_id: the unit.
        state: submitted, started, completed or failed.
        run_uid: its latest run (empty before a run started).
        runs: every run of the unit, oldest first.
    """

    unit_id: str
    state: UnitState
    run_uid: str
    runs: tuple[str, ...]


def journal_path(data_dir: str | Path) -> Path:
    """Where a data directory's MERFISH journal lives."""
    return Path(data_dir).resolve() / JOURNAL_FILE


class Journal:
    """The durable record of a MERFISH experiment (safe to use from several threads).

    Args:
        path: the database file (created if absent).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        with self._lock:
            self._db.executescript(_SCHEMA)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the experiment ------------------------------------------------------------------

    def begin(self, protocol_hash: str, protocol_path: str, config_path: str) -> bool:
        """Record the experiment this journal is for.

        Returns:
            True for a new experiment, False when the journal already holds this one.

        Raises:
            JournalError: the journal holds another protocol's experiment.
        """
        with self._write() as db:
            row = db.execute("SELECT protocol_hash FROM experiment").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO experiment VALUES (1, ?, ?, ?, ?)",
                    (protocol_hash, protocol_path, config_path, time.time()),
                )
                return True
        if row[0] != protocol_hash:
            raise JournalError(
                f"{self.path} holds the experiment of protocol {row[0][:12]}, not "
                f"{protocol_hash[:12]} (the protocol changed?); use another --data-dir "
                f"for a new experiment"
            )
        return False

    def experiment(self) -> dict[str, Any] | None:
        """The experiment's record (protocol hash and paths), or None before ``begin``."""
        with self._lock:
            row = self._db.execute(
                "SELECT protocol_hash, protocol_path, config_path, created FROM experiment"
            ).fetchone()
        if row is None:
            return None
        keys = ("protocol_hash", "protocol_path", "config_path", "created")
        return dict(zip(keys, row, strict=True))

    # -- units ---------------------------------------------------------------------------

    def submitted(self, unit_id: str) -> None:
        """The orchestrator is about to run ``unit_id``."""
        self._set_state(unit_id, "submitted", None)

    def started(self, unit_id: str, run_uid: str) -> None:
        """A run of ``unit_id`` opened."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO runs (run_uid, unit_id, started) VALUES (?, ?, ?)",
                (run_uid, unit_id, time.time()),
            )
            self._upsert(db, unit_id, "started", run_uid)

    def ended(self, run_uid: str, exit_status: str) -> str | None:
        """A run closed: its unit is completed on success, failed otherwise.

        Returns:
            The unit of that run, or None for a run the journal does not know.
        """
        with self._write() as db:
            row = db.execute("SELECT unit_id FROM runs WHERE run_uid = ?", (run_uid,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE runs SET exit_status = ? WHERE run_uid = ?", (exit_status, run_uid))
            state: UnitState = "completed" if exit_status == "success" else "failed"
            self._upsert(db, row[0], state, run_uid)
            return str(row[0])

    def mark_completed(self, unit_id: str, run_uid: str) -> None:
        """Record a unit as done (reconciled: the catalog holds all of it)."""
        self._set_state(unit_id, "completed", run_uid)

    def _set_state(self, unit_id: str, state: UnitState, run_uid: str | None) -> None:
        with self._write() as db:
            self._upsert(db, unit_id, state, run_uid)

    @staticmethod
    def _upsert(db: sqlite3.Connection, unit_id: str, state: str, run_uid: str | None) -> None:
        """Set a unit's state; a completed unit stays completed."""
        db.execute(
            "INSERT INTO units (unit_id, state, run_uid, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(unit_id) DO UPDATE SET "
            "state = CASE WHEN units.state = 'completed' THEN units.state "
            "ELSE excluded.state END, "
            "run_uid = CASE WHEN ? IS NULL THEN units.run_uid ELSE excluded.run_uid END, "
            "updated = excluded.updated",
            (unit_id, state, run_uid or "", time.time(), run_uid),
        )

    def units(self) -> dict[str, UnitRecord]:
        """Every unit the journal has seen, by id."""
        with self._lock:
            rows = self._db.execute("SELECT unit_id, state, run_uid FROM units").fetchall()
            runs = self._db.execute(
                "SELECT unit_id, run_uid FROM runs ORDER BY started, rowid"
            ).fetchall()
        by_unit: dict[str, list[str]] = {}
        for unit_id, uid in runs:
            by_unit.setdefault(unit_id, []).append(uid)
        return {
            u: UnitRecord(unit_id=u, state=s, run_uid=r, runs=tuple(by_unit.get(u, ())))
            for u, s, r in rows
        }

    def run_exit_statuses(self) -> dict[str, str]:
        """Every run's exit status ('' while open or when a crash ended it)."""
        with self._lock:
            rows = self._db.execute("SELECT run_uid, exit_status FROM runs").fetchall()
        return {uid: status for uid, status in rows}

    # -- confirmations -------------------------------------------------------------------

    def ask_confirmation(self, unit_id: str) -> None:
        """Record that ``unit_id`` waits for the operator (once while unanswered)."""
        with self._write() as db:
            open_ = db.execute(
                "SELECT 1 FROM confirmations WHERE unit_id = ? AND confirmed IS NULL", (unit_id,)
            ).fetchone()
            if open_ is None:
                db.execute(
                    "INSERT INTO confirmations (unit_id, asked) VALUES (?, ?)",
                    (unit_id, time.time()),
                )

    def waiting(self) -> list[str]:
        """Units waiting for the operator's confirmation."""
        with self._lock:
            rows = self._db.execute(
                "SELECT unit_id FROM confirmations WHERE confirmed IS NULL ORDER BY asked"
            ).fetchall()
        return [r[0] for r in rows]

    def confirm(self, unit_id: str | None = None) -> list[str]:
        """Answer the waiting confirmations (of ``unit_id`` only, if given).

        Returns:
            The units confirmed.

        Raises:
            JournalError: nothing (or not that unit) is waiting.
        """
        waiting = self.waiting()
        chosen = [u for u in waiting if unit_id is None or u == unit_id]
        if not chosen:
            what = f"unit {unit_id}" if unit_id else "any unit"
            raise JournalError(f"no confirmation is asked for {what}; waiting: {waiting}")
        with self._write() as db:
            for unit in chosen:
                db.execute(
                    "UPDATE confirmations SET confirmed = ? "
                    "WHERE unit_id = ? AND confirmed IS NULL",
                    (time.time(), unit),
                )
        return chosen

    def confirmations(self, unit_id: str) -> int:
        """How many times the operator confirmed repeating ``unit_id``."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM confirmations WHERE unit_id = ? AND confirmed IS NOT NULL",
                (unit_id,),
            ).fetchone()
        return int(row[0])

    def take_confirmation(self, unit_id: str) -> bool:
        """Use up one answered confirmation of ``unit_id``: True if there was one."""
        with self._write() as db:
            row = db.execute(
                "SELECT rowid FROM confirmations WHERE unit_id = ? AND confirmed IS NOT NULL "
                "AND used = 0 ORDER BY confirmed LIMIT 1",
                (unit_id,),
            ).fetchone()
            if row is None:
                return False
            db.execute("UPDATE confirmations SET used = 1 WHERE rowid = ?", row)
            return True

    # -- log -----------------------------------------------------------------------------

    def log(self, event: str, message: str) -> None:
        """Append a line to the experiment's log."""
        with self._write() as db:
            db.execute("INSERT INTO log VALUES (?, ?, ?)", (time.time(), event, message))

    def log_lines(self) -> list[tuple[float, str, str]]:
        """The log, oldest first."""
        with self._lock:
            return list(self._db.execute("SELECT time, event, message FROM log ORDER BY rowid"))


class JournalRecorder:
    """A document callback that records each MERFISH unit's runs in a journal.

    Subscribe it to the RunEngine before the spool, so a unit's run is journaled
    before anything of the run happens.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __call__(self, name: str, doc: Mapping[str, Any]) -> None:
        """Record a start (with a ``merfish`` key) or the stop of a journaled run."""
        if name == "start":
            merfish = doc.get(MERFISH_KEY)
            if isinstance(merfish, Mapping) and "unit" in merfish:
                self.journal.started(str(merfish["unit"]), str(doc["uid"]))
        elif name == "stop":
            self.journal.ended(str(doc["run_start"]), str(doc.get("exit_status", "")))


class DataDirJournalRecorder:
    """A :class:`JournalRecorder` for a data directory's experiment, wherever its runs run.

    In lab mode the orchestrator (``hcs merfish run --lab``) and the RunEngine (the
    queue server's RE worker) are two processes sharing the data directory: the worker
    subscribes this, and the runs' own documents write their started and ended records
    into the journal the orchestrator created (SQLite serialises the two writers). The
    journal is opened at the first MERFISH run; without a journal (no experiment) nothing
    is written.

    Args:
        data_dir: the data directory.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.path = journal_path(data_dir)
        self._recorder: JournalRecorder | None = None

    def __call__(self, name: str, doc: Mapping[str, Any]) -> None:
        """Record a MERFISH run's start and stop (opening the journal at the first)."""
        if self._recorder is None:
            if name != "start" or not isinstance(doc.get(MERFISH_KEY), Mapping):
                return
            if not self.path.exists():
                return
            self._recorder = JournalRecorder(Journal(self.path))
        self._recorder(name, doc)

    def close(self) -> None:
        """Close the journal, if it was opened."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.journal.close()
