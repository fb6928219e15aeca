"""The MERFISH specimen: molecules follow the codebook, readout spots follow the chemistry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.sim.merfish import BEADS, READOUT_CY3, READOUT_CY5, MerfishSpecimen
from hcs_devices.sim.specimen import OBJECT_CLASSES, STILL, Specimen, well_area_mm2

PROFILE = Path(__file__).resolve().parents[4] / "profile" / "merfish" / "microscope.yaml"
RO1 = ((1, 4),)
RO2 = ((1, 5),)


@pytest.fixture(scope="module")
def merfish_config() -> MicroscopeConfig:
    return load_config(PROFILE)


def _specimen(config: MicroscopeConfig, **changes: object) -> MerfishSpecimen:
    return MerfishSpecimen(config.specimen.model_copy(update=changes), config.plate())


def _chamber(specimen: MerfishSpecimen) -> float:
    return specimen.merfish.chamber_volume_ul


def test_merfish_molecules_carry_genes_of_the_codebook_and_never_a_blank(
    merfish_config: MicroscopeConfig,
) -> None:
    specimen = _specimen(merfish_config)
    molecules = specimen.molecules_in("B2")
    genes, counts = np.unique(molecules.genes, return_counts=True)
    assert set(genes) == set(specimen.codebook.genes)
    assert not set(genes) & set(specimen.codebook.blanks)
    share = dict(zip(specimen.codebook.genes, specimen.abundance, strict=False))
    for gene, count in zip(genes, counts, strict=True):
        assert count / len(molecules) == pytest.approx(share[gene], rel=0.1, abs=0.002)
    cells = specimen.well_content("B2")
    expected = specimen.merfish.molecules_per_cell * cells.cell_x_um.size
    assert len(molecules) == pytest.approx(expected, rel=0.05)
    # In the cytoplasm: every molecule within 20 um of its cell's centre.
    distance, _ = cKDTree(np.c_[cells.cell_x_um, cells.cell_y_um]).query(
        np.c_[molecules.x_um, molecules.y_um]
    )
    assert distance.max() < 20.0


def test_merfish_molecules_are_the_same_whichever_field_looks_first(
    merfish_config: MicroscopeConfig,
) -> None:
    a, b = _specimen(merfish_config), _specimen(merfish_config)
    cx, cy = merfish_config.plate().well_center_um("C3")
    rect = (cx - 50.0, cx + 50.0, cy - 50.0, cy + 50.0)
    b.molecules_in("C4")
    first, second = a.molecules_in(rect), b.molecules_in(rect)
    assert len(first) > 20
    assert np.array_equal(first.x_um, second.x_um)
    assert np.array_equal(first.genes, second.genes)
    other = _specimen(merfish_config, seed=1).molecules_in(rect)
    assert not np.array_equal(first.x_um[:10], other.x_um[:10])
    # A rectangle holds exactly the well's molecules that lie in it.
    well = a.molecules_in("C3")
    inside = (well.x_um >= rect[0]) & (well.x_um < rect[1])
    inside &= (well.y_um >= rect[2]) & (well.y_um < rect[3])
    assert int(inside.sum()) == len(first)


def test_merfish_empty_well_holds_no_molecules_but_beads_on_the_glass(
    merfish_config: MicroscopeConfig,
) -> None:
    specimen = _specimen(merfish_config)
    assert len(specimen.molecules_in("H12")) == 0
    cx, cy = merfish_config.plate().well_center_um("H12")
    half = 500.0
    beads = specimen.beads_in(cx - half, cx + half, cy - half, cy + half)
    per_mm2 = specimen.merfish.fiducial_beads_per_mm2
    assert beads.x_um.size == pytest.approx(per_mm2 * (2 * half / 1000) ** 2, rel=0.15)
    assert well_area_mm2(specimen.plate) > 1.0


def test_merfish_readout_spots_are_the_molecules_whose_bound_bits_they_carry(
    merfish_config: MicroscopeConfig,
) -> None:
    specimen = _specimen(merfish_config)
    cx, cy = merfish_config.plate().well_center_um("B2")
    rect = (cx - 60.0, cx + 60.0, cy - 60.0, cy + 60.0)
    molecules = specimen.molecules_in(rect)

    def spots(cls_name: str) -> tuple[set[tuple[float, float]], np.ndarray]:
        blobs = specimen.blobs_in(cls_name, *rect, specimen.state())
        return set(zip(blobs.x_um, blobs.y_um, strict=True)), blobs.brightness

    def positions(mask: np.ndarray) -> set[tuple[float, float]]:
        return set(zip(molecules.x_um[mask], molecules.y_um[mask], strict=True))

    assert spots(READOUT_CY3.name)[0] == set()
    specimen.flow_cell.flowed(RO1, _chamber(specimen))
    bit01, bit02 = specimen.carries(molecules, "bit01"), specimen.carries(molecules, "bit02")
    assert spots(READOUT_CY3.name)[0] == positions(bit01)
    assert spots(READOUT_CY5.name)[0] == positions(bit02)
    # Without a cleave the next round adds its bits; a molecule with both shines twice.
    specimen.flow_cell.flowed(RO2, _chamber(specimen))
    bit03 = specimen.carries(molecules, "bit03")
    found, brightness = spots(READOUT_CY3.name)
    assert found == positions(bit01 | bit03)
    both = molecules.brightness[bit01 & bit03]
    assert both.size > 0 and set(2 * both) <= set(brightness)


def test_merfish_specimen_replaces_the_plain_spots_and_a_plain_specimen_never_changes(
    merfish_config: MicroscopeConfig,
) -> None:
    specimen = _specimen(merfish_config)
    classes = {c.name for c in specimen.state().classes}
    assert {READOUT_CY3.name, READOUT_CY5.name, BEADS.name} <= classes
    assert not {"spots_a", "spots_b"} & classes
    before = specimen.state()
    specimen.flow_cell.flowed(RO1, _chamber(specimen))
    after = specimen.state()
    assert after.key != before.key
    assert after.offset_um == specimen.drift.offset_um(1) != (0.0, 0.0)
    plain = Specimen(merfish_config.specimen.model_copy(update={"merfish": None}), specimen.plate)
    assert plain.state() is STILL and STILL.classes == OBJECT_CLASSES
