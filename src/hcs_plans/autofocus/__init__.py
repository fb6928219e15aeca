"""Autofocus plans: contrast, laser reflection, focus maps, and the acquisition policy.

- :mod:`~hcs_plans.autofocus.contrast`: ``contrast_autofocus`` (a plan with its own run)
  and ``contrast_autofocus_stub`` (inside another plan's run).
- :mod:`~hcs_plans.autofocus.laser`: ``calibrate_laser_autofocus``, ``laser_autofocus``
  and their stubs.
- :mod:`~hcs_plans.autofocus.plate`: the policy at work in ``acquire_plate``.
- :mod:`~hcs_plans.autofocus.plot`: the focus-curve figure from a run's documents.

The policy models (the ``autofocus`` section of an acquisition spec) live with the
spec, in :mod:`hcs_plans.specs.autofocus`, and are re-exported here.
"""

from __future__ import annotations

from hcs_plans.autofocus.contrast import contrast_autofocus, contrast_autofocus_stub
from hcs_plans.autofocus.laser import (
    calibrate_laser_autofocus,
    calibrate_laser_stub,
    laser_autofocus,
    laser_autofocus_stub,
)
from hcs_plans.autofocus.plot import focus_curves, plot_focus_curve
from hcs_plans.autofocus.result import (
    AUTOFOCUS_STREAM,
    FOCUS_CURVE_STREAM,
    FOCUS_MAP_STREAM,
    LASER_STREAM,
    AutofocusError,
    AutofocusResult,
)
from hcs_plans.specs.autofocus import (
    AutofocusPolicy,
    ContrastAutofocusSettings,
    FocusMapSettings,
    LaserAutofocusSettings,
)

__all__ = [
    "AUTOFOCUS_STREAM",
    "FOCUS_CURVE_STREAM",
    "FOCUS_MAP_STREAM",
    "LASER_STREAM",
    "AutofocusError",
    "AutofocusPolicy",
    "AutofocusResult",
    "ContrastAutofocusSettings",
    "FocusMapSettings",
    "LaserAutofocusSettings",
    "calibrate_laser_autofocus",
    "calibrate_laser_stub",
    "contrast_autofocus",
    "contrast_autofocus_stub",
    "focus_curves",
    "laser_autofocus",
    "laser_autofocus_stub",
    "plot_focus_curve",
]
