"""The catalog: an embedded Tiled catalog in a data directory, or a Tiled server.

A data directory holds everything of one installation::

    DATA_DIR/
      catalog.db        the Tiled catalog (SQLite): runs, metadata, data sources
      tables.duckdb     event tables (positions, settings, per-event metadata)
      tiled/            arrays Tiled writes itself
      frames/           camera frames, written by the detector (external assets)

``open_catalog(data_dir)`` serves that directory in-process (no server to start) and
returns a Tiled client; a Tiled server started on the same directory reads the same
runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiled.catalog import from_uri
from tiled.client import Context, from_context
from tiled.server.app import build_app

CATALOG_FILE = "catalog.db"
TABLES_FILE = "tables.duckdb"
TILED_DIR = "tiled"
FRAMES_DIR = "frames"


def catalog_adapter(data_dir: str | Path, catalog_uri: str | None = None) -> Any:
    """The Tiled catalog adapter of a data directory (created on first use).

    Args:
        data_dir: the data directory.
        catalog_uri: a SQL URI for the catalog (PostgreSQL for a facility); SQLite in
            the data directory by default.
    """
    root = Path(data_dir).resolve()
    (root / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
    (root / TILED_DIR).mkdir(parents=True, exist_ok=True)
    return from_uri(
        catalog_uri or f"sqlite:///{root / CATALOG_FILE}",
        writable_storage=[str(root / TILED_DIR), f"duckdb:///{root / TABLES_FILE}"],
        readable_storage=[str(root / FRAMES_DIR)],
        init_if_not_exists=True,
    )


def open_catalog(data_dir: str | Path, catalog_uri: str | None = None) -> Any:
    """A Tiled client on a data directory's catalog, served in-process.

    Args:
        data_dir: the data directory (created if missing).
        catalog_uri: optional SQL URI of the catalog (see :func:`catalog_adapter`).

    Returns:
        A ``tiled.client`` container of Bluesky runs (read and write).
    """
    context = Context.from_app(build_app(catalog_adapter(data_dir, catalog_uri)))
    return from_context(context)


def frames_dir(data_dir: str | Path) -> Path:
    """Where the camera writes frames for a data directory."""
    return Path(data_dir).resolve() / FRAMES_DIR
