"""One thread at a time on a DuckDB event-table connection.

Tiled 0.2.20 keeps event tables in DuckDB through ``tiled.storage.SQLStorage``, whose
pool for DuckDB is a SQLAlchemy ``StaticPool``: every ``connect()`` hands out the same
ADBC connection, to every thread of the server. Tiled runs table requests in a thread
pool, so the forwarder appending rows while a reader (a resume, an export, the console)
reads tables had two threads on that connection at once. DuckDB's connection object
allows one: the result was ``Attempting to execute an unsuccessful or closed pending
query result``, ``No active transaction, cannot commit``, a rollback on return to the
pool that undid the other thread's uncommitted append, or a crash of the process.

:func:`install_duckdb_connection_lock` makes ``SQLStorage.connect()`` hold a lock, one
per DuckDB database, from the moment it hands out the connection until the caller
closes it (Tiled always uses it as ``with closing(storage.connect()) as conn``). So
each use, from its first statement to its commit and the pool's reset, runs alone,
and every reader sees every append committed before it. The alternative, a cloned
DuckDB connection per thread, lets statements overlap but brings DuckDB's write
conflicts and snapshots that stay old until their transaction ends, for statements
that take milliseconds; a lock is the smaller correct change. PostgreSQL and SQLite
storage (pools of separate connections) are left as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: Marks Tiled's SQLStorage class once the lock is installed.
_LOCK_MARK = "_hcs_duckdb_connection_lock"

#: One lock per DuckDB database (keyed by its storage URI).
_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


def duckdb_lock(uri: str) -> threading.RLock:
    """The lock that serialises use of the DuckDB database at ``uri`` in this process."""
    with _locks_guard:
        return _locks.setdefault(uri, threading.RLock())


class LockedConnection:
    """A pooled connection that releases its database's lock when closed.

    Everything but :meth:`close` is the pooled connection's own.
    """

    def __init__(self, connection: Any, lock: threading.RLock) -> None:
        self._connection = connection
        self._lock: threading.RLock | None = lock

    def close(self) -> None:
        """Return the connection to its pool, then let the next thread have it."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            self._connection.close()
        finally:
            lock.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def install_duckdb_connection_lock() -> None:
    """Make every Tiled DuckDB storage in this process serve one thread at a time.

    Replaces ``tiled.storage.SQLStorage.connect``: for a DuckDB storage it waits for
    that database's lock, and the connection it returns releases the lock when closed;
    any other storage connects as before. Installing twice does nothing.
    """
    from tiled.storage import SQLStorage

    if getattr(SQLStorage, _LOCK_MARK, False):
        return
    original_connect: Callable[[Any], Any] = SQLStorage.connect

    def connect(self: Any) -> Any:
        if self.dialect != "duckdb":
            return original_connect(self)
        lock = duckdb_lock(self.uri)
        lock.acquire()
        try:
            connection = original_connect(self)
        except BaseException:
            lock.release()
            raise
        return LockedConnection(connection, lock)

    SQLStorage.connect = connect  # pyright: ignore[reportAttributeAccessIssue]
    setattr(SQLStorage, _LOCK_MARK, True)
