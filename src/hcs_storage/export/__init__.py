"""Exports of runs to community formats: OME-Zarr (NGFF HCS plates) and OME-TIFF.

- :func:`export_ome_zarr`: one run, or every run of a plate experiment, as an
  OME-Zarr (NGFF 0.5, Zarr v3) plate: ``plate.zarr/<row>/<column>/<field>/<level>``, images
  ``(t, c, z, y, x)`` with channel names and colours and pixel sizes in micrometres.
- :func:`export_ome_tiff`: one OME-TIFF file per field of view, ``TCZYX``.

Both read frames through the catalog (embedded or a Tiled server) in the order they
were taken, about 64 MiB of fields of view at a time (a few requests, whatever the size
of the run), and write each field as soon as it is read: memory holds one batch.
"""

from hcs_storage.export._source import ExportError, ExportExistsError, ExportProgress, RunSource
from hcs_storage.export.ome_tiff import export_ome_tiff
from hcs_storage.export.ome_zarr import export_ome_zarr

__all__ = [
    "ExportError",
    "ExportExistsError",
    "ExportProgress",
    "RunSource",
    "export_ome_tiff",
    "export_ome_zarr",
]
