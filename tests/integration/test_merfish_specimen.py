"""The simulated MERFISH sample seen through the simulated microscope and its fluidics.

Reagents flow through the simulated valve and pump with the fluidics plan stubs on a
real RunEngine; frames are read back from the files the documents point at. Spots are
found in the frames (local maxima) and compared with the simulator's ground truth:
the molecules whose barcode carries the bound bits, where the round's drift puts them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
import pytest
from bluesky import RunEngine
from plate_harness import fast_config
from scipy import ndimage
from scipy.spatial import cKDTree
from test_simulated_microscope import snap, use_channel

from hcs_devices.config import MicroscopeConfig, TubeContent, load_config
from hcs_devices.factory import Microscope
from hcs_devices.sim import merfish_specimen_of, optics_of
from hcs_devices.sim.render import FOCAL_SHIFT_UM_PER_NM
from hcs_devices.sim.specimen import CY3, CY5, GFP
from hcs_plans.stubs.fluidics import flow_volume, select_reagent

pytestmark = pytest.mark.slow  # system tests of a second or more each

PROFILE = Path(__file__).resolve().parents[2] / "profile" / "merfish" / "microscope.yaml"
Documents = list[tuple[str, dict[str, Any]]]
#: A fast simulated pump (144 mL/min) and a chamber volume a flow of FLOW_UL covers.
TUBE_UL_PER_REV = 3000.0
FLOW_UL = 250.0
RATE_UL_MIN = 60_000.0
#: A spot is where the ground truth puts a molecule when it lies this close, px.
MATCH_PX = 1.5
#: Molecules closer than this to another make one spot, px.
RESOLVED_PX = 3.0
WELL = "B2"
DYE_EMISSION_NM = {"Cy3": CY3.emission_nm, "Cy5": CY5.emission_nm, "GFP": GFP.emission_nm}


def merfish_config(
    tubes: dict[str, TubeContent] | None = None, drift_per_round_um: float = 0.5
) -> MicroscopeConfig:
    """The MERFISH microscope, quick to test: 256 x 256 frames, a fast pump."""
    base = fast_config(load_config(PROFILE))
    assert base.specimen.merfish is not None and base.fluidics is not None
    merfish = base.specimen.merfish.model_copy(
        update={
            "tubes": {**base.specimen.merfish.tubes, **(tubes or {})},
            "drift_per_round_um": drift_per_round_um,
            "chamber_volume_ul": 200.0,
        }
    )
    pump = base.fluidics.pump.model_copy(update={"tube_ul_per_rev": TUBE_UL_PER_REV})
    return base.model_copy(
        update={
            "specimen": base.specimen.model_copy(update={"merfish": merfish}),
            "fluidics": base.fluidics.model_copy(update={"pump": pump}),
        }
    )


class Bench:
    """A MERFISH microscope over well B2, with what the tests do to it."""

    def __init__(self, RE: RunEngine, documents: Documents, microscope: Microscope) -> None:
        self.RE, self.documents, self.m = RE, documents, microscope
        self.specimen = merfish_specimen_of(microscope)
        x, y = microscope.config.plate().well_center_um(WELL)
        RE(bps.mv(microscope.stage_.x, x, microscope.stage_.y, y))

    def flow(self, reagent: str) -> None:
        fluidics = self.m.fluidics
        assert fluidics is not None
        self.RE(select_reagent(fluidics, reagent))
        self.RE(flow_volume(fluidics, FLOW_UL, RATE_UL_MIN))

    def frame(self, channel_name: str) -> np.ndarray:
        """A frame in a channel, focused on the focal plane of the channel's dye."""
        channel = self.m.config.channel(channel_name)
        x, y = optics_of(self.m).xy_um()
        dye_nm = DYE_EMISSION_NM[channel_name]
        z = self.specimen.surface_z_um(x, y) + FOCAL_SHIFT_UM_PER_NM * (dye_nm - 500.0)
        self.RE(bps.mv(self.m.stage_.z, z))
        self.RE(use_channel(self.m, channel))
        frame = snap(self.RE, self.documents, self.m).astype(np.float64)
        return frame - self.m.config.camera.offset_adu

    def expected_px(self, bits: list[str]) -> np.ndarray:
        """(row, column) of every molecule carrying one of ``bits``, where this round shows it."""
        cfg = self.m.config
        pixel = cfg.pixel_size_um()
        width, height = cfg.camera.sensor_width_px, cfg.camera.sensor_height_px
        x, y = optics_of(self.m).xy_um()
        dx, dy = self.specimen.state().offset_um
        x0, y0 = x - width / 2 * pixel, y - height / 2 * pixel
        molecules = self.specimen.molecules_in(
            (x0 - dx - 5, x0 - dx + width * pixel + 5, y0 - dy - 5, y0 - dy + height * pixel + 5)
        )
        carrying = np.zeros(len(molecules), bool)
        for bit in bits:
            carrying |= self.specimen.carries(molecules, bit)
        cols = (molecules.x_um[carrying] + dx - x0) / pixel
        rows = (molecules.y_um[carrying] + dy - y0) / pixel
        return np.c_[rows, cols]


