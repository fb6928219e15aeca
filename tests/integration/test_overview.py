"""The plate overview of the demo sequence, acquired on the simulated microscope.

The demo spec runs through ``hcs acquire --overview`` (small sensor: see
``fast_config``); the picture is then read back as a PNG and checked against the
layout the renderer reports and the run's recorded wells and channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.cli import main as hcs_main
from hcs_orchestrator.paths import DEMO_SPEC
from hcs_storage.catalog import open_catalog
from hcs_storage.dye_colours import channel_colour
from hcs_storage.overview import BACKGROUND, TEXT, OverviewLayout, render_overview
from hcs_storage.query import find_runs
from hcs_storage.sample import SampleSpec, write_sample_run

pytestmark = pytest.mark.slow


@dataclass
class Demo:
    png: Path
    pixels: np.ndarray
    layout: OverviewLayout
    start: dict[str, Any]


@pytest.fixture(scope="module")
def demo(fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    work = tmp_path_factory.mktemp("overview")
    config = work / "microscope.yaml"
    config.write_text(yaml.safe_dump(fast_profile_config.model_dump(mode="json")))
    png = work / "overview.png"
    args = ["acquire", str(DEMO_SPEC), "--config", str(config), "--data-dir", str(work / "d")]
    assert hcs_main([*args, "--overview", str(png)]) == 0
    catalog = open_catalog(work / "d")
    try:
        (run,) = find_runs(catalog, experiment_id="demo").values()
        _, layout = render_overview(run)
        start = dict(run.metadata["start"])
    finally:
        catalog.context.close()
    pixels = np.asarray(Image.open(png).convert("RGB"))
    return Demo(png, pixels, layout, start)


def test_overview_is_the_size_of_its_layout_with_every_acquired_well_drawn(demo: Demo) -> None:
    width, height = demo.layout.size
    assert demo.pixels.shape == (height, width, 3)
    assert sorted(demo.layout.wells) == sorted(demo.start["wells"]) == ["B2", "B3", "C3"]
    for well, box in demo.layout.wells.items():
        assert max(box.right - box.left, box.bottom - box.top) == 256, well
        inside = demo.pixels[box.top : box.bottom, box.left : box.right]
        # Fields of view fill the well's box: cells are drawn, not background.
        assert (inside.max(axis=2) > 128).mean() > 0.01, well
        assert (inside == BACKGROUND).all(axis=2).mean() < 0.05, well


def test_overview_draws_each_well_row_and_column_label(demo: Demo) -> None:
    for text in ["B2", "B3", "C3", "B", "C", "2", "3"]:
        box = demo.layout.labels[text]
        area = demo.pixels[box.top : box.bottom, box.left : box.right].astype(int)
        near_text = (np.abs(area - np.array(TEXT)).sum(axis=2) < 60).sum()
        assert near_text >= 5, f"label {text} not drawn at {box}"
    # Wells sit where the plate puts them: B2 left of B3, C3 under B3.
    wells = demo.layout.wells
    assert wells["B2"].right <= wells["B3"].left and wells["B2"].top == wells["B3"].top
    assert wells["B3"].bottom <= wells["C3"].top and wells["B3"].left == wells["C3"].left


def test_overview_legend_shows_each_channel_in_its_dye_colour(demo: Demo) -> None:
    configs = {c["name"]: c for c in demo.start["microscope"]["channels"]}
    assert list(demo.layout.legend) == ["DAPI", "GFP", "Cy3"]
    for channel, (box, colour) in demo.layout.legend.items():
        assert colour == channel_colour(configs[channel])
        swatch = demo.pixels[box.top : box.bottom, box.left : box.right]
        assert (swatch == np.array(colour)).all(), channel


def test_overview_scale_bar_is_as_long_as_its_micrometres(demo: Demo) -> None:
    bar = demo.layout.scale_bar
    assert demo.layout.scale_bar_um in {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
    assert bar.right - bar.left == round(demo.layout.scale_bar_um / demo.layout.um_per_px)
    row = demo.pixels[(bar.top + bar.bottom) // 2, bar.left : bar.right]
    assert (row == np.array(TEXT)).all()


def test_overview_stretches_each_channel_so_each_dye_shows(demo: Demo) -> None:
    """Every channel contributes: its colour's dominant component lights up cells."""
    boxes = demo.layout.wells.values()
    wells = np.concatenate(
        [demo.pixels[b.top : b.bottom, b.left : b.right].reshape(-1, 3) for b in boxes]
    ).astype(int)
    blue = (wells[:, 2] > 150) & (wells[:, 2] > wells[:, 0] + 50)
    green = (wells[:, 1] > 150) & (wells[:, 1] > wells[:, 0] + 50)
    orange = (wells[:, 0] > 150) & (wells[:, 0] > wells[:, 2] + 80)
    for name, mask in (("DAPI", blue), ("GFP", green), ("Cy3", orange)):
        assert mask.mean() > 0.001, f"{name} is not visible: {mask.mean():.5f}"


def test_overview_puts_positions_that_are_no_well_in_a_row_of_their_own(tmp_path: Path) -> None:
    catalog = open_catalog(tmp_path)
    try:
        spec = SampleSpec(wells=("B2", "D4", "slide-1"), channels=("DAPI", "GFP"))
        uid = write_sample_run(catalog, tmp_path, spec)
        _, layout = render_overview(catalog[uid])
    finally:
        catalog.context.close()
    wells = layout.wells
    assert sorted(wells) == ["B2", "D4", "slide-1"]
    assert wells["B2"].right <= wells["D4"].left and wells["B2"].bottom <= wells["D4"].top
    # B..D and 2..4 are the plate's part; the slide is in a row below it, labelled by name.
    assert wells["slide-1"].top >= wells["D4"].bottom and wells["slide-1"].left == wells["B2"].left
    assert {"B", "C", "D", "2", "3", "4", "slide-1"} <= set(layout.labels)
    assert "E" not in layout.labels
    _, height = layout.size
    assert height < 4 * max(w.bottom - w.top for w in wells.values()) + 200


def test_overview_draws_positions_named_like_wells_as_positions_when_not_on_a_plate(
    tmp_path: Path,
) -> None:
    catalog = open_catalog(tmp_path)
    try:
        spec = SampleSpec(plate_format=None, wells=("P0", "P1", "P12"), channels=("DAPI",))
        uid = write_sample_run(catalog, tmp_path, spec)
        _, layout = render_overview(catalog[uid])
    finally:
        catalog.context.close()
    wells = layout.wells
    # One row, in acquisition order, each labelled by its name (no plate row "P").
    assert [w for w, _ in sorted(wells.items(), key=lambda kv: kv[1].left)] == ["P0", "P1", "P12"]
    assert len({w.top for w in wells.values()}) == 1
    assert {"P0", "P1", "P12"} <= set(layout.labels) and "P" not in layout.labels
