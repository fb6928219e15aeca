"""Autofocus hardware: the laser reflection sensor, its calibration, the contrast probe.

Names are imported when first used (``lazy_loader``), so a spec naming a focus measure
is read without loading the measures themselves (SciPy) or ophyd-async.
"""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
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
    from hcs_devices.autofocus.sensor import (
        LaserAutofocusBackend,
        LaserAutofocusSensor,
        spot_centroid,
    )

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "calibration": [
            "LaserAutofocusCalibration",
            "fit_calibration",
            "profile_correlation",
            "spot_profile",
        ],
        "contrast": ["ContrastFocusProbe", "focus_probe_for"],
        "measures": [
            "FOCUS_MEASURES",
            "FocusMeasureName",
            "brenner",
            "centre_crop",
            "focus_measure",
            "laplacian_variance",
            "normalized_variance",
        ],
        "sensor": ["LaserAutofocusBackend", "LaserAutofocusSensor", "spot_centroid"],
    },
)

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
