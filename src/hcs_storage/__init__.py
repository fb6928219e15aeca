"""Catalog set-up, the non-blocking document path into Tiled, readers and exporters.

The public API is re-exported here::

    from hcs_storage import find_runs, open_catalog, well_fields

Names are imported when first used, so a module of this package that does not need
Tiled (listing runs, the spool, the data directory's owner) loads without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hcs_storage.catalog import close_catalog, open_catalog
    from hcs_storage.export import ExportError, export_ome_tiff, export_ome_zarr
    from hcs_storage.overview import plate_overview
    from hcs_storage.query import (
        FieldImage,
        RunInfo,
        find_runs,
        lookup_run,
        run_info,
        well_fields,
    )
    from hcs_storage.runs import RunSummary, describe_runs, list_runs

#: Each public name and the module it comes from.
_SOURCES: dict[str, str] = {
    "ExportError": "hcs_storage.export",
    "FieldImage": "hcs_storage.query",
    "RunInfo": "hcs_storage.query",
    "RunSummary": "hcs_storage.runs",
    "close_catalog": "hcs_storage.catalog",
    "describe_runs": "hcs_storage.runs",
    "export_ome_tiff": "hcs_storage.export",
    "export_ome_zarr": "hcs_storage.export",
    "find_runs": "hcs_storage.query",
    "list_runs": "hcs_storage.runs",
    "lookup_run": "hcs_storage.query",
    "open_catalog": "hcs_storage.catalog",
    "plate_overview": "hcs_storage.overview",
    "run_info": "hcs_storage.query",
    "well_fields": "hcs_storage.query",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'hcs_storage' has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_SOURCES])


__all__ = [
    "ExportError",
    "FieldImage",
    "RunInfo",
    "RunSummary",
    "close_catalog",
    "describe_runs",
    "export_ome_tiff",
    "export_ome_zarr",
    "find_runs",
    "list_runs",
    "lookup_run",
    "open_catalog",
    "plate_overview",
    "run_info",
    "well_fields",
]
