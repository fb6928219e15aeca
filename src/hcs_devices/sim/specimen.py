"""The synthetic specimen: a plate of wells holding cells, and the sample surface.

Everything is deterministic from the seed: each well's cells are drawn from a random
generator seeded with ``(seed, row, column)``, so the same well always holds the same
cells, whichever field of view looks at it first. Coordinates are plate coordinates in
micrometres, which the simulated stage uses as its own.

Cells are made of Gaussian blobs in four object classes, each carrying one label:
nuclei (a DAPI-like dye), cytoplasm (a GFP-like protein) and two sets of
sub-resolution spots (Cy3- and Cy5-like probes, as in smFISH).

A sample that changes while it is imaged (a MERFISH sample, whose readout spots follow
the reagents that flowed, :mod:`hcs_devices.sim.merfish`) subclasses :class:`Specimen`
and reports its :class:`SampleState` (classes, drift) once per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hcs_devices.config.models import SpecimenConfig
from hcs_devices.config.plates import PlateFormat


@dataclass(frozen=True)
class Label:
    """A fluorescent label: where it absorbs and emits."""

    name: str
    excitation_nm: float
    emission_nm: float


@dataclass(frozen=True)
class ObjectClass:
    """Blobs that share a size and a label.

    Attributes:
        name: the class name.
        label: the fluorescent label the blobs carry.
        sigma_um: Gaussian sigma of one blob (before optics).
        photons_per_mw_s: photons one blob emits per mW.s of matched excitation.
        absorbance: fraction of transmitted light one blob's peak removes (brightfield).
    """

    name: str
    label: Label
    sigma_um: float
    photons_per_mw_s: float
    absorbance: float


DAPI = Label("dapi", 405.0, 461.0)
GFP = Label("gfp", 488.0, 510.0)
CY3 = Label("cy3", 554.0, 568.0)
CY5 = Label("cy5", 649.0, 666.0)

NUCLEI = ObjectClass("nuclei", DAPI, 2.0, 4.0e5, 0.12)
CYTOPLASM = ObjectClass("cytoplasm", GFP, 4.0, 5.0e5, 0.03)
SPOTS_A = ObjectClass("spots_a", CY3, 0.05, 2.6e3, 0.0)
SPOTS_B = ObjectClass("spots_b", CY5, 0.05, 2.6e3, 0.0)
OBJECT_CLASSES = (NUCLEI, CYTOPLASM, SPOTS_A, SPOTS_B)

NUCLEUS_BLOBS = 3
CYTOPLASM_BLOBS = 5

#: How far outside its well's square a blob may lie: cells keep 10 um clear of the
#: wall, and their blobs and spots spread a few um around them (25 um is over eight
#: standard deviations of the widest spread).
WELL_SLACK_UM = 25.0


@dataclass(frozen=True)
class SampleState:
    """What the sample shows at one moment, read once per frame.

    Attributes:
        classes: the object classes an image is made of.
        offset_um: where the sample has drifted to on the stage (x, y).
        key: what else the image depends on (None for a sample that never changes);
            frames rendered under different keys are never reused for each other.
    """

    classes: tuple[ObjectClass, ...] = OBJECT_CLASSES
    offset_um: tuple[float, float] = (0.0, 0.0)
    key: object = None


#: The state of a plain plate of cells: it never changes.
STILL = SampleState()


@dataclass(frozen=True)
class Blobs:
    """Blobs of one class: positions in plate coordinates and relative brightness."""

    x_um: np.ndarray
    y_um: np.ndarray
    brightness: np.ndarray

    def sorted_by_x(self) -> Blobs:
        """The same blobs in increasing x (what :meth:`within` needs to be fast)."""
        order = np.argsort(self.x_um, kind="stable")
        return Blobs(self.x_um[order], self.y_um[order], self.brightness[order])

    def within(self, x0: float, x1: float, y0: float, y1: float) -> Blobs:
        """The blobs inside a rectangle (blobs must be sorted by x)."""
        lo, hi = np.searchsorted(self.x_um, (x0, x1))
        xs, ys, bs = self.x_um[lo:hi], self.y_um[lo:hi], self.brightness[lo:hi]
        keep = (ys >= y0) & (ys < y1)
        return Blobs(xs[keep], ys[keep], bs[keep])

    @staticmethod
    def concatenate(parts: list[Blobs]) -> Blobs:
        """Join blob sets."""
        if not parts:
            empty = np.zeros(0)
            return Blobs(empty, empty, empty)
        return Blobs(
            np.concatenate([p.x_um for p in parts]),
            np.concatenate([p.y_um for p in parts]),
            np.concatenate([p.brightness for p in parts]),
        )


@dataclass(frozen=True)
class WellContent:
    """The cells of one well, as blobs per object class."""

    well: str
    cell_x_um: np.ndarray
    cell_y_um: np.ndarray
    blobs: dict[str, Blobs]


class Specimen:
    """A plate of cells on a tilted, curved surface with per-well focus offsets.

    Args:
        config: the specimen section of the microscope configuration.
        plate: the plate format the wells follow.
    """

    def __init__(self, config: SpecimenConfig, plate: PlateFormat) -> None:
        self.config = config
        self.plate = plate
        rng = np.random.default_rng([config.seed, 7919])
        self._well_offsets_um = rng.normal(
            0.0, config.well_offset_rms_um, (plate.rows, plate.columns)
        )
        self._empty = {w.upper() for w in config.empty_wells}
        self._content = lru_cache(maxsize=128)(self._make_well)

    # --- geometry -------------------------------------------------------------------
    def well_at(self, x_um: float, y_um: float) -> str | None:
        """The well whose area contains a point, or None between wells."""
        p = self.plate
        col = round((x_um - p.a1_x_um) / p.well_spacing_um)
        row = round((y_um - p.a1_y_um) / p.well_spacing_um)
        if not (0 <= row < p.rows and 0 <= col < p.columns):
            return None
        name = p.well_name(row, col)
        cx, cy = p.well_center_um(name)
        return name if p.contains(name, x_um - cx, y_um - cy) else None

    def surface_z_um(self, x_um: float, y_um: float) -> float:
        """Height of the sample surface (the plane cells lie in) at a point."""
        c, p = self.config, self.plate
        dx_mm = (x_um - p.width_um / 2) / 1000.0
        dy_mm = (y_um - p.height_um / 2) / 1000.0
        z = (
            c.surface_z_um
            + c.tilt_x_um_per_mm * dx_mm
            + c.tilt_y_um_per_mm * dy_mm
            + c.curvature_um_per_mm2 * (dx_mm**2 + dy_mm**2)
        )
        col = round((x_um - p.a1_x_um) / p.well_spacing_um)
        row = round((y_um - p.a1_y_um) / p.well_spacing_um)
        if 0 <= row < p.rows and 0 <= col < p.columns:
            z += float(self._well_offsets_um[row, col])
        return z

    def wells_near(self, x0: float, x1: float, y0: float, y1: float) -> list[str]:
        """Wells whose area may intersect a rectangle."""
        p = self.plate
        half = p.well_size_um / 2
        c0 = max(0, math.floor((x0 - half - p.a1_x_um) / p.well_spacing_um))
        c1 = min(p.columns - 1, math.ceil((x1 + half - p.a1_x_um) / p.well_spacing_um))
        r0 = max(0, math.floor((y0 - half - p.a1_y_um) / p.well_spacing_um))
        r1 = min(p.rows - 1, math.ceil((y1 + half - p.a1_y_um) / p.well_spacing_um))
        return [p.well_name(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]

    def wells_in(
        self, x0: float, x1: float, y0: float, y1: float, slack_um: float = WELL_SLACK_UM
    ) -> list[str]:
        """Wells whose blobs may lie in a rectangle: their square, ``slack_um`` wider.

        Tighter than :meth:`wells_near`, so a field of view inside one well never
        builds the cells of its neighbours.
        """
        half = self.plate.well_size_um / 2 + slack_um
        found = []
        for well in self.wells_near(x0, x1, y0, y1):
            cx, cy = self.plate.well_center_um(well)
            if cx - half < x1 and cx + half > x0 and cy - half < y1 and cy + half > y0:
                found.append(well)
        return found

    # --- content --------------------------------------------------------------------
    def well_content(self, well: str) -> WellContent:
        """The cells of a well (generated on first use, then cached)."""
        return self._content(well)

    def state(self) -> SampleState:
        """What the sample shows now (a plain plate of cells never changes)."""
        return STILL

    def blobs_in(
        self,
        name: str,
        x0: float,
        x1: float,
        y0: float,
        y1: float,
        state: SampleState = STILL,
    ) -> Blobs:
        """Blobs of one object class inside a rectangle, in sample coordinates.

        ``state`` (from :meth:`state`) matters only to a sample that changes.
        """
        return Blobs.concatenate(
            [
                self.well_content(w).blobs[name].within(x0, x1, y0, y1)
                for w in self.wells_in(x0, x1, y0, y1)
            ]
        )

    def _make_well(self, well: str) -> WellContent:
        p, c = self.plate, self.config
        row, col = p.well_index(well)
        rng = np.random.default_rng([c.seed, row, col])
        empty = np.zeros(0)
        if well in self._empty:
            nothing = Blobs(empty, empty, empty)
            return WellContent(well, empty, empty, {k.name: nothing for k in OBJECT_CLASSES})
        n = int(rng.poisson(c.cells_per_mm2 * well_area_mm2(p)))
        # Uniform positions inside the well, keeping cells clear of the wall.
        x, y = points_in_well(rng, p, well, n, margin_um=10.0)
        # A mild phenotype gradient across the plate: GFP expression rises with the column.
        expression = 0.6 + 0.8 * col / max(1, p.columns - 1)
        blobs = {
            NUCLEI.name: _satellites(rng, x, y, NUCLEUS_BLOBS, 1.6, rng.lognormal(0, 0.25, n)),
            CYTOPLASM.name: _satellites(
                rng, x, y, CYTOPLASM_BLOBS, 4.0, expression * rng.lognormal(0, 0.4, n)
            ),
            SPOTS_A.name: spots_around_cells(rng, x, y, c.spots_per_cell),
            SPOTS_B.name: spots_around_cells(rng, x, y, c.spots_per_cell),
        }
        return WellContent(well, x, y, {k: b.sorted_by_x() for k, b in blobs.items()})


def well_area_mm2(plate: PlateFormat) -> float:
    """Area of one well of a plate, mm^2."""
    half = plate.well_size_um / 2
    return (math.pi * half**2 if plate.well_shape == "round" else (2 * half) ** 2) / 1e6


def points_in_well(
    rng: np.random.Generator, plate: PlateFormat, well: str, n: int, margin_um: float
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points spread uniformly over a well, at least ``margin_um`` from its wall."""
    cx, cy = plate.well_center_um(well)
    half = plate.well_size_um / 2
    if plate.well_shape == "round":
        r = (half - margin_um) * np.sqrt(rng.random(n))
        theta = rng.random(n) * 2 * math.pi
        return cx + r * np.cos(theta), cy + r * np.sin(theta)
    x = cx + rng.uniform(-half + margin_um, half - margin_um, n)
    y = cy + rng.uniform(-half + margin_um, half - margin_um, n)
    return x, y


def _satellites(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    per_cell: int,
    spread_um: float,
    brightness: np.ndarray,
) -> Blobs:
    """``per_cell`` blobs scattered around each cell centre (irregular shapes)."""
    n = x.size
    dx = rng.normal(0.0, spread_um, (n, per_cell))
    dy = rng.normal(0.0, spread_um, (n, per_cell))
    weights = rng.uniform(0.6, 1.4, (n, per_cell)) * brightness[:, None]
    return Blobs((x[:, None] + dx).ravel(), (y[:, None] + dy).ravel(), weights.ravel())


def spots_around_cells(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, mean_per_cell: float
) -> Blobs:
    """Sub-resolution spots (single transcripts) in each cell's cytoplasm."""
    counts = rng.poisson(mean_per_cell, x.size)
    owner = np.repeat(np.arange(x.size), counts)
    total = owner.size
    r = np.abs(rng.normal(4.0, 2.5, total))
    theta = rng.random(total) * 2 * math.pi
    return Blobs(
        x[owner] + r * np.cos(theta),
        y[owner] + r * np.sin(theta),
        rng.lognormal(0.0, 0.2, total),
    )
