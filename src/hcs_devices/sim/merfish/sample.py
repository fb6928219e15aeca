"""A MERFISH specimen: the plate of cells, with barcoded RNA molecules and fiducial beads.

Each well's molecules are drawn from a generator seeded with ``(seed, row, column)``
and a tag, like the cells, so they do not depend on which field of view looks first:
``molecules_per_cell`` on average (Poisson) in each cell's cytoplasm, each of one gene
of the codebook (never a blank), genes drawn with seeded log-normal abundances. A
molecule of gene g shows a spot in a dye's channel when a bit set in g's barcode has
its readout probe bound with that dye (:mod:`.chemistry`); bound twice, it shines
twice as bright. Fiducial beads lie on the glass all over the well and shine in GFP
in every round. Everything drifts together with the stage drift of the round.

Positions are sample coordinates (where things lie in round 0); the images of round
``r`` show them moved by ``drift.offset_um(r)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from hcs_devices.config.codebook import Codebook
from hcs_devices.config.merfish import Dye
from hcs_devices.config.models import SpecimenConfig
from hcs_devices.config.plates import PlateFormat
from hcs_devices.sim.merfish.chemistry import Chemistry, Drift, FlowCell
from hcs_devices.sim.specimen import (
    CY3,
    CY5,
    CYTOPLASM,
    GFP,
    NUCLEI,
    STILL,
    Blobs,
    ObjectClass,
    SampleState,
    Specimen,
    points_in_well,
    spots_around_cells,
    well_area_mm2,
)

#: Readout probes' spots: one molecule with one bound probe (Cy3- or Cy5-like).
READOUT_CY3 = ObjectClass("readout_cy3", CY3, 0.05, 2.6e3, 0.0)
READOUT_CY5 = ObjectClass("readout_cy5", CY5, 0.05, 2.6e3, 0.0)
#: Fiducial beads: 100 nm, far brighter than one molecule, GFP-like.
BEADS = ObjectClass("beads", GFP, 0.05, 2.0e4, 0.0)
#: What a MERFISH sample's images are made of (the plain spots are not drawn).
MERFISH_CLASSES = (NUCLEI, CYTOPLASM, READOUT_CY3, READOUT_CY5, BEADS)
_READOUT_DYES: dict[str, Dye] = {READOUT_CY3.name: "cy3", READOUT_CY5.name: "cy5"}

#: Molecules lie at most this far outside their well's square (cells keep 10 um clear of
#: the wall; molecules lie within ~15 um of their cell's centre).
WELL_SLACK_UM = 25.0

#: Where a built microscope keeps its simulated sample's state, in its data directory.
SAMPLE_STATE_FILE = Path("simulation") / "merfish-flow-cell.json"

_MOLECULES_TAG = 0x524E41  # "RNA"
_BEADS_TAG = 0x424541  # "BEA"
_ABUNDANCE_TAG = 0x41424E  # "ABN"


@dataclass(frozen=True)
class MerfishState(SampleState):
    """A MERFISH sample at one moment: its chemistry (and, from it, its drift)."""

    chemistry: Chemistry = field(default_factory=Chemistry)


@dataclass(frozen=True)
class Molecules:
    """RNA molecules: where they lie (sample coordinates), their gene and brightness.

    Attributes:
        x_um: x of each molecule (sorted increasing within one well).
        y_um: y of each molecule.
        entry: index of each molecule's codebook entry.
        brightness: relative brightness of one bound probe on it.
        names: the codebook's entry names (``names[entry]`` is the gene).
    """

    x_um: np.ndarray
    y_um: np.ndarray
    entry: np.ndarray
    brightness: np.ndarray
    names: tuple[str, ...]

    @property
    def genes(self) -> np.ndarray:
        """The gene of each molecule."""
        return np.asarray(self.names, dtype=object)[self.entry]

    def __len__(self) -> int:
        return int(self.x_um.size)

    def select(self, keep: np.ndarray) -> Molecules:
        """The molecules where ``keep`` is true (or at the given indices)."""
        return Molecules(
            self.x_um[keep], self.y_um[keep], self.entry[keep], self.brightness[keep], self.names
        )

    def within(self, x0: float, x1: float, y0: float, y1: float) -> Molecules:
        """The molecules inside a rectangle (must be sorted by x)."""
        lo, hi = np.searchsorted(self.x_um, (x0, x1))
        part = self.select(np.arange(lo, hi))
        return part.select((part.y_um >= y0) & (part.y_um < y1))

    @staticmethod
    def concatenate(parts: list[Molecules], names: tuple[str, ...]) -> Molecules:
        """Join molecule sets of one codebook."""
        if not parts:
            empty = np.zeros(0)
            return Molecules(empty, empty, np.zeros(0, np.int64), empty, names)
        return Molecules(
            np.concatenate([p.x_um for p in parts]),
            np.concatenate([p.y_um for p in parts]),
            np.concatenate([p.entry for p in parts]),
            np.concatenate([p.brightness for p in parts]),
            names,
        )


class MerfishSpecimen(Specimen):
    """A plate of cells holding barcoded RNA molecules, with beads and a flow cell.

    Args:
        config: the specimen section (its ``merfish`` section must be set).
        plate: the plate format the wells follow.
        state_file: where the flow cell's state survives the process (see
            :class:`FlowCell`); None keeps it in memory only.
    """

    def __init__(
        self, config: SpecimenConfig, plate: PlateFormat, state_file: Path | None = None
    ) -> None:
        if config.merfish is None:
            raise ValueError("a MERFISH specimen needs the specimen.merfish section")
        # The plain Cy3/Cy5 spots are replaced by readout spots: never draw them.
        super().__init__(config.model_copy(update={"spots_per_cell": 0}), plate)
        self.merfish = config.merfish
        self.codebook: Codebook = config.merfish.read_codebook()
        self.flow_cell = FlowCell(
            config.merfish.tube_paths(), config.merfish.chamber_volume_ul, state_file
        )
        self.drift = Drift(config.seed, config.merfish.drift_per_round_um)
        self._names = tuple(e.name for e in self.codebook.entries)
        self._barcodes = self.codebook.matrix()
        self.abundance = self._abundance()
        self._molecules = lru_cache(maxsize=32)(self._make_molecules)
        self._beads = lru_cache(maxsize=32)(self._make_beads)
        self._readouts = lru_cache(maxsize=64)(self._make_readouts)

    # --- what changes -------------------------------------------------------------
    def state(self) -> MerfishState:
        """The chemistry now, the classes a MERFISH image is made of, and the drift."""
        chemistry = self.flow_cell.chemistry
        return MerfishState(
            classes=MERFISH_CLASSES,
            offset_um=self.drift.offset_um(chemistry.round),
            key=chemistry,
            chemistry=chemistry,
        )

    def blobs_in(
        self,
        name: str,
        x0: float,
        x1: float,
        y0: float,
        y1: float,
        state: SampleState = STILL,
    ) -> Blobs:
        """Blobs of one class in a rectangle: readout spots follow the chemistry."""
        if name == BEADS.name:
            parts = [self._beads(w).within(x0, x1, y0, y1) for w in self._wells_in(x0, x1, y0, y1)]
            return Blobs.concatenate(parts)
        dye = _READOUT_DYES.get(name)
        if dye is None:
            return super().blobs_in(name, x0, x1, y0, y1)
        chemistry = state.chemistry if isinstance(state, MerfishState) else self.state().chemistry
        bits = chemistry.bits_with(dye)
        if not bits:
            return Blobs.concatenate([])
        return Blobs.concatenate(
            [self._readouts(w, bits).within(x0, x1, y0, y1) for w in self._wells_in(x0, x1, y0, y1)]
        )

    # --- ground truth -------------------------------------------------------------
    def molecules_in(self, where: str | tuple[float, float, float, float]) -> Molecules:
        """The molecules of a well (``"B2"``) or a rectangle ``(x0, x1, y0, y1)``, um.

        Positions are sample coordinates: add ``drift.offset_um(round)`` for where a
        round's images show them.
        """
        if isinstance(where, str):
            return self._molecules(where.upper())
        x0, x1, y0, y1 = where
        return Molecules.concatenate(
            [self._molecules(w).within(x0, x1, y0, y1) for w in self._wells_in(x0, x1, y0, y1)],
            self._names,
        )

    def beads_in(self, x0: float, x1: float, y0: float, y1: float) -> Blobs:
        """The fiducial beads in a rectangle (sample coordinates)."""
        return self.blobs_in(BEADS.name, x0, x1, y0, y1)

    def carries(self, molecules: Molecules, bit: str) -> np.ndarray:
        """Which of ``molecules`` have ``bit`` set in their barcode."""
        return self._barcodes[molecules.entry, self.codebook.bit_names.index(bit)]

    # --- generation ---------------------------------------------------------------
    def _wells_in(self, x0: float, x1: float, y0: float, y1: float) -> list[str]:
        """Wells whose molecules or beads may lie in a rectangle.

        Tight (:meth:`wells_in`), so a field of view inside one well never generates
        the molecules of its neighbours (millions in a dense well).
        """
        return self.wells_in(x0, x1, y0, y1, WELL_SLACK_UM)

    def _abundance(self) -> np.ndarray:
        """Each codebook entry's share of the molecules (0 for blanks), seeded."""
        rng = np.random.default_rng([self.config.seed, _ABUNDANCE_TAG])
        share = rng.lognormal(0.0, self.merfish.abundance_log_sigma, len(self._names))
        share[[e.blank for e in self.codebook.entries]] = 0.0
        return share / share.sum()

    def _make_molecules(self, well: str) -> Molecules:
        cells = self.well_content(well)
        row, col = self.plate.well_index(well)
        rng = np.random.default_rng([self.config.seed, row, col, _MOLECULES_TAG])
        spots = spots_around_cells(
            rng, cells.cell_x_um, cells.cell_y_um, self.merfish.molecules_per_cell
        )
        entry = rng.choice(len(self._names), size=spots.x_um.size, p=self.abundance)
        order = np.argsort(spots.x_um, kind="stable")
        return Molecules(
            spots.x_um[order],
            spots.y_um[order],
            entry[order],
            spots.brightness[order],
            self._names,
        )

    def _make_beads(self, well: str) -> Blobs:
        row, col = self.plate.well_index(well)
        rng = np.random.default_rng([self.config.seed, row, col, _BEADS_TAG])
        n = int(rng.poisson(self.merfish.fiducial_beads_per_mm2 * well_area_mm2(self.plate)))
        x, y = points_in_well(rng, self.plate, well, n, margin_um=0.0)
        return Blobs(x, y, rng.lognormal(0.0, 0.1, n)).sorted_by_x()

    def _make_readouts(self, well: str, bits: frozenset[str]) -> Blobs:
        """Spots of one dye: each molecule times the number of its bits bound with it."""
        molecules = self._molecules(well)
        columns = [self.codebook.bit_names.index(b) for b in sorted(bits)]
        probes = self._barcodes[:, columns].sum(axis=1)[molecules.entry]
        lit = probes > 0
        return Blobs(
            molecules.x_um[lit], molecules.y_um[lit], molecules.brightness[lit] * probes[lit]
        )


__all__ = [
    "BEADS",
    "MERFISH_CLASSES",
    "READOUT_CY3",
    "READOUT_CY5",
    "SAMPLE_STATE_FILE",
    "MerfishSpecimen",
    "MerfishState",
    "Molecules",
]
