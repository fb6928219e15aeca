"""Reading runs back: one well's fields of view as arrays with their coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

IMAGE_KEY = "camera"
FRAME_PREFIX = "frame-"


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


def frame_table(run: Any) -> dict[str, np.ndarray]:
    """The per-frame metadata columns of a run's primary stream (``well``, ``z_um``...)."""
    stream = run["primary"]
    keys = [key for key in stream if key.startswith(FRAME_PREFIX)]
    # One request for the whole table: a request per column took ~0.2 s each.
    data = stream.read(variables=keys)
    return {key.removeprefix(FRAME_PREFIX): np.asarray(data[key].values) for key in keys}


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
        The images in field-of-view order (then z). Frames are read lazily from
        their files, one at a time.
    """
    table = table if table is not None else frame_table(run)
    rows = np.flatnonzero(
        (table["well"].astype(str) == well)
        & (table["channel"].astype(str) == channel)
        & (table["time_index"] == time_index)
        & (True if z_index is None else table["z_index"] == z_index)
    )
    images = run["primary"][IMAGE_KEY]
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
            image=np.asarray(images[int(i), 0, ::step, ::step]),
        )
        for i in rows
    ]
    return sorted(found, key=lambda f: (f.fov, f.z_index))
