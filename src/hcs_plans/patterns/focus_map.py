"""Focus maps: the sample surface's height predicted from a few measured points.

Pure geometry, no hardware. A :class:`FocusSurface` is fitted to measured
``(x, y, z)`` points, either a plane (least squares; 3 or more points that are not
all on one line) or a thin-plate spline (a smooth surface through, or near, every
point; it follows curvature a plane cannot). A :class:`FocusMap` holds one surface
for the whole plate, or one per well (wells with too few points of their own use the
plate surface shifted by their mean residual). Every fit reports its error: the rms
residual at the points, and the leave-one-out error (each point predicted from the
others), which is what to expect at a field of view that was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.interpolate import RBFInterpolator

SurfaceMethod = Literal["plane", "thin_plate_spline"]
MapScope = Literal["plate", "well"]
#: Points whose spread across their narrowest direction is below this fraction of the
#: widest one are treated as lying on a line.
COLLINEAR_RATIO = 1e-3


class FocusMapError(ValueError):
    """Points that cannot define the surface asked for (too few, or on one line)."""


@dataclass(frozen=True)
class FocusPoint:
    """One measured point of the sample surface.

    Attributes:
        x_um: stage x.
        y_um: stage y.
        z_um: stage z in focus there.
        well: the well it lies in, if any.
    """

    x_um: float
    y_um: float
    z_um: float
    well: str | None = None


def check_not_collinear(x_um: np.ndarray, y_um: np.ndarray) -> None:
    """Refuse fewer than 3 points, or points that all lie on (or near) one line.

    Raises:
        FocusMapError: naming how many points there are and why they cannot define a
            surface.
    """
    if x_um.size < 3:
        raise FocusMapError(
            f"a focus surface needs at least 3 points, not on one line; got {x_um.size}"
        )
    xy = np.column_stack([x_um - x_um.mean(), y_um - y_um.mean()])
    singular = np.linalg.svd(xy, compute_uv=False)
    if singular[0] <= 0 or singular[-1] / singular[0] < COLLINEAR_RATIO:
        raise FocusMapError(
            f"the {x_um.size} focus points lie on one line (or one spot): a surface "
            "through them is undetermined across that line; add a point off the line"
        )


@dataclass(frozen=True)
class FocusSurface:
    """A surface fitted to focus points.

    Attributes:
        method: ``plane`` or ``thin_plate_spline``.
        x_um: the points' x.
        y_um: the points' y.
        z_um: the points' z.
        smoothing: the thin-plate spline's smoothing (0: through every point).
        residual_rms_um: rms of measured minus fitted z at the points.
        loo_rms_um: rms leave-one-out error (NaN with too few points to leave one out).
        loo_max_um: largest leave-one-out error.
    """

    method: SurfaceMethod
    x_um: np.ndarray
    y_um: np.ndarray
    z_um: np.ndarray
    smoothing: float
    residual_rms_um: float
    loo_rms_um: float
    loo_max_um: float
    _model: Any = field(repr=False, compare=False)

    def predict(self, x_um: float, y_um: float) -> float:
        """Predicted focus z at a point."""
        return float(_evaluate(self.method, self._model, np.array([[x_um, y_um]]))[0])

    def predict_many(self, x_um: np.ndarray, y_um: np.ndarray) -> np.ndarray:
        """Predicted focus z at many points."""
        xy = np.column_stack([np.ravel(x_um), np.ravel(y_um)])
        return _evaluate(self.method, self._model, xy).reshape(np.shape(x_um))

    def report(self) -> dict[str, Any]:
        """The fit and its error, as plain data (for documents)."""
        return {
            "method": self.method,
            "points": int(self.x_um.size),
            "residual_rms_um": self.residual_rms_um,
            "loo_rms_um": self.loo_rms_um,
            "loo_max_um": self.loo_max_um,
        }


def _fit_model(
    method: SurfaceMethod, x: np.ndarray, y: np.ndarray, z: np.ndarray, smoothing: float
) -> Any:
    check_not_collinear(x, y)
    if method == "plane":
        design = np.column_stack([np.ones_like(x), x, y])
        coefficients, *_ = np.linalg.lstsq(design, z, rcond=None)
        return coefficients
    if method == "thin_plate_spline":
        return RBFInterpolator(
            np.column_stack([x, y]), z, kernel="thin_plate_spline", smoothing=smoothing, degree=1
        )
    raise FocusMapError(f"unknown focus surface method {method!r}; use plane or thin_plate_spline")


def _evaluate(method: SurfaceMethod, model: Any, xy: np.ndarray) -> np.ndarray:
    if method == "plane":
        return model[0] + model[1] * xy[:, 0] + model[2] * xy[:, 1]
    return np.asarray(model(xy), np.float64)


def fit_surface(
    points: Sequence[FocusPoint], method: SurfaceMethod = "plane", smoothing: float = 0.0
) -> FocusSurface:
    """Fit a surface to focus points and measure its error.

    Args:
        points: the measured points.
        method: ``plane`` or ``thin_plate_spline``.
        smoothing: for the thin-plate spline, how far it may pass from the points
            (0 goes through every point).

    Raises:
        FocusMapError: fewer than 3 points, or points on one line.
    """
    x = np.array([p.x_um for p in points], np.float64)
    y = np.array([p.y_um for p in points], np.float64)
    z = np.array([p.z_um for p in points], np.float64)
    model = _fit_model(method, x, y, z, smoothing)
    fitted = _evaluate(method, model, np.column_stack([x, y]))
    residual_rms = float(np.sqrt(np.mean((z - fitted) ** 2)))
    errors: list[float] = []
    for i in range(x.size):
        keep = np.arange(x.size) != i
        try:
            partial = _fit_model(method, x[keep], y[keep], z[keep], smoothing)
        except FocusMapError:
            continue
        predicted = _evaluate(method, partial, np.array([[x[i], y[i]]]))[0]
        errors.append(float(predicted - z[i]))
    loo = np.array(errors)
    return FocusSurface(
        method=method,
        x_um=x,
        y_um=y,
        z_um=z,
        smoothing=smoothing,
        residual_rms_um=residual_rms,
        loo_rms_um=float(np.sqrt(np.mean(loo**2))) if loo.size else math.nan,
        loo_max_um=float(np.max(np.abs(loo))) if loo.size else math.nan,
        _model=model,
    )


@dataclass(frozen=True)
class FocusMap:
    """Predicted focus z across a plate: one surface, or one per well.

    Attributes:
        scope: ``plate`` (one surface) or ``well`` (one per well where possible).
        plate_surface: the surface through every point (None when per-well surfaces
            cover every well measured and the points do not define a plate surface).
        well_surfaces: per-well surfaces (scope ``well``), for wells with 3 or more
            points not on one line.
        well_offsets_um: for other wells measured (scope ``well``): their mean
            residual from the plate surface, added to its prediction.
    """

    scope: MapScope
    plate_surface: FocusSurface | None
    well_surfaces: dict[str, FocusSurface] = field(default_factory=dict)
    well_offsets_um: dict[str, float] = field(default_factory=dict)

    def predict(self, x_um: float, y_um: float, well: str | None = None) -> float:
        """Predicted focus z at a point (of a well, for per-well maps).

        Raises:
            FocusMapError: a per-well map asked about a well it knows nothing of and
                with no plate surface to fall back on.
        """
        if well is not None and well in self.well_surfaces:
            return self.well_surfaces[well].predict(x_um, y_um)
        if self.plate_surface is None:
            raise FocusMapError(
                f"the focus map has no surface for well {well!r} and no plate surface; "
                f"measured wells are {sorted(self.well_surfaces)}"
            )
        offset = self.well_offsets_um.get(well, 0.0) if well is not None else 0.0
        return self.plate_surface.predict(x_um, y_um) + offset

    def report(self) -> dict[str, Any]:
        """Fit errors as plain data: the plate surface's and the worst well's."""
        report: dict[str, Any] = {"scope": self.scope}
        if self.plate_surface is not None:
            report["plate"] = self.plate_surface.report()
        if self.well_surfaces:
            report["wells"] = {w: s.report() for w, s in sorted(self.well_surfaces.items())}
        if self.well_offsets_um:
            report["well_offsets_um"] = dict(sorted(self.well_offsets_um.items()))
        report["fit_error_um"] = self.fit_error_um
        return report

    @property
    def fit_error_um(self) -> float:
        """The rms error to expect at an unmeasured point (leave-one-out, else residual)."""
        surfaces = [
            *([self.plate_surface] if self.plate_surface is not None else []),
            *self.well_surfaces.values(),
        ]
        errors = [
            s.loo_rms_um if math.isfinite(s.loo_rms_um) else s.residual_rms_um for s in surfaces
        ]
        return max(errors) if errors else math.nan


def fit_focus_map(
    points: Iterable[FocusPoint],
    method: SurfaceMethod = "plane",
    scope: MapScope = "plate",
    smoothing: float = 0.0,
) -> FocusMap:
    """Fit a focus map to measured points.

    Args:
        points: measured points (with their wells, for ``scope="well"``).
        method: ``plane`` or ``thin_plate_spline``.
        scope: ``plate`` (one surface) or ``well`` (a surface per well with 3 or more
            points off one line; other wells follow the plate surface plus their
            mean offset).
        smoothing: thin-plate spline smoothing.

    Raises:
        FocusMapError: points that cannot define the map.
    """
    pts = list(points)
    if scope == "plate":
        return FocusMap("plate", fit_surface(pts, method, smoothing))
    by_well: dict[str, list[FocusPoint]] = {}
    for p in pts:
        if p.well is None:
            raise FocusMapError(f"a per-well focus map needs each point's well; {p} has none")
        by_well.setdefault(p.well, []).append(p)
    surfaces: dict[str, FocusSurface] = {}
    rest: dict[str, list[FocusPoint]] = {}
    for well, well_points in by_well.items():
        try:
            surfaces[well] = fit_surface(well_points, method, smoothing)
        except FocusMapError:
            rest[well] = well_points
    plate: FocusSurface | None = None
    try:
        plate = fit_surface(pts, "plane" if len(pts) < 4 else method, smoothing)
    except FocusMapError:
        if rest:
            raise
    offsets: dict[str, float] = {}
    if plate is not None:
        for well, well_points in rest.items():
            residuals = [p.z_um - plate.predict(p.x_um, p.y_um) for p in well_points]
            offsets[well] = float(np.mean(residuals))
    return FocusMap("well", plate, surfaces, offsets)
