"""Catalog set-up, the non-blocking document path into Tiled, readers and exporters.

The public API is re-exported here::

    from hcs_storage import find_runs, open_catalog, well_fields

Names are imported when first used (``lazy_loader``, SPEC 1), so a module of this
package that does not need Tiled (listing runs, the spool, the data directory's owner)
loads without it.
"""

from typing import TYPE_CHECKING

import lazy_loader

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

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "catalog": ["close_catalog", "open_catalog"],
        "export": ["ExportError", "export_ome_tiff", "export_ome_zarr"],
        "overview": ["plate_overview"],
        "query": ["FieldImage", "RunInfo", "find_runs", "lookup_run", "run_info", "well_fields"],
        "runs": ["RunSummary", "describe_runs", "list_runs"],
    },
)

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
