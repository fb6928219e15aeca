"""What the exporters read: a run's fields in the order they were taken, in few requests."""

from __future__ import annotations

import numpy as np

from fake_runs import PlateRun, frame, table_of
from hcs_storage.export import RunSource
from hcs_storage.query import RunInfo, run_layout

CHANNELS = ("DAPI", "GFP")


def source_of(rows: list[dict]) -> tuple[RunSource, PlateRun]:
    run = PlateRun(rows)
    table = table_of(rows)
    info = RunInfo("uid", "exp", "96", tuple("ABCDEFGH"), tuple(map(str, range(1, 13))), CHANNELS)
    return RunSource(run=run, info=info, layout=run_layout(table, CHANNELS), table=table), run


# B4 before B3, as a serpentine path takes them; the layout lists B3 first.
ROWS = [frame(w, f, c, 0) for w in ("B4", "B3") for f in (0, 1) for c in CHANNELS]


def test_run_source_yields_fields_in_the_order_taken_from_one_request() -> None:
    source, run = source_of(ROWS)
    stacks = list(source.fields())
    assert [(s.well, s.fov) for s in stacks] == [("B4", 0), ("B4", 1), ("B3", 0), ("B3", 1)]
    assert [s.index for s in stacks] == [2, 3, 0, 1]  # their places in the layout
    for stack in stacks:
        first = ROWS.index(frame(stack.well, stack.fov, "DAPI", 0))
        np.testing.assert_array_equal(stack.data[0, :, 0], run.images.data[first : first + 2, 0])
        assert stack.taken.all()
    assert run.images.requests == 1


def test_run_source_holds_at_most_max_bytes_of_fields_at_a_time() -> None:
    source, run = source_of(ROWS)
    field_bytes = 2 * 2 * 2 * 2  # two frames of 2 x 2 uint16
    stacks = list(source.fields(max_bytes=field_bytes))
    assert len(stacks) == 4
    assert run.images.requests == 4  # one field a batch: one request each
