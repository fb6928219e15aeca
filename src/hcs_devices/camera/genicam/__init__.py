"""GenICam cameras through Aravis: the frame source, and the fake camera for tests."""

from hcs_devices.camera.genicam.aravis import AravisUnavailable, aravis_missing
from hcs_devices.camera.genicam.errors import (
    CameraVanished,
    FrameIncomplete,
    FrameTimeout,
    GenicamError,
)
from hcs_devices.camera.genicam.source import GenicamFrameSource

__all__ = [
    "AravisUnavailable",
    "CameraVanished",
    "FrameIncomplete",
    "FrameTimeout",
    "GenicamError",
    "GenicamFrameSource",
    "aravis_missing",
]
