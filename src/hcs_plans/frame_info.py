"""Per-frame metadata as a collectable: what every image of a plate carries.

A plate run has two streams that line up row for row. ``primary`` holds the camera's
images (external TIFF files announced by StreamResource/StreamDatum); ``frames`` holds,
for each of those images, the experiment id, well, field of view, stage position,
channel, z and time indices and exposure. The plan adds one row per image while a field
of view is acquired, then collects the camera and this table together: one StreamDatum
and one EventPage per field of view instead of two documents per image.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from event_model import DataKey
from event_model.documents.event_page import PartialEventPage

#: The stream of the images (the camera's StreamDatum).
IMAGES_STREAM = "primary"
#: The stream of the per-frame metadata (one row per image, in image order).
FRAMES_STREAM = "frames"

#: The fields of every image's row, with their types and units.
FIELDS: dict[str, tuple[str, str | None]] = {
    "experiment_id": ("string", None),
    "well": ("string", None),
    "fov": ("integer", None),
    "x_um": ("number", "um"),
    "y_um": ("number", "um"),
    "z_um": ("number", "um"),
    "channel": ("string", None),
    "z_index": ("integer", None),
    "time_index": ("integer", None),
    "exposure_ms": ("number", "ms"),
}

_NUMPY = {"string": "|S1", "integer": "<i8", "number": "<f8"}


class FrameTable:
    """Rows of frame metadata waiting to be collected as one EventPage.

    Args:
        name: prefix of the data keys (``frame-well``, ``frame-channel``, ...).
    """

    def __init__(self, name: str = "frame") -> None:
        self.name = name
        self.parent = None
        self._rows: list[dict[str, Any]] = []
        self._times: list[float] = []
        #: Rows collected so far (the images of the run announced so far, too).
        self.collected = 0

    def key(self, field: str) -> str:
        """The data key of a field."""
        return f"{self.name}-{field}"

    @property
    def pending(self) -> int:
        """Rows added and not collected yet."""
        return len(self._rows)

    def add(self, **values: Any) -> None:
        """Add the row of the next image (every field, and only those, must be given)."""
        if values.keys() != FIELDS.keys():
            unknown = sorted(set(values) - set(FIELDS))
            missing = [f for f in FIELDS if f not in values]
            raise KeyError(
                f"a frame row needs exactly the fields {list(FIELDS)}; "
                f"unknown {unknown}, missing {missing}"
            )
        self._rows.append(values)
        self._times.append(time.time())

    def describe_collect(self) -> dict[str, DataKey]:
        """Data keys of every field."""
        keys: dict[str, DataKey] = {}
        for field, (dtype, units) in FIELDS.items():
            key = DataKey(source="hcs:frame", dtype=dtype, shape=[])  # type: ignore[typeddict-item]
            if dtype != "string":
                key["dtype_numpy"] = _NUMPY[dtype]
            if units:
                key["units"] = units
            keys[self.key(field)] = key
        return keys

    def collect_pages(self) -> Iterator[PartialEventPage]:
        """The pending rows as one page (nothing when no row is pending)."""
        if not self._rows:
            return
        rows, times = self._rows, self._times
        self._rows, self._times = [], []
        self.collected += len(rows)
        yield PartialEventPage(
            data={self.key(f): [row[f] for row in rows] for f in FIELDS},
            timestamps={self.key(f): times for f in FIELDS},
            time=times,
        )

    def keep(self, count: int) -> None:
        """Keep only the first ``count`` pending rows (the images that reached disk)."""
        del self._rows[max(count, 0) :]
        del self._times[max(count, 0) :]

    def read_configuration(self) -> dict[str, Any]:
        """No configuration."""
        return {}

    def describe_configuration(self) -> dict[str, DataKey]:
        """No configuration."""
        return {}
