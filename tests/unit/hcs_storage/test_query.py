"""Frame selection and layout: pure functions on a run's frame table (no catalog)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fake_runs import CountingImages, PlateRun, frame, table_of
from hcs_storage.query import (
    find_runs,
    join_gap_frames,
    read_frames,
    row_name,
    run_layout,
    select_frames,
    split_well,
    well_fields,
    well_sort_key,
)
from hcs_storage.read.images import WELL_FIELD_COLUMNS


def test_row_names_and_well_names() -> None:
    assert [row_name(i) for i in (0, 7, 25, 26, 31)] == ["A", "H", "Z", "AA", "AF"]
    assert split_well("B3") == ("B", "3") and split_well("af48") == ("AF", "48")
    assert split_well("C03") == ("C", "3")
    with pytest.raises(ValueError, match="not a well name"):
        split_well("3B")
    assert sorted(["B10", "B2", "A12", "pos1"], key=well_sort_key) == ["A12", "B2", "B10", "pos1"]


def test_select_frames_matches_every_criterion() -> None:
    table = table_of(
        [frame("B2", 0, "DAPI", 0), frame("B2", 0, "GFP", 0), frame("B3", 1, "GFP", 1, t=1)]
    )
    assert select_frames(table, channel="GFP").tolist() == [1, 2]
    assert select_frames(table, well="B3", time_index=1, z_index=1).tolist() == [2]
    assert select_frames(table, fov=0, channel="Cy5").tolist() == []
    assert select_frames(table).tolist() == [0, 1, 2]


def test_run_layout_orders_wells_by_row_then_column_number() -> None:
    table = table_of(
        [frame("B10", 0, "GFP", 0), frame("B2", 1, "GFP", 0), frame("B2", 0, "GFP", 0)]
    )
    layout = run_layout(table)
    assert layout.fields == (("B2", 0), ("B2", 1), ("B10", 0))
    assert layout.frames[:, 0, 0, 0].tolist() == [2, 1, 0]
    assert layout.x_um.tolist() == [0.0, 100.0, 0.0]


def test_run_layout_marks_missing_frames_and_keeps_the_last_repeat() -> None:
    rows = [frame("A1", 0, c, z) for c in ("DAPI", "GFP") for z in (0, 1)]
    rows = [*rows[:3], frame("A1", 0, "DAPI", 0, z_um=10.5)]  # GFP z1 missing, DAPI z0 again
    layout = run_layout(table_of(rows), channels=("GFP", "DAPI"))
    assert layout.channels == ("GFP", "DAPI")
    assert layout.frames[0, 0].tolist() == [[2, -1], [3, 1]]
    assert layout.z_um[0, 0, 1, 0] == 10.5
    assert np.isnan(layout.z_um[0, 0, 0, 1])
    assert layout.z_step_um() == pytest.approx(1.5)  # DAPI: 10.5 -> 12


def test_run_layout_z_step_is_none_with_one_plane() -> None:
    assert run_layout(table_of([frame("A1", 0, "BF", 0)])).z_step_um() is None


def test_layout_subset_refuses_unknown_names() -> None:
    layout = run_layout(table_of([frame("A1", 0, "BF", 0), frame("A2", 0, "BF", 0, t=1)]))
    sub = layout.subset(wells=["A2"], time_indices=[1])
    assert sub.fields == (("A2", 0),) and sub.frames.shape == (1, 1, 1, 1)
    with pytest.raises(KeyError, match="no channel 'GFP'"):
        layout.subset(channels=["GFP"])


def test_read_frames_reads_consecutive_frames_in_one_request() -> None:
    images = CountingImages(10)
    got = dict(read_frames(images, [7, 1, 2, 3, 8, 5]))
    assert sorted(got) == [1, 2, 3, 5, 7, 8]
    assert images.requests == 3
    np.testing.assert_array_equal(got[5], images.data[5, 0])
    images.requests = 0
    assert len(dict(read_frames(images, range(10), max_bytes=3 * 8))) == 10
    assert images.requests == 4  # at most 3 frames (8 bytes each) per request


class RecordingCatalog:
    def __init__(self) -> None:
        self.queries: list[Any] = []

    def search(self, query: Any) -> RecordingCatalog:
        self.queries.append(query)
        return self


def test_find_runs_quotes_list_items_so_b1_does_not_match_b10() -> None:
    catalog = RecordingCatalog()
    find_runs(catalog, experiment_id="e1", well="B1", channel="GFP", since=5.0)
    keys = [(type(q).__name__, q.key, getattr(q, "value", None)) for q in catalog.queries]
    assert keys == [
        ("Eq", "start.experiment_id", "e1"),
        ("Contains", "start.wells", '"B1"'),
        ("Contains", "start.channels", '"GFP"'),
        ("Comparison", "start.time", 5.0),
    ]
    with pytest.raises(ValueError, match="quotes"):
        find_runs(catalog, well='B"1')


def test_read_frames_joins_runs_a_few_frames_apart_and_reads_every_step_th_pixel() -> None:
    images = CountingImages(20)
    images.data = np.arange(20 * 16, dtype=np.uint16).reshape(20, 1, 4, 4)
    images.shape = images.data.shape
    got = dict(read_frames(images, [2, 4, 6, 15], gap_frames=1, step=2))
    assert sorted(got) == [2, 4, 6, 15]
    assert images.requests == 2  # 2..6 (skipping 3 and 5), then 15 alone
    np.testing.assert_array_equal(got[4], images.data[4, 0, ::2, ::2])
    images.requests = 0
    assert sorted(dict(read_frames(images, [2, 4, 6], gap_frames=0))) == [2, 4, 6]
    assert images.requests == 3


def test_join_gap_frames_skips_small_frames_only() -> None:
    small, large = CountingImages(1), CountingImages(1)
    large.shape = (1, 1, 2048, 2048)
    assert join_gap_frames(small) > 0
    assert join_gap_frames(large) == 0  # an 8 MiB frame costs more than a request


def test_well_fields_reads_the_placing_columns_and_the_well_in_one_request() -> None:
    rows = [
        frame(w, f, c, 0)
        for w in ("B3", "B4")
        for f in (1, 0)  # taken out of order: the result is in fov order
        for c in ("DAPI", "GFP")
    ]
    run = PlateRun(rows)
    found = well_fields(run, "B3", "DAPI")
    assert [(f.well, f.fov, f.channel, f.x_um) for f in found] == [
        ("B3", 0, "DAPI", 0.0),
        ("B3", 1, "DAPI", 100.0),
    ]
    np.testing.assert_array_equal(found[0].image, run.images.data[2, 0])
    assert run.images.requests == 1  # frames 0 and 2, GFP's frame between them dropped
    assert [sorted(asked) for asked in run.table.asked] == [
        sorted(f"frame-{c}" for c in WELL_FIELD_COLUMNS)
    ]  # not exposure_ms, nor seq_num