def spots_px(frame: np.ndarray) -> np.ndarray:
    """(row, column) of the bright local maxima of a frame."""
    floor = np.median(frame)
    noise = 1.4826 * np.median(np.abs(frame - floor))
    threshold = floor + max(50.0, 20 * noise)
    peaks = (frame == ndimage.maximum_filter(frame, size=3)) & (frame > threshold)
    return np.argwhere(peaks).astype(np.float64)


def match(found: np.ndarray, expected: np.ndarray, shape: tuple[int, int]) -> tuple[float, float]:
    """Recall (resolvable molecules with a spot) and precision (spots on a molecule).

    Only positions at least 3 px inside the frame count; recall counts the molecules
    with no other expected molecule within RESOLVED_PX (closer ones make one spot).
    """

    def inside(points: np.ndarray) -> np.ndarray:
        keep = (points >= 3).all(axis=1)
        keep &= (points[:, 0] < shape[0] - 3) & (points[:, 1] < shape[1] - 3)
        return points[keep]

    found_in, expected_in = inside(found), inside(expected)
    if len(expected_in) > 1:
        neighbour, _ = cKDTree(expected).query(expected_in, k=2)
        expected_in = expected_in[neighbour[:, 1] > RESOLVED_PX]
    assert len(expected_in) >= 30, "too few molecules in view to compare"
    if len(found_in) == 0:
        return 0.0, 1.0
    to_spot, _ = cKDTree(found_in).query(expected_in)
    to_molecule, _ = cKDTree(expected).query(found_in)
    return float((to_spot <= MATCH_PX).mean()), float((to_molecule <= MATCH_PX).mean())


def shows_exactly(bench: Bench, frame: np.ndarray, bits: list[str]) -> bool:
    shape = (frame.shape[0], frame.shape[1])
    recall, precision = match(spots_px(frame), bench.expected_px(bits), shape)
    return recall >= 0.95 and precision >= 0.95


@pytest.fixture
def bench(
    RE: RunEngine, documents: Documents, make_microscope: Callable[..., Microscope]
) -> Callable[..., Bench]:
    def make(**config: Any) -> Bench:
        return Bench(RE, documents, make_microscope(merfish_config(**config)))

    return make


def test_merfish_readout_spots_show_the_flowed_bits_molecules_when_a_readout_flows(
    bench: Callable[..., Bench],
) -> None:
    b = bench()
    before = {ch: b.frame(ch) for ch in ("Cy3", "Cy5")}
    assert all(len(spots_px(f)) == 0 for f in before.values())
    b.flow("RO-1")
    cy3, cy5 = b.frame("Cy3"), b.frame("Cy5")
    assert shows_exactly(b, cy3, ["bit01"])
    assert shows_exactly(b, cy5, ["bit02"])
    # The other bits' molecules do not show: the comparison can tell bits apart.
    assert not shows_exactly(b, cy3, ["bit03"])
    assert not shows_exactly(b, cy5, ["bit01"])
    b.flow("cleave")
    assert len(spots_px(b.frame("Cy3"))) == 0


