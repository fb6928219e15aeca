"""A run's images with their coordinates: lazily as an xarray, or one well's fields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hcs_storage.read.frames import (
    frame_table,
    image_stack,
    join_gap_frames,
    read_frames,
    select_frames,
)
from hcs_storage.read.layout import run_layout
from hcs_storage.read.run_info import run_info

#: The frame-table columns :func:`well_fields` reads (no others are sent).
WELL_FIELD_COLUMNS = ("well", "channel", "fov", "z_index", "time_index", "x_um", "y_um", "z_um")


@dataclass(frozen=True)
class FieldImage:
    """One image of a field of view, with where and how it was taken."""

    well: str
    fov: int
    channel: str
    z_index: int
    time_index: int
    x_um: float
    y_um: float
    z_um: float
    image: np.ndarray


def run_images(
    run: Any,
    *,
    wells: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    time_indices: Sequence[int] | None = None,
    table: dict[str, np.ndarray] | None = None,
) -> Any:
    """A run's images as a lazily loaded array with coordinates.

    Nothing is read until values are needed (``.values``, ``.compute()``, plotting):
    each frame is then one read through Tiled. Frames that were never taken (an
    aborted run) read as zeros.

    Args:
        run: a run from the catalog.
        wells: only these wells.
        channels: only these channels (in this order).
        time_indices: only these time points.
        table: the run's :func:`frame_table`, if already read.

    Returns:
        An ``xarray.DataArray`` with dimensions ``(field, t, c, z, y, x)``, backed by
        dask; coordinates: ``field`` (``"B3/0"``), ``well`` and ``fov`` and the stage
        ``x_um``/``y_um`` per field, ``t``, ``c`` (channel names), ``z`` (plane index),
        ``z_um`` per frame, and ``y``/``x`` in micrometres from the image's corner.
        ``attrs`` hold the uid, pixel size and channel colours.
    """
    import dask.array as da
    import xarray as xr
    from dask.delayed import delayed

    info = run_info(run)
    layout = run_layout(
        table if table is not None else frame_table(run), info.channels, on_plate=info.on_plate
    )
    layout = layout.subset(wells=wells, channels=channels, time_indices=time_indices)
    images = image_stack(run)
    height, width = (int(n) for n in images.shape[-2:])
    dtype = np.dtype(images.dtype)

    def read_one(index: int) -> np.ndarray:
        return np.asarray(images[index, 0])

    def frame(index: int) -> Any:
        if index < 0:
            return da.zeros((height, width), dtype=dtype, chunks=(height, width))
        return da.from_delayed(
            delayed(read_one)(index, dask_key_name=f"hcs-frame-{info.uid}-{index}"),
            shape=(height, width),
            dtype=dtype,
        )

    flat = [frame(int(i)) for i in layout.frames.reshape(-1)]
    if flat:
        data = da.stack(flat).reshape((*layout.shape, height, width))
    else:
        data = da.zeros((*layout.shape, height, width), dtype=dtype)
    px = info.pixel_size_um
    return xr.DataArray(
        data,
        dims=("field", "t", "c", "z", "y", "x"),
        coords={
            "field": [f"{w}/{f}" for w, f in layout.fields],
            "well": ("field", [w for w, _ in layout.fields]),
            "fov": ("field", [f for _, f in layout.fields]),
            "x_um": ("field", layout.x_um),
            "y_um": ("field", layout.y_um),
            "t": list(layout.time_indices),
            "c": list(layout.channels),
            "z": list(layout.z_indices),
            "z_um": (("field", "t", "c", "z"), layout.z_um),
            "y": np.arange(height) * px,
            "x": np.arange(width) * px,
        },
        attrs={
            "uid": info.uid,
            "experiment_id": info.experiment_id,
            "pixel_size_um": px,
            "colours": [info.colours.get(c, "#FFFFFF") for c in layout.channels],
        },
        name="camera",
    )


def well_fields(
    run: Any,
    well: str,
    channel: str,
    *,
    z_index: int | None = None,
    time_index: int = 0,
    step: int = 1,
    table: dict[str, np.ndarray] | None = None,
) -> list[FieldImage]:
    """Every field of view of one well in one channel, with stage coordinates.

    Args:
        run: a run from the catalog (``catalog[uid]``).
        well: the well name, e.g. ``"B3"``.
        channel: the channel name, e.g. ``"DAPI"``.
        z_index: one z plane; by default every plane.
        time_index: the time point.
        step: read every ``step``-th pixel only (a cheap preview, served by Tiled).
        table: the run's :func:`frame_table`, if already read.

    Returns:
        The images in field-of-view order (then z). Only the frame table's columns
        that say where a frame is are read, and the well's frames in as few requests
        as their order in the run allows.
    """
    if table is None:
        table = frame_table(run, columns=WELL_FIELD_COLUMNS)
    rows = select_frames(table, well=well, channel=channel, z_index=z_index, time_index=time_index)
    images = image_stack(run)
    found = [
        FieldImage(
            well=well,
            fov=int(table["fov"][i]),
            channel=channel,
            z_index=int(table["z_index"][i]),
            time_index=time_index,
            x_um=float(table["x_um"][i]),
            y_um=float(table["y_um"][i]),
            z_um=float(table["z_um"][i]),
            image=image,
        )
        for i, image in read_frames(images, rows, gap_frames=join_gap_frames(images), step=step)
    ]
    return sorted(found, key=lambda f: (f.fov, f.z_index))
