"""The catalog: an embedded Tiled catalog in a data directory, or a Tiled server.

A data directory holds everything of one installation::

    DATA_DIR/
      catalog.db        the Tiled catalog (SQLite): runs, metadata, data sources
      tables.duckdb     event tables (positions, settings, per-event metadata)
      tiled/            arrays Tiled writes itself
      frames/           camera frames, written by the detector (external assets)
      spool/            the document journals (see :mod:`hcs_storage.spool`)
      owner.lock        who owns the directory now (see :mod:`hcs_storage.owner`)

``open_catalog(data_dir)`` serves that directory in-process (no server to start) and
returns a Tiled client; ``hcs serve`` (:mod:`hcs_storage.server`) serves the same
directory over HTTP, so both modes read the same runs. A facility keeps the catalog
in PostgreSQL instead of ``catalog.db`` (``catalog_uri="postgresql://..."``); the
files stay in the data directory.

The server may read files only under ``frames/`` and ``tiled/``: a data source that
points anywhere else is refused when it is read.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import warnings
from pathlib import Path
from typing import Any

from tiled.catalog import from_uri
from tiled.client import Context, from_context
from tiled.server.app import build_app
from tiled.storage import parse_storage

from hcs_schema import CATALOG_FILE, FRAMES_DIR
from hcs_storage.duckdb_lock import install_duckdb_connection_lock

TABLES_FILE = "tables.duckdb"
TILED_DIR = "tiled"

#: Starlette's notice (a warning) when Tiled's in-process client imports its TestClient.
STARLETTE_TESTCLIENT_NOTICE = "Using `httpx` with `starlette.testclient` is deprecated"

#: Longest wait for a catalog database to be created (a PostgreSQL server may be slow).
INIT_TIMEOUT_S = 120.0


def default_catalog_uri(data_dir: str | Path) -> str:
    """The SQLite catalog URI of a data directory (``DATA_DIR/catalog.db``)."""
    return f"sqlite:///{Path(data_dir).resolve() / CATALOG_FILE}"


def redact_uri(uri: str) -> str:
    """A database URI with its password replaced by ``***``, safe to print or log."""
    scheme, sep, rest = uri.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return uri
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def init_catalog_database(uri: str, timeout_s: float = INIT_TIMEOUT_S) -> bool:
    """Create the catalog's tables in a database if it has none yet.

    Tiled's own ``init_if_not_exists`` starts a Python subprocess for this (about 4 s
    here); this does the same steps (``tiled catalog init --if-not-exists``) in a
    short-lived thread with its own event loop, so it also works when the caller
    already runs an event loop.

    Args:
        uri: the catalog's SQL URI (``sqlite:///...`` or ``postgresql://...``).
        timeout_s: longest wait for the database.

    Returns:
        True if the database was new and has been initialised.

    Raises:
        TimeoutError: the database did not answer in time.
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from tiled.alembic_utils import UninitializedDatabase, check_database, stamp_head
    from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.catalog.core import ALL_REVISIONS, REQUIRED_REVISION, initialize_database
    from tiled.utils import ensure_specified_sql_driver

    url = ensure_specified_sql_driver(uri)

    async def create_tables() -> bool:
        engine = create_async_engine(url)
        try:
            await check_database(engine, REQUIRED_REVISION, ALL_REVISIONS)
        except UninitializedDatabase:
            await initialize_database(engine)
            return True
        finally:
            await engine.dispose()
        return False

    outcome: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            created = asyncio.run(create_tables())
            if created:
                with warnings.catch_warnings():
                    # Tiled's alembic.ini predates alembic's path_separator option.
                    warnings.filterwarnings("ignore", "No path_separator found", DeprecationWarning)
                    stamp_head(Path(ALEMBIC_INI_TEMPLATE_PATH), Path(ALEMBIC_DIR), url)
            outcome.append(created)
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=work, name="hcs-catalog-init", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"catalog database {redact_uri(uri)} did not answer in {timeout_s} s")
    if errors:
        raise errors[0]
    return outcome[0]


