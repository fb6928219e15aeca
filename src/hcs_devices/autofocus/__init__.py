"""Autofocus hardware: the laser reflection sensor, its calibration, the contrast probe."""

from hcs_devices.autofocus.calibration import (
    LaserAutofocusCalibration,
    fit_calibration,
    profile_correlation,
    spot_profile,
)
from hcs_devices.autofocus.contrast import ContrastFocusProbe, focus_probe_for
from hcs_devices.autofocus.measures import (
    FOCUS_MEASURES,
    FocusMeasureName,
    brenner,
    centre_crop,
    focus_measure,
    laplacian_variance,
    normalized_variance,
)
from hcs_devices.autofocus.sensor import LaserAutofocusBackend, LaserAutofocusSensor, spot_centroid

__all__ = [
    "FOCUS_MEASURES",
    "ContrastFocusProbe",
    "FocusMeasureName",
    "LaserAutofocusBackend",
    "LaserAutofocusCalibration",
    "LaserAutofocusSensor",
    "brenner",
    "centre_crop",
    "fit_calibration",
    "focus_measure",
    "focus_probe_for",
    "laplacian_variance",
    "normalized_variance",
    "profile_correlation",
    "spot_centroid",
    "spot_profile",
]
