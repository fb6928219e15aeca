"""Decoding QC on the simulated MERFISH sample: 4 rounds through the simulated fluidics.

Each round flows its readout (RO-r) through the simulated valve and pump, images the
field in Cy3, Cy5 and the beads in GFP, then cleaves. The QC (spot finding, bead
registration, decoding) runs on those frames; the simulator's ground truth says which
molecules are there and where round 1 shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from bluesky import RunEngine
from scipy.spatial import KDTree
from test_merfish_specimen import RESOLVED_PX, Bench, Documents, merfish_config

from hcs_devices.config import TubeContent
from hcs_devices.factory import Microscope
from hcs_devices.sim import optics_of
from hcs_orchestrator.merfish.qc import QcLimits, RoundImages, RoundQc, decode_field, round_qc

N_ROUNDS = 4
#: The simulated spots at 20x are sharper than the default spot size.
LIMITS = QcLimits(spot_sigma_px=1.0)


@pytest.fixture
def bench(
    RE: RunEngine, documents: Documents, make_microscope: Callable[..., Microscope]
) -> Callable[..., Bench]:
    def make(**config: Any) -> Bench:
        return Bench(RE, documents, make_microscope(merfish_config(**config)))

    return make


def _truth(b: Bench) -> tuple[np.ndarray, np.ndarray]:
    """Resolvable molecules in view, in round 1's pixels, with their codebook entries."""
    cfg = b.m.config
    pixel = cfg.pixel_size_um()
    width, height = cfg.camera.sensor_width_px, cfg.camera.sensor_height_px
    x, y = optics_of(b.m).xy_um()
    dx, dy = b.specimen.drift.offset_um(1)
    x0, y0 = x - width / 2 * pixel, y - height / 2 * pixel
    molecules = b.specimen.molecules_in(
        (x0 - dx, x0 - dx + width * pixel, y0 - dy, y0 - dy + height * pixel)
    )
    rows, cols = (molecules.y_um + dy - y0) / pixel, (molecules.x_um + dx - x0) / pixel
    points = np.c_[rows, cols]
    margin = 6
    keep = ((points >= margin) & (points < np.array([height, width]) - margin)).all(axis=1)
    if len(points) > 1:
        neighbour, _ = KDTree(points).query(points, k=2)
        keep &= neighbour[:, 1] > RESOLVED_PX
    return points[keep], molecules.entry[keep]


def _experiment(b: Bench) -> dict[int, RoundQc]:
    rounds: dict[int, RoundQc] = {}
    reference: np.ndarray | None = None
    bits = iter(b.specimen.codebook.bit_names)
    for r in range(1, N_ROUNDS + 1):
        b.flow(f"RO-{r}")
        images = {next(bits): b.frame("Cy3"), next(bits): b.frame("Cy5")}
        beads = b.frame("GFP")
        reference = beads if reference is None else reference
        rounds[r] = round_qc(RoundImages(r, images, beads), reference, LIMITS)
        b.flow("cleave")
    return rounds


@pytest.mark.slow
def test_qc_decodes_95_percent_of_a_simulated_four_round_field_with_under_1_percent_blanks(
    bench: Callable[..., Bench],
) -> None:
    b = bench()
    rounds = _experiment(b)
    positions, entries = _truth(b)
    assert len(entries) >= 30
    result = decode_field(rounds, b.specimen.codebook, LIMITS, truth=(positions, entries))
    print(
        f"molecules {len(entries)}, decoded {result.decoded}, recovery {result.recovery_rate}, "
        f"blanks {result.blank_rate}, shifts {[r.shift_px for r in rounds.values()]}"
    )
    assert result.recovery_rate is not None and result.recovery_rate >= 0.95
    assert result.blank_rate < 0.01
    assert result.flagged_rounds == {}
    pixel = b.m.config.pixel_size_um()
    x1, y1 = b.specimen.drift.offset_um(1)
    for r, qc in rounds.items():
        xr, yr = b.specimen.drift.offset_um(r)
        drift_px = ((y1 - yr) / pixel, (x1 - xr) / pixel)
        assert qc.shift_px == pytest.approx(drift_px, abs=0.3), r


@pytest.mark.slow
def test_qc_flags_the_simulated_round_whose_tube_held_another_rounds_probes(
    bench: Callable[..., Bench],
) -> None:
    b = bench(tubes={"1:5": TubeContent(probes={"bit05": "cy3", "bit06": "cy5"})})
    rounds = _experiment(b)
    result = decode_field(rounds, b.specimen.codebook, LIMITS, truth=_truth(b))
    wrong = {
        int(w.split(":")[0].split()[1]) for w in result.warnings if "of the molecules present" in w
    }
    assert wrong == {2}
    assert set(result.flagged_rounds) == {2, 3}  # 3 as the round showing the same readout
