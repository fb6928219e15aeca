"""The image-contrast focus probe: a focus measure of a centre crop, per trigger.

Contrast autofocus needs many frames that are never kept: only one number of each
(a focus measure) matters. :class:`ContrastFocusProbe` takes those frames from the
main camera's frame source directly (a centre crop, no file, no StreamResource), and
is a bluesky ``Triggerable``/``Readable`` whose reading is the measure, the focus z
it was taken at and which autofocus attempt it belongs to: a plan records the focus
curve with ``trigger_and_read`` in a stream of its own.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import replace
from typing import Any

from event_model import DataKey
from ophyd_async.core import AsyncStatus

from hcs_devices.autofocus.measures import FOCUS_MEASURES, FocusMeasureName, focus_measure
from hcs_devices.camera.device import Camera
from hcs_devices.camera.settings import Roi
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner
from hcs_devices.stage.axis import Axis

#: The fields of every focus-curve reading: (dtype, numpy dtype, units).
PROBE_FIELDS: dict[str, tuple[str, str, str | None]] = {
    "measure": ("number", "<f8", None),
    "z_um": ("number", "<f8", "um"),
    "attempt": ("integer", "<i8", None),
}


class ContrastFocusProbe:
    """Measures focus on a centre crop of the main camera, one frame per trigger.

    The crop is exposed with the camera's current exposure, gain and binning; the
    camera's own ROI and files are left alone. The light must be on (the plan does
    that). ``frames`` counts every frame taken, for accounting.

    Args:
        camera: the main camera (its frame source takes the crops).
        focus_axis: the axis whose readback is the focus z of each reading.
        owner: who may command the hardware now.
        name: prefix of the data keys.
    """

    def __init__(
        self,
        camera: Camera,
        focus_axis: Axis,
        *,
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "focus_probe",
    ) -> None:
        self.name = name
        self.parent = None
        self.camera = camera
        self.focus_axis = focus_axis
        self._owner = owner
        self.measure_name: FocusMeasureName = "normalized_variance"
        self.crop_px = 256
        self.attempt = 0
        self.frames = 0
        self._values: dict[str, Any] = {"measure": float("nan"), "z_um": float("nan"), "attempt": 0}
        self._timestamp = time.time()

    def configure_probe(self, measure: FocusMeasureName, crop_px: int) -> None:
        """Choose the focus measure and crop size of the next readings.

        Raises:
            ValueError: an unknown measure, or a crop smaller than 16 pixels.
        """
        if measure not in FOCUS_MEASURES:
            raise ValueError(f"unknown focus measure {measure!r}; measures are {FOCUS_MEASURES}")
        if crop_px < 16:
            raise ValueError(f"crop_px {crop_px} is below 16 pixels")
        self.measure_name = measure
        self.crop_px = crop_px

    def new_attempt(self) -> int:
        """Start a new autofocus attempt (its readings carry the new number)."""
        self.attempt += 1
        return self.attempt

    @property
    def last_measure(self) -> float:
        """The focus measure of the last frame."""
        return float(self._values["measure"])

    def trigger(self) -> AsyncStatus:
        """Expose one centre crop and measure its focus."""
        return AsyncStatus(self._capture())

    async def _capture(self) -> None:
        self._owner.check(self.name, "trigger")
        settings = await self.camera.exposure_settings()
        sensor = self.camera.config
        size = min(self.crop_px * settings.binning, sensor.sensor_width_px, sensor.sensor_height_px)
        roi = Roi(
            (sensor.sensor_width_px - size) // 2, (sensor.sensor_height_px - size) // 2, size, size
        )
        z_um = await self.focus_axis.user_readback.get_value()
        frame = await self.camera.source.expose(replace(settings, roi=roi))
        self.frames += 1
        self._values = {
            "measure": focus_measure(frame, self.measure_name),
            "z_um": float(z_um),
            "attempt": self.attempt,
        }
        self._timestamp = time.time()

    def describe(self) -> dict[str, DataKey]:
        """Data keys: measure, z_um, attempt."""
        keys: dict[str, DataKey] = {}
        for field, (dtype, numpy_dtype, units) in PROBE_FIELDS.items():
            key = DataKey(source="hcs:focus_probe", dtype=dtype, shape=[])  # type: ignore[typeddict-item]
            key["dtype_numpy"] = numpy_dtype
            if units:
                key["units"] = units
            keys[f"{self.name}-{field}"] = key
        return keys

    def read(self) -> dict[str, Any]:
        """The last reading."""
        return {
            f"{self.name}-{field}": {"value": value, "timestamp": self._timestamp}
            for field, value in self._values.items()
        }

    def read_configuration(self) -> dict[str, Any]:
        """The measure and crop size in use."""
        now = time.time()
        return {
            f"{self.name}-measure_name": {"value": self.measure_name, "timestamp": now},
            f"{self.name}-crop_px": {"value": self.crop_px, "timestamp": now},
        }

    def describe_configuration(self) -> dict[str, DataKey]:
        """Data keys of the configuration."""
        return {
            f"{self.name}-measure_name": DataKey(
                source="hcs:focus_probe", dtype="string", shape=[]
            ),
            f"{self.name}-crop_px": DataKey(
                source="hcs:focus_probe", dtype="integer", shape=[], dtype_numpy="<i8"
            ),
        }


_PROBES: weakref.WeakKeyDictionary[Camera, ContrastFocusProbe] = weakref.WeakKeyDictionary()


def focus_probe_for(
    camera: Camera, focus_axis: Axis, owner: HardwareOwner = DEFAULT_OWNER
) -> ContrastFocusProbe:
    """The one probe of a camera (one object per camera keeps its stream's descriptor)."""
    probe = _PROBES.get(camera)
    if probe is None or probe.focus_axis is not focus_axis:
        probe = _PROBES[camera] = ContrastFocusProbe(camera, focus_axis, owner=owner)
    return probe
