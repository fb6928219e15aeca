"""Catalog set-up, the non-blocking document path into Tiled, readers and exporters.

The public API is re-exported here::

    from hcs_storage import find_runs, open_catalog, well_fields
"""

from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.export import ExportError, export_ome_tiff, export_ome_zarr
from hcs_storage.overview import plate_overview
from hcs_storage.query import FieldImage, RunInfo, find_runs, lookup_run, run_info, well_fields
from hcs_storage.runs import describe_runs

__all__ = [
    "ExportError",
    "FieldImage",
    "RunInfo",
    "close_catalog",
    "describe_runs",
    "export_ome_tiff",
    "export_ome_zarr",
    "find_runs",
    "lookup_run",
    "open_catalog",
    "plate_overview",
    "run_info",
    "well_fields",
]
