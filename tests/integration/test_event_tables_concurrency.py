"""Event tables in DuckDB take concurrent appends and reads, served or embedded.

Tiled shares one DuckDB connection between every thread of a catalog's server. With
appends (the forwarder) and reads (a resume, an export) at once, requests failed with
``Attempting to execute an unsuccessful or closed pending query result``, lost rows,
or crashed the process (:mod:`hcs_storage.duckdb_lock`). Here writers and readers on
several tables run at once, against ``hcs serve`` in a child process and against the
embedded catalog, and every row must be there once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.tiled_server import TiledServer

# A system test (real Tiled catalog, a server process): part of the full suite only.
pytestmark = pytest.mark.slow

TABLES = 3
ROWS = 15
SCHEMA = pa.schema([("seq_num", pa.int64()), ("x_um", pa.float64())])


@contextmanager
def served(data_dir: Path) -> Iterator[tuple[Any, Callable[[], Any]]]:
    """A server on ``data_dir``: its client, and a maker of one client per thread."""
    opened: list[Any] = []

    with TiledServer(data_dir) as server:

        def connect() -> Any:
            client = server.address.connect()
            opened.append(client)
            return client

        try:
            yield connect(), connect
        finally:
            for client in opened:
                client.context.close()


@contextmanager
def embedded(data_dir: Path) -> Iterator[tuple[Any, Callable[[], Any]]]:
    """The embedded catalog on ``data_dir``, one client shared by every thread."""
    catalog = open_catalog(data_dir)
    try:
        yield catalog, lambda: catalog
    finally:
        close_catalog(catalog)


def append_and_read_at_once(catalog: Any, connect: Callable[[], Any]) -> list[str]:
    """A writer and a reader per table, all at once; the errors they met."""
    for i in range(TABLES):
        catalog.create_appendable_table(SCHEMA, key=f"t{i}")
    errors: list[str] = []
    start = threading.Barrier(2 * TABLES)

    def write(i: int) -> None:
        table = connect()[f"t{i}"]
        start.wait()
        try:
            for row in range(ROWS):
                table.append_partition(0, pa.table({"seq_num": [row], "x_um": [row * 1.5]}))
        except Exception as exc:
            errors.append(f"appending to t{i}: {exc!r}")

    def read(i: int) -> None:
        table = connect()[f"t{i}"]
        start.wait()
        try:
            for _ in range(ROWS):
                table.read()
        except Exception as exc:
            errors.append(f"reading t{i}: {exc!r}")

    threads = [
        threading.Thread(target=work, args=(i,), daemon=True)
        for i in range(TABLES)
        for work in (write, read)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("catalog_on", [served, embedded], ids=["served", "embedded"])
def test_event_tables_keep_every_row_when_appended_and_read_at_once(
    catalog_on: Callable[[Path], Any], tmp_path: Path
) -> None:
    with catalog_on(tmp_path) as (catalog, connect):
        errors = append_and_read_at_once(catalog, connect)
        assert errors == []
        for i in range(TABLES):
            rows = catalog[f"t{i}"].read()
            assert list(rows["seq_num"]) == list(range(ROWS))
            assert list(rows["x_um"]) == [row * 1.5 for row in range(ROWS)]
