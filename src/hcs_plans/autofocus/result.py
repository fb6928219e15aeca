"""What an autofocus attempt found, and the readable that records it in a run."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from event_model import DataKey

#: Stream of per-field autofocus records in a plate run.
AUTOFOCUS_STREAM = "autofocus"
#: Stream of the contrast autofocus focus curve (one event per frame).
FOCUS_CURVE_STREAM = "focus_curve"
#: Stream of laser autofocus sensor readings.
LASER_STREAM = "laser_autofocus"
#: Stream of the laser autofocus calibration readings.
LASER_CALIBRATION_STREAM = "laser_calibration"
#: Stream holding the focus map fit (one event per fit).
FOCUS_MAP_STREAM = "focus_map"


class AutofocusError(RuntimeError):
    """An autofocus that found no focus (the stage is back where it started)."""


@dataclass(frozen=True)
class AutofocusResult:
    """The outcome of one autofocus attempt.

    Attributes:
        method: ``contrast`` or ``laser``.
        success: whether focus was found (and, for laser, verified).
        z_um: the focus z found (stage z of the focal plane), NaN on failure.
        start_z_um: focal plane z before the attempt (where a failure leaves it).
        frames: camera or sensor frames the attempt took.
        duration_s: wall time of the attempt.
        message: why it failed (empty on success).
        details: method-specific figures (peak contrast, correlation, ...).
    """

    method: str
    success: bool
    z_um: float
    start_z_um: float
    frames: int
    duration_s: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


#: The fields of every ``autofocus`` event: (dtype, numpy dtype, units).
RECORD_FIELDS: dict[str, tuple[str, str | None, str | None]] = {
    "well": ("string", None, None),
    "fov": ("integer", "<i8", None),
    "time_index": ("integer", "<i8", None),
    "method": ("string", None, None),
    "attempted": ("boolean", "|b1", None),
    "success": ("boolean", "|b1", None),
    "warning": ("string", None, None),
    "z_start_um": ("number", "<f8", "um"),
    "z_found_um": ("number", "<f8", "um"),
    "z_used_um": ("number", "<f8", "um"),
    "z_source": ("string", None, None),
    "frames": ("integer", "<i8", None),
    "duration_s": ("number", "<f8", "s"),
    "consecutive_warnings": ("integer", "<i8", None),
}


class AutofocusRecord:
    """A readable holding one field of view's focus decision (the ``autofocus`` stream).

    Args:
        name: prefix of the data keys.
    """

    def __init__(self, name: str = "af") -> None:
        self.name = name
        self.parent = None
        self._values: dict[str, Any] = {}
        self._timestamp = time.time()

    def update(self, **values: Any) -> None:
        """Set the next record's fields (unknown fields are refused)."""
        unknown = set(values) - set(RECORD_FIELDS)
        if unknown:
            raise KeyError(f"unknown autofocus fields {sorted(unknown)}")
        for key, value in values.items():
            if isinstance(value, float) and math.isnan(value):
                value = float("nan")
            self._values[key] = value
        self._timestamp = time.time()

    def describe(self) -> dict[str, DataKey]:
        """Data keys of every field."""
        keys: dict[str, DataKey] = {}
        for name, (dtype, numpy_dtype, units) in RECORD_FIELDS.items():
            key = DataKey(source="hcs:autofocus", dtype=dtype, shape=[])  # type: ignore[typeddict-item]
            if numpy_dtype:
                key["dtype_numpy"] = numpy_dtype
            if units:
                key["units"] = units
            keys[f"{self.name}-{name}"] = key
        return keys

    def read(self) -> dict[str, Any]:
        """The current record (every field must have been set)."""
        missing = [f for f in RECORD_FIELDS if f not in self._values]
        if missing:
            raise RuntimeError(f"autofocus fields not set before reading: {missing}")
        return {
            f"{self.name}-{f}": {"value": self._values[f], "timestamp": self._timestamp}
            for f in RECORD_FIELDS
        }

    def read_configuration(self) -> dict[str, Any]:
        """No configuration."""
        return {}

    def describe_configuration(self) -> dict[str, DataKey]:
        """No configuration."""
        return {}


class FocusMapRecord:
    """A readable holding a focus map's fit report (the ``focus_map`` stream).

    Args:
        name: prefix of the data keys.
    """

    def __init__(self, name: str = "focus_map") -> None:
        self.name = name
        self.parent = None
        self._values: dict[str, Any] = {"report": "{}", "fit_error_um": float("nan"), "points": 0}
        self._timestamp = time.time()

    def update(self, report_json: str, fit_error_um: float, points: int) -> None:
        """Set the report (JSON text), its fit error and the number of points."""
        self._values = {"report": report_json, "fit_error_um": fit_error_um, "points": points}
        self._timestamp = time.time()

    def describe(self) -> dict[str, DataKey]:
        """Data keys: report, fit_error_um, points."""
        src = "hcs:focus_map"
        return {
            f"{self.name}-report": DataKey(source=src, dtype="string", shape=[]),
            f"{self.name}-fit_error_um": DataKey(
                source=src, dtype="number", shape=[], dtype_numpy="<f8", units="um"
            ),
            f"{self.name}-points": DataKey(
                source=src, dtype="integer", shape=[], dtype_numpy="<i8"
            ),
        }

    def read(self) -> dict[str, Any]:
        """The current report."""
        return {
            f"{self.name}-{k}": {"value": v, "timestamp": self._timestamp}
            for k, v in self._values.items()
        }

    def read_configuration(self) -> dict[str, Any]:
        """No configuration."""
        return {}

    def describe_configuration(self) -> dict[str, DataKey]:
        """No configuration."""
        return {}
