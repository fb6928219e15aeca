"""The laser reflection autofocus sensor."""

from hcs_devices.autofocus.sensor import LaserAutofocusBackend, LaserAutofocusSensor, spot_centroid

__all__ = ["LaserAutofocusBackend", "LaserAutofocusSensor", "spot_centroid"]
