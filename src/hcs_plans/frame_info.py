"""Per-frame metadata as a readable: what every image event carries.

Reading :class:`FrameInfo` gives the experiment id, well, field of view, stage position,
channel, z and time indices and exposure of the frame it describes. The plan updates it
before each event; it commands no hardware.
"""

from __future__ import annotations

import time
from typing import Any

from event_model import DataKey

#: The fields of every image event, with their types and units.
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


class FrameInfo:
    """A readable holding the metadata of the frame being recorded.

    Args:
        name: prefix of the data keys (``frame-well``, ``frame-channel``, ...).
    """

    def __init__(self, name: str = "frame") -> None:
        self.name = name
        self.parent = None
        self._values: dict[str, Any] = {}
        self._timestamp = time.time()

    def key(self, field: str) -> str:
        """The data key of a field."""
        return f"{self.name}-{field}"

    def update(self, **values: Any) -> None:
        """Set the metadata of the next frame (unknown fields are refused)."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise KeyError(f"unknown frame fields {sorted(unknown)}; fields are {list(FIELDS)}")
        self._values.update(values)
        self._timestamp = time.time()

    def describe(self) -> dict[str, DataKey]:
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

    def read(self) -> dict[str, Any]:
        """The current values (every field must have been set)."""
        missing = [f for f in FIELDS if f not in self._values]
        if missing:
            raise RuntimeError(f"frame fields not set before reading: {missing}")
        return {
            self.key(f): {"value": self._values[f], "timestamp": self._timestamp} for f in FIELDS
        }

    def read_configuration(self) -> dict[str, Any]:
        """No configuration."""
        return {}

    def describe_configuration(self) -> dict[str, DataKey]:
        """No configuration."""
        return {}
