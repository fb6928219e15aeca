"""GenICam cameras through Aravis: the frame source, and the fake camera for tests."""

from hcs_devices.camera.genicam.aravis import AravisUnavailable, aravis_missing

__all__ = ["AravisUnavailable", "aravis_missing"]
