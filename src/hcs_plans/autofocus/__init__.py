"""Autofocus plans: contrast, laser reflection, focus maps, and the acquisition policy.

- :mod:`~hcs_plans.autofocus.contrast`: ``contrast_autofocus`` (a plan with its own run)
  and ``contrast_autofocus_stub`` (inside another plan's run).
- :mod:`~hcs_plans.autofocus.laser`: ``calibrate_laser_autofocus``, ``laser_autofocus``
  and their stubs.
- :mod:`~hcs_plans.autofocus.policy`: the ``autofocus`` section of an acquisition spec.
- :mod:`~hcs_plans.autofocus.plate`: the policy at work in ``acquire_plate``.
- :mod:`~hcs_plans.autofocus.plot`: the focus-curve figure from a run's documents.

The plans are loaded on first use (the spec model imports this package, and the plans
import the spec's table module).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hcs_plans.autofocus.policy import (
    AutofocusPolicy,
    ContrastAutofocusSettings,
    FocusMapSettings,
    LaserAutofocusSettings,
)
from hcs_plans.autofocus.result import (
    AUTOFOCUS_STREAM,
    FOCUS_CURVE_STREAM,
    FOCUS_MAP_STREAM,
    LASER_STREAM,
    AutofocusError,
    AutofocusResult,
)

if TYPE_CHECKING:
    from hcs_plans.autofocus.contrast import contrast_autofocus, contrast_autofocus_stub
    from hcs_plans.autofocus.laser import (
        calibrate_laser_autofocus,
        calibrate_laser_stub,
        laser_autofocus,
        laser_autofocus_stub,
    )
    from hcs_plans.autofocus.plot import focus_curves, plot_focus_curve

_LAZY = {
    "contrast_autofocus": "hcs_plans.autofocus.contrast",
    "contrast_autofocus_stub": "hcs_plans.autofocus.contrast",
    "calibrate_laser_autofocus": "hcs_plans.autofocus.laser",
    "calibrate_laser_stub": "hcs_plans.autofocus.laser",
    "laser_autofocus": "hcs_plans.autofocus.laser",
    "laser_autofocus_stub": "hcs_plans.autofocus.laser",
    "focus_curves": "hcs_plans.autofocus.plot",
    "plot_focus_curve": "hcs_plans.autofocus.plot",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
