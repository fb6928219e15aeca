"""Reading runs back: finding runs, selecting frames, images as arrays with coordinates.

Runs are found by what their start document says (:func:`find_runs`: experiment id,
plate format, well, channel, plan, start time), frames within a run by what each
image's row in the ``frames`` stream says (:func:`select_frames`: well, field of view,
channel, z plane, time point). A run's images are a lazily loaded
``xarray.DataArray`` (:func:`run_images`, dimensions field x t x c x z x y x x) or, one
well at a time, :func:`well_fields`.

Everything here works the same on an embedded catalog (``open_catalog``) and on a
Tiled server's client (``tiled.client.from_uri``).
"""

from __future__ import annotations

from hcs_storage.read.find import find_runs, lookup_run
from hcs_storage.read.frames import (
    FRAME_PREFIX,
    FRAMES_STREAM,
    IMAGE_KEY,
    IMAGES_STREAM,
    READ_BATCH_BYTES,
    frame_table,
    has_images,
    image_stack,
    join_gap_frames,
    read_frames,
    select_frames,
    stream_columns,
)
from hcs_storage.read.images import FieldImage, run_images, well_fields
from hcs_storage.read.layout import RunLayout, run_layout
from hcs_storage.read.run_info import RunInfo, run_info
from hcs_storage.read.wells import is_well_name, row_name, split_well, well_sort_key

__all__ = [
    "FRAMES_STREAM",
    "FRAME_PREFIX",
    "IMAGES_STREAM",
    "IMAGE_KEY",
    "READ_BATCH_BYTES",
    "FieldImage",
    "RunInfo",
    "RunLayout",
    "find_runs",
    "frame_table",
    "has_images",
    "image_stack",
    "is_well_name",
    "join_gap_frames",
    "lookup_run",
    "read_frames",
    "row_name",
    "run_images",
    "run_info",
    "run_layout",
    "select_frames",
    "split_well",
    "stream_columns",
    "well_fields",
    "well_sort_key",
]