def catalog_adapter(
    data_dir: str | Path,
    catalog_uri: str | None = None,
    *,
    tables_uri: str | None = None,
) -> Any:
    """The Tiled catalog adapter of a data directory (created on first use).

    Args:
        data_dir: the data directory.
        catalog_uri: a SQL URI for the catalog (PostgreSQL for a facility); SQLite in
            the data directory by default.
        tables_uri: a SQL URI for event tables; DuckDB in the data directory by
            default.

    Returns:
        A ``tiled.catalog`` adapter: the tree to give ``tiled.server.app.build_app``.
        It may write under ``tiled/`` and read under ``frames/`` and ``tiled/`` only.
        DuckDB event tables serve one request at a time (see
        :mod:`hcs_storage.duckdb_lock`).
    """
    install_duckdb_connection_lock()
    root = Path(data_dir).resolve()
    (root / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
    (root / TILED_DIR).mkdir(parents=True, exist_ok=True)
    uri = catalog_uri or default_catalog_uri(root)
    init_catalog_database(uri)
    return from_uri(
        uri,
        writable_storage=[str(root / TILED_DIR), tables_uri or f"duckdb:///{root / TABLES_FILE}"],
        readable_storage=[str(root / FRAMES_DIR)],
        init_if_not_exists=False,
    )


def open_catalog(
    data_dir: str | Path, catalog_uri: str | None = None, *, tables_uri: str | None = None
) -> Any:
    """A Tiled client on a data directory's catalog, served in-process.

    Close it (``client.context.close()``) before a Tiled server opens the same
    directory: DuckDB event tables can be open in one process at a time. (With
    ``tables_uri`` in PostgreSQL, both may be open at once.)

    Args:
        data_dir: the data directory (created if missing).
        catalog_uri: optional SQL URI of the catalog (see :func:`catalog_adapter`).
        tables_uri: optional SQL URI for event tables (see :func:`catalog_adapter`).

    Returns:
        A ``tiled.client`` container of Bluesky runs (read and write).
    """
    adapter = catalog_adapter(data_dir, catalog_uri, tables_uri=tables_uri)
    # The in-process server announces Tiled's version on every start, and Tiled's
    # in-process client uses a Starlette class deprecated in favour of a package Tiled
    # does not use yet: neither is something the user of hcs can act on.
    logging.getLogger("tiled.server.app").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", STARLETTE_TESTCLIENT_NOTICE)
        context = Context.from_app(build_app(adapter))
    return from_context(context)


class EventTablesBusyError(RuntimeError):
    """Another process has the data directory's DuckDB event tables open.

    Attributes:
        pid: that process's id, when DuckDB named it.
    """

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


def _describe_process(pid: int) -> str:
    """``pid 1234 (hcs serve --data-dir hcs-data)``, the command line when it is readable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if args and Path(args[0]).name.startswith("python") and len(args) > 1:
        args = args[1:]  # python /path/to/.venv/bin/hcs serve ... -> hcs serve ...
    if args:
        args[0] = Path(args[0]).name
    return f"pid {pid} ({' '.join(args)})" if args else f"pid {pid}"


def hold_event_tables(data_dir: str | Path, tables_uri: str | None = None) -> None:
    """Open a data directory's DuckDB event tables now, in this process's open catalog.

    DuckDB lets one process at a time open a database file. A catalog opened with
    :func:`open_catalog` opens ``tables.duckdb`` when it first reads or writes a table
    and keeps it open until it is closed; so does a Tiled server (``hcs serve``). Call
    this right after :func:`open_catalog` to find out at once, not after a run, whether
    another process has them, and to keep them for this catalog from then on.

    Nothing is done for event tables in PostgreSQL (``tables_uri``), which many
    processes may open.

    Raises:
        EventTablesBusyError: another process has them open (named in the message).
    """
    root = Path(data_dir).resolve()
    uri = tables_uri or f"duckdb:///{root / TABLES_FILE}"
    if not uri.startswith("duckdb:"):
        return
    storage: Any = parse_storage(uri)  # the instance (and pool) the open catalog uses
    try:
        storage.connect().close()  # back to the pool, which keeps the database open
    except Exception as exc:
        text = str(exc)
        if "lock" not in text.lower():
            raise
        found = re.search(r"\(PID (\d+)\)", text)
        pid = int(found.group(1)) if found else None
        who = _describe_process(pid) if pid is not None else "another process"
        raise EventTablesBusyError(
            f"the event tables of {root} ({TABLES_FILE}) are open in {who}, and DuckDB "
            "lets one process at a time open them. If that is `hcs serve` on this "
            "directory, stop it while you acquire (start it again afterwards), or keep the "
            "event tables in PostgreSQL (`hcs serve --tables-uri`) so both can open them.",
            pid,
        ) from exc


def close_catalog(client: Any) -> None:
    """Close a catalog client from :func:`open_catalog` (or any Tiled client).

    An embedded catalog's in-process server then shuts down: its thread stops, and its
    SQLite and DuckDB connections close, so another process may open the event tables.
    Safe to call twice.
    """
    context = getattr(client, "context", None)
    if context is None:
        return
    http_client = getattr(context, "http_client", None)
    if http_client is not None and getattr(http_client, "is_closed", False):
        return
    context.close()


def frames_dir(data_dir: str | Path) -> Path:
    """Where the camera writes frames for a data directory."""
    return Path(data_dir).resolve() / FRAMES_DIR
