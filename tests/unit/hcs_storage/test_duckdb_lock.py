"""A DuckDB event-table connection is held by one thread at a time; other storage is not.

Real Tiled storage on real database files; the lock's state is read from another
thread (``acquire(blocking=False)``), so nothing here waits on a clock.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tiled.storage import SQLStorage, parse_storage

from hcs_storage.catalog import TABLES_FILE, close_catalog, open_catalog
from hcs_storage.duckdb_lock import LockedConnection, duckdb_lock, install_duckdb_connection_lock


def free_in_another_thread(lock: threading.RLock) -> bool:
    """Whether another thread could take ``lock`` now (it gives it back at once)."""
    outcome: list[bool] = []

    def attempt() -> None:
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        outcome.append(taken)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return outcome[0]


def test_open_catalog_serialises_its_event_tables(tmp_path: Path) -> None:
    catalog = open_catalog(tmp_path)
    try:
        storage = parse_storage(f"duckdb:///{tmp_path.resolve() / TABLES_FILE}")
        assert isinstance(storage, SQLStorage)
        connection = storage.connect()
        assert isinstance(connection, LockedConnection)
        assert not free_in_another_thread(duckdb_lock(storage.uri))
        connection.close()
        assert free_in_another_thread(duckdb_lock(storage.uri))
    finally:
        close_catalog(catalog)


def test_duckdb_connection_holds_its_database_until_closed(tmp_path: Path) -> None:
    install_duckdb_connection_lock()
    storage = parse_storage(f"duckdb:///{tmp_path / TABLES_FILE}")
    assert isinstance(storage, SQLStorage)
    lock = duckdb_lock(storage.uri)
    try:
        connection = storage.connect()
        assert isinstance(connection, LockedConnection)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 42")
            assert cursor.fetchone() == (42,)
        assert not free_in_another_thread(lock)
        connection.close()
        assert free_in_another_thread(lock)
        connection.close()  # twice: the lock is not released twice
        assert free_in_another_thread(lock)
    finally:
        storage.dispose()


def test_duckdb_lock_is_released_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    install_duckdb_connection_lock()
    (tmp_path / "not-a-database").mkdir()
    storage = parse_storage(f"duckdb:///{tmp_path / 'not-a-database'}")
    assert isinstance(storage, SQLStorage)
    try:
        storage.connect().close()
    except Exception:
        pass
    else:
        raise AssertionError("DuckDB opened a directory as a database")
    assert free_in_another_thread(duckdb_lock(storage.uri))


def test_sqlite_storage_connects_without_the_lock(tmp_path: Path) -> None:
    install_duckdb_connection_lock()
    storage = parse_storage(f"sqlite:///{tmp_path / 'tables.sqlite'}")
    assert isinstance(storage, SQLStorage)
    try:
        first = storage.connect()
        second = storage.connect()
        assert not isinstance(first, LockedConnection)
        assert not isinstance(second, LockedConnection)
        first.close()
        second.close()
    finally:
        storage.dispose()