def test_merfish_frames_show_the_wrong_bits_when_a_tube_holds_another_rounds_probes(
    bench: Callable[..., Bench],
) -> None:
    """RO-2's tube holds RO-3's probes: the protocol flows RO-2, the sample shows bits 5/6."""
    b = bench(tubes={"1:5": TubeContent(probes={"bit05": "cy3", "bit06": "cy5"})})
    b.flow("RO-1")
    b.flow("cleave")
    b.flow("RO-2")
    cy3, cy5 = b.frame("Cy3"), b.frame("Cy5")
    assert shows_exactly(b, cy3, ["bit05"])
    assert shows_exactly(b, cy5, ["bit06"])
    assert not shows_exactly(b, cy3, ["bit03"])


def test_merfish_frames_keep_the_previous_rounds_spots_when_the_cleave_is_skipped(
    bench: Callable[..., Bench],
) -> None:
    b = bench()
    b.flow("RO-1")
    b.flow("wash")
    b.flow("RO-2")
    cy3 = b.frame("Cy3")
    assert shows_exactly(b, cy3, ["bit01", "bit03"])
    assert not shows_exactly(b, cy3, ["bit03"])


def test_merfish_sample_keeps_what_flowed_when_the_microscope_is_built_again(
    RE: RunEngine,
    documents: Documents,
    make_microscope: Callable[..., Microscope],
    tmp_path: Path,
) -> None:
    """The sample stays on the stage when the process dies: its state lives with the data."""
    config = merfish_config()
    first = Bench(RE, documents, make_microscope(config, data_dir=tmp_path / "data"))
    first.flow("RO-1")
    again = Bench(RE, documents, make_microscope(config, data_dir=tmp_path / "data"))
    assert again.specimen.flow_cell.chemistry == first.specimen.flow_cell.chemistry
    assert shows_exactly(again, again.frame("Cy3"), ["bit01"])
    fresh = Bench(RE, documents, make_microscope(config, data_dir=tmp_path / "other"))
    assert len(spots_px(fresh.frame("Cy3"))) == 0


def phase_correlation_px(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The (rows, columns) shift that moves ``a``'s content onto ``b``'s, sub-pixel."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * window)
    fb = np.fft.fft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    surface = np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)).real
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    shift = []
    for axis, size in enumerate(surface.shape):
        line = np.take(surface, peak[1 - axis], axis=1 - axis)  # through the peak
        i = peak[axis]
        before, centre, after = line[(i - 1) % size], line[i], line[(i + 1) % size]
        value = i + 0.5 * (before - after) / (before - 2 * centre + after)  # parabola
        shift.append(value - size if value > size / 2 else value)
    return shift[0], shift[1]


def test_merfish_drift_between_rounds_measured_on_the_beads_matches_the_configured_drift(
    bench: Callable[..., Bench],
) -> None:
    b = bench(drift_per_round_um=2.0)
    pixel = b.m.config.pixel_size_um()
    b.flow("RO-1")
    round1 = b.frame("GFP")
    b.flow("cleave")
    b.flow("RO-2")
    round2 = b.frame("GFP")
    (x1, y1), (x2, y2) = b.specimen.drift.offset_um(1), b.specimen.drift.offset_um(2)
    assert b.specimen.state().offset_um == (x2, y2)
    expected = ((y2 - y1) / pixel, (x2 - x1) / pixel)
    assert np.hypot(*expected) > 1.0, "the seeded drift is too small to test"
    measured = phase_correlation_px(round1, round2)
    assert measured == pytest.approx(expected, abs=0.3)
    # The beads carry the registration: in GFP they are the brightest spots.
    assert len(spots_px(round2)) > 5


def test_merfish_specimen_of_refuses_a_microscope_without_a_merfish_sample(
    microscope: Microscope,
) -> None:
    with pytest.raises(TypeError, match=r"no specimen\.merfish section"):
        merfish_specimen_of(microscope)
