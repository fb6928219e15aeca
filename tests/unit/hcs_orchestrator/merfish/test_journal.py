"""The MERFISH journal: durable records of units, runs and confirmations."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from hcs_orchestrator.merfish.journal import Journal, JournalError, JournalRecorder

HASH = "a" * 64
OTHER = "b" * 64


def test_journal_uses_wal_and_keeps_records_when_reopened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path) as journal:
        assert journal.begin(HASH, "p.yaml", "m.yaml") is True
        journal.submitted("u1")
        journal.started("u1", "run-1")
        assert journal.ended("run-1", "success") == "u1"
        journal.submitted("u2")
        journal.started("u2", "run-2")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with Journal(path) as journal:
        assert journal.begin(HASH, "p.yaml", "m.yaml") is False
        units = journal.units()
        assert units["u1"].state == "completed"
        assert units["u1"].runs == ("run-1",)
        assert units["u2"].state == "started"
        assert units["u2"].run_uid == "run-2"


def test_journal_refuses_another_protocol_when_it_holds_an_experiment(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.begin(HASH, "p.yaml", "m.yaml")
        with pytest.raises(JournalError, match="aaaaaaaaaaaa, not bbbbbbbbbbbb"):
            journal.begin(OTHER, "p.yaml", "m.yaml")


def test_journal_keeps_a_unit_completed_when_a_later_run_of_it_fails(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.started("u1", "run-1")
        journal.ended("run-1", "success")
        journal.started("u1", "run-2")
        journal.ended("run-2", "fail")
        assert journal.units()["u1"].state == "completed"
        journal.started("u2", "run-3")
        journal.ended("run-3", "fail")
        assert journal.units()["u2"].state == "failed"
        assert journal.ended("unknown-run", "success") is None


def test_confirmation_is_used_once_when_the_operator_answers(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.take_confirmation("u1") is False
        journal.ask_confirmation("u1")
        journal.ask_confirmation("u1")  # asked again while unanswered: one question
        assert journal.waiting() == ["u1"]
        assert journal.take_confirmation("u1") is False  # asked, not answered
        with pytest.raises(JournalError, match="no confirmation is asked for unit u2"):
            journal.confirm("u2")
        assert journal.confirm() == ["u1"]
        assert journal.waiting() == []
        assert journal.take_confirmation("u1") is True
        assert journal.take_confirmation("u1") is False
        assert journal.confirmations("u1") == 1


def test_recorder_journals_merfish_runs_only_when_documents_pass(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        recorder = JournalRecorder(journal)
        recorder("start", {"uid": "plate-run"})
        recorder(
            "start", {"uid": "r1", "merfish": {"protocol_hash": HASH, "round": 1, "unit": "u1"}}
        )
        assert journal.units()["u1"].state == "started"
        recorder("stop", {"run_start": "plate-run", "exit_status": "success"})
        recorder("stop", {"run_start": "r1", "exit_status": "abort"})
        assert set(journal.units()) == {"u1"}
        assert journal.units()["u1"].state == "failed"
        assert journal.run_exit_statuses() == {"r1": "abort"}


def test_journal_records_from_two_threads_when_written_at_once(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:

        def write(prefix: str) -> None:
            for i in range(50):
                journal.started(f"{prefix}{i}", f"{prefix}-run-{i}")
                journal.log("note", f"{prefix}{i}")

        threads = [threading.Thread(target=write, args=(p,)) for p in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(journal.units()) == 100
        assert len(journal.log_lines()) == 100
