"""Exports, checked with independent readers.

OME-Zarr plates are written with zarr + the yaozarrs models and read back with
``ome-zarr`` (the OME reference reader) and validated with ``ome-zarr-models``; OME-TIFF
files are written with tifffile and read back with tifffile and ``ome-types``. The
runs are synthetic (``hcs_storage.sample``): every pixel says which frame it is.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from hcs_orchestrator.cli import main as hcs_main
from hcs_storage.catalog import open_catalog
from hcs_storage.export import ExportError, export_ome_tiff, export_ome_zarr
from hcs_storage.export.ome_tiff import ome_colour
from hcs_storage.query import find_runs, run_info
from hcs_storage.sample import COLOURS, SampleSpec, sample_frame, write_sample_run

# A system test (real RunEngine, real Tiled catalog): part of the full suite only.
pytestmark = pytest.mark.slow

PLATE = SampleSpec(
    experiment_id="exp-zarr",
    wells=("B3", "C10"),
    fields_per_well=2,
    channels=("DAPI", "GFP", "Cy3"),
    z_planes=3,
    time_points=2,
    shape=(48, 64),
    pixel_size_um=0.325,
    z_step_um=2.5,
    skip=frozenset({("C10", 1, "GFP", 2, 1)}),
)
SECOND = SampleSpec(
    experiment_id="exp-zarr", wells=("B3",), fields_per_well=1, channels=("DAPI",), z_planes=1
)


@dataclass
class Exported:
    data_dir: Path
    catalog: Any
    uid: str
    second: str


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    data_dir = tmp_path_factory.mktemp("export-data")
    catalog = open_catalog(data_dir)
    uid = write_sample_run(catalog, data_dir, PLATE)
    second = write_sample_run(catalog, data_dir, SECOND)
    return Exported(data_dir, catalog, uid, second)


def expected_field(spec: SampleSpec, well: str, fov: int) -> np.ndarray:
    """(t, c, z, y, x) of one field, computed from the spec alone; zeros where skipped."""
    h, w = spec.shape
    out = np.zeros((spec.time_points, len(spec.channels), spec.z_planes, h, w), np.uint16)
    for frame in spec.frames():
        if frame["well"] == well and frame["fov"] == fov:
            c = spec.channels.index(frame["channel"])
            out[frame["time_index"], c, frame["z_index"]] = sample_frame(spec, frame)
    return out


# --- OME-Zarr ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def plate_path(exported: Exported, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zarr") / "plate.zarr"
    return export_ome_zarr(exported.catalog[exported.uid], out)


def test_ome_zarr_plate_layout_in_the_ome_zarr_reader(plate_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Plate, Reader

    location = parse_url(str(plate_path))
    assert location is not None and location.version == "0.5"
    node = next(iter(Reader(location)()))
    plate = node.load(Plate)
    assert plate is not None
    assert plate.row_names == list("ABCDEFGH")
    assert plate.col_names == [str(i) for i in range(1, 13)]
    assert sorted(plate.well_paths) == ["B/3", "C/10"]


def test_ome_zarr_fields_shapes_channels_and_pixel_sizes_in_the_ome_zarr_reader(
    plate_path: Path,
) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    for well, row_col in (("B3", "B/3"), ("C10", "C/10")):
        for fov in range(PLATE.fields_per_well):
            location = parse_url(str(plate_path / row_col / str(fov)))
            assert location is not None
            node = next(iter(Reader(location)()))
            assert node.load(Multiscales) is not None
            meta = node.metadata
            assert [a["name"] for a in meta["axes"]] == ["t", "c", "z", "y", "x"]
            assert [a.get("unit") for a in meta["axes"][2:]] == ["micrometer"] * 3
            assert meta["channel_names"] == list(PLATE.channels)
            scale = meta["coordinateTransformations"][0][0]
            assert scale["type"] == "scale"
            assert scale["scale"] == pytest.approx([1, 1, 2.5, 0.325, 0.325])
            colours = [np.round(np.array(c[1]) * 255).astype(int) for c in meta["colormap"]]
            want = [[int(COLOURS[c][i : i + 2], 16) for i in (1, 3, 5)] for c in PLATE.channels]
            assert [list(c) for c in colours] == want
            data = np.asarray(node.data[0])
            assert data.shape == (2, 3, 3, 48, 64)
            np.testing.assert_array_equal(data, expected_field(PLATE, well, fov))


def block_means(level: np.ndarray) -> np.ndarray:
    """The 2 x 2 block means of an even-sized level, rounded to uint16."""
    a = level.astype(np.float64)
    total = a[..., ::2, ::2] + a[..., 1::2, ::2] + a[..., ::2, 1::2] + a[..., 1::2, 1::2]
    return np.rint(total / 4).astype(level.dtype)


def test_ome_zarr_fields_carry_a_pyramid_in_the_ome_zarr_reader(plate_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    location = parse_url(str(plate_path / "C" / "10" / "1"))
    assert location is not None
    node = next(iter(Reader(location)()))
    assert node.load(Multiscales) is not None
    levels = [np.asarray(level) for level in node.data]
    assert len(levels) >= 3
    assert [level.shape[-2:] for level in levels[:3]] == [(48, 64), (24, 32), (12, 16)]
    np.testing.assert_array_equal(levels[0], expected_field(PLATE, "C10", 1))
    for finer, coarser in itertools.pairwise(levels):
        assert coarser.shape[:3] == finer.shape[:3]
        np.testing.assert_array_equal(coarser, block_means(finer))
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert [s[-1] for s in scales] == pytest.approx([0.325 * 2**k for k in range(len(levels))])


def test_ome_zarr_export_reports_progress_up_to_the_image_count(
    exported: Exported, tmp_path: Path
) -> None:
    calls: list[tuple[int, int]] = []
    export_ome_zarr(
        exported.catalog[exported.uid],
        tmp_path / "p.zarr",
        progress=lambda done, total: calls.append((done, total)),
    )
    images = len(list(PLATE.frames()))
    assert len(calls) == len(PLATE.wells) * PLATE.fields_per_well
    assert calls[-1] == (images, images)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


def test_ome_tiff_export_reports_progress_up_to_the_image_count(
    exported: Exported, tmp_path: Path
) -> None:
    calls: list[tuple[int, int]] = []
    export_ome_tiff(
        exported.catalog[exported.uid],
        tmp_path / "t",
        progress=lambda done, total: calls.append((done, total)),
    )
    images = len(list(PLATE.frames()))
    assert calls[-1] == (images, images)
    assert len(calls) == len(PLATE.wells) * PLATE.fields_per_well


def test_ome_zarr_metadata_validates_with_ome_zarr_models(plate_path: Path) -> None:
    from ome_zarr_models.v05.hcs import HCS

    hcs = HCS.from_zarr(zarr.open_group(plate_path, mode="r"))
    plate = hcs.ome_attributes.plate
    assert plate.field_count == 2
    assert [w.path for w in plate.wells] == ["B/3", "C/10"]
    assert [(w.rowIndex, w.columnIndex) for w in plate.wells] == [(1, 2), (2, 9)]


def test_ome_zarr_metadata_validates_with_yaozarrs(plate_path: Path) -> None:
    import yaozarrs

    yaozarrs.validate_zarr_store(str(plate_path))


def test_ome_zarr_experiment_runs_become_acquisitions(exported: Exported, tmp_path: Path) -> None:
    runs = list(find_runs(exported.catalog, experiment_id="exp-zarr").values())
    runs.sort(key=lambda r: r.metadata["start"]["time"])
    out = export_ome_zarr(runs, tmp_path / "experiment.zarr")
    root = zarr.open_group(out, mode="r")
    plate = dict(root.attrs)["ome"]["plate"]
    assert [a["name"] for a in plate["acquisitions"]] == [exported.uid, exported.second]
    well = dict(root["B/3"].attrs)["ome"]["well"]
    assert well["images"] == [
        {"path": "0", "acquisition": 0},
        {"path": "1", "acquisition": 0},
        {"path": "2", "acquisition": 1},
    ]
    assert root["B/3/2/0"].shape == (1, 1, 1, 64, 64)
    assert dict(root.attrs)["hcs"]["runs"] == [exported.uid, exported.second]


REVERSED = SampleSpec(
    experiment_id="exp-reversed",
    wells=("C10", "B3"),  # taken against plate order, as a serpentine path does
    fields_per_well=2,
    channels=("DAPI", "GFP"),
    z_planes=2,
    shape=(32, 40),
)


def test_ome_zarr_fields_hold_their_own_frames_when_wells_were_taken_against_plate_order(
    exported: Exported, tmp_path: Path
) -> None:
    reversed_uid = write_sample_run(exported.catalog, exported.data_dir, REVERSED)
    runs = [exported.catalog[exported.second], exported.catalog[reversed_uid]]
    root = zarr.open_group(export_ome_zarr(runs, tmp_path / "reversed.zarr"), mode="r")
    well = dict(root["B/3"].attrs)["ome"]["well"]
    assert [(i["path"], i["acquisition"]) for i in well["images"]] == [
        ("0", 0),
        ("1", 1),
        ("2", 1),
    ]
    for path, fov in (("1", 0), ("2", 1)):
        field = root[f"B/3/{path}"]
        assert dict(field.attrs)["hcs"]["run"] == reversed_uid
        assert dict(field.attrs)["hcs"]["fov"] == fov
        np.testing.assert_array_equal(field["0"][...], expected_field(REVERSED, "B3", fov))
    np.testing.assert_array_equal(root["C/10/1/0"][...], expected_field(REVERSED, "C10", 1))


def test_ome_zarr_export_refuses_to_overwrite_unless_asked(
    exported: Exported, tmp_path: Path
) -> None:
    run = exported.catalog[exported.second]
    out = export_ome_zarr(run, tmp_path / "p.zarr")
    with pytest.raises(ExportError, match="exists"):
        export_ome_zarr(run, out)
    export_ome_zarr(run, out, overwrite=True)
    other = tmp_path / "not-an-export"
    other.mkdir()
    with pytest.raises(ExportError, match="not an earlier export"):
        export_ome_zarr(run, other, overwrite=True)


# --- OME-TIFF ----------------------------------------------------------------------


def test_ome_tiff_one_file_per_field_with_ome_metadata(exported: Exported, tmp_path: Path) -> None:
    import ome_types

    files = export_ome_tiff(exported.catalog[exported.uid], tmp_path / "tiff")
    assert [f.name for f in files] == [
        "B3_f000.ome.tif",
        "B3_f001.ome.tif",
        "C10_f000.ome.tif",
        "C10_f001.ome.tif",
    ]
    manifest = json.loads((tmp_path / "tiff" / "hcs-export.json").read_text())
    assert manifest["run"] == exported.uid
    with tifffile.TiffFile(files[3]) as tif:
        assert tif.is_ome
        series = tif.series[0]
        assert series.axes == "TCZYX"
        np.testing.assert_array_equal(series.asarray(), expected_field(PLATE, "C10", 1))
        ome = ome_types.from_xml(tif.ome_metadata)
    pixels = ome.images[0].pixels
    assert (pixels.size_t, pixels.size_c, pixels.size_z) == (2, 3, 3)
    assert pixels.physical_size_x == pytest.approx(0.325)
    assert pixels.physical_size_z == pytest.approx(2.5)
    assert pixels.physical_size_x_unit.value == "µm"
    assert [c.name for c in pixels.channels] == list(PLATE.channels)
    assert [c.color.as_hex().upper() for c in pixels.channels if c.color] == [
        COLOURS[c].upper() for c in PLATE.channels
    ]
    plane = next(p for p in pixels.planes if (p.the_t, p.the_c, p.the_z) == (1, 0, 2))
    assert plane.position_z == pytest.approx(3000.0 + 2 * 2.5)
    assert plane.position_x == pytest.approx(20_600.0)
    assert plane.exposure_time == pytest.approx(10.0)


def test_ome_colour_is_signed_rgba() -> None:
    assert ome_colour("#FF0000") == -16776961  # 0xFF0000FF as int32
    assert ome_colour("#00FF00") == 0x00FF00FF
    with pytest.raises(ValueError, match="RRGGBB"):
        ome_colour("red")


# --- the command -------------------------------------------------------------------


@pytest.mark.slow
def test_hcs_export_by_uid_prefix_and_by_experiment(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported.catalog.context.close()  # the command opens the directory itself
    try:
        base = ["--data-dir", str(exported.data_dir)]
        assert (
            hcs_main(["export", exported.second[:8], "--out", str(tmp_path / "a.zarr"), *base]) == 0
        )
        assert (tmp_path / "a.zarr" / "B" / "3" / "0" / "0" / "zarr.json").exists()
        tiffs = tmp_path / "tiffs"
        args = ["export", exported.second[:8], "--format", "ome-tiff", "--out", str(tiffs)]
        assert hcs_main([*args, *base]) == 0
        assert (tiffs / "B3_f000.ome.tif").exists()
        out = tmp_path / "exp.zarr"
        assert hcs_main(["export", "--experiment", "exp-zarr", "--out", str(out), *base]) == 0
        assert len(dict(zarr.open_group(out, mode="r").attrs)["hcs"]["runs"]) == 2
        assert hcs_main(["export", "ffffffff", "--out", str(tmp_path / "x"), *base]) == 2
        err = capsys.readouterr().err
        assert "no run" in err
        assert "export:" not in err, "a progress bar was drawn on a stream that is no terminal"
    finally:
        exported.catalog = open_catalog(exported.data_dir)


# --- positions that are no plate's wells -------------------------------------------

POSITIONS = SampleSpec(
    experiment_id="exp-points",
    plate_format=None,
    wells=("P0", "slide 1/left", "P1"),
    fields_per_well=1,
    channels=("DAPI", "GFP"),
    z_planes=2,
    shape=(32, 40),
)


@pytest.fixture(scope="module")
def points_uid(exported: Exported) -> str:
    return write_sample_run(exported.catalog, exported.data_dir, POSITIONS)


def test_run_info_reads_positions_named_like_wells_as_positions_when_not_on_a_plate(
    exported: Exported, points_uid: str
) -> None:
    info = run_info(exported.catalog[points_uid])
    assert not info.on_plate and info.plate_rows == () and info.plate_columns == ()
    assert run_info(exported.catalog[exported.uid]).on_plate


def test_ome_zarr_export_of_positions_is_a_collection_of_images_read_by_ome_zarr(
    exported: Exported, points_uid: str, tmp_path: Path
) -> None:
    import yaozarrs
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    out = export_ome_zarr(exported.catalog[points_uid], tmp_path / "points.zarr")
    yaozarrs.validate_zarr_store(str(out))
    root = zarr.open_group(out, mode="r")
    assert root.attrs["ome"]["bioformats2raw.layout"] == 3
    assert root["OME"].attrs["ome"]["series"] == ["0", "1", "2"]
    for i, position in enumerate(POSITIONS.wells):
        location = parse_url(str(out / str(i)))
        assert location is not None
        node = next(iter(Reader(location)()))
        assert node.load(Multiscales) is not None
        assert node.metadata["name"] == f"{position}/0"
        assert root[str(i)].attrs["hcs"]["well"] == position
        np.testing.assert_array_equal(
            np.asarray(node.data[0]), expected_field(POSITIONS, position, 0)
        )


def test_ome_tiff_export_of_positions_names_files_after_the_positions(
    exported: Exported, points_uid: str, tmp_path: Path
) -> None:
    files = export_ome_tiff(exported.catalog[points_uid], tmp_path / "tiff")
    assert [f.name for f in files] == [
        "P0_f000.ome.tif",
        "slide_1_left_f000.ome.tif",
        "P1_f000.ome.tif",
    ]
    with tifffile.TiffFile(files[1]) as tif:
        np.testing.assert_array_equal(
            tif.series[0].asarray(), expected_field(POSITIONS, "slide 1/left", 0)[0]
        )


def test_ome_zarr_export_refuses_plate_runs_with_runs_at_positions(
    exported: Exported, points_uid: str, tmp_path: Path
) -> None:
    runs = [exported.catalog[exported.uid], exported.catalog[points_uid]]
    with pytest.raises(ExportError, match="export them apart"):
        export_ome_zarr(runs, tmp_path / "mixed.zarr")
    assert not (tmp_path / "mixed.zarr").exists()
