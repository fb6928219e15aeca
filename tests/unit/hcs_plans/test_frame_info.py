"""FrameTable: the per-image metadata rows a plate run collects as one page per field."""

from __future__ import annotations

from typing import Any

import pytest

from hcs_plans.frame_info import FrameTable

#: Every field of a row, with a value of its kind.
ROW: dict[str, Any] = {
    "experiment_id": "exp-1",
    "well": "B2",
    "fov": 0,
    "x_um": 14380.0,
    "y_um": 11240.0,
    "z_um": 3000.5,
    "channel": "DAPI",
    "z_index": 0,
    "time_index": 0,
    "exposure_ms": 5.0,
}


def row(**changes: Any) -> dict[str, Any]:
    return ROW | changes


def test_add_refuses_a_row_with_an_unknown_field_and_names_it() -> None:
    table = FrameTable()
    with pytest.raises(KeyError, match=r"unknown \['binning'\]"):
        table.add(**row(binning=2))
    assert table.pending == 0


def test_add_refuses_a_row_with_a_missing_field_and_names_it() -> None:
    table = FrameTable()
    incomplete = {k: v for k, v in ROW.items() if k != "z_index"}
    with pytest.raises(KeyError, match=r"missing \['z_index'\]"):
        table.add(**incomplete)
    assert table.pending == 0


def test_add_names_unknown_and_missing_fields_apart_when_a_field_is_misspelt() -> None:
    table = FrameTable()
    misspelt = {("chanel" if k == "channel" else k): v for k, v in ROW.items()}
    with pytest.raises(KeyError) as error:
        table.add(**misspelt)
    message = str(error.value)
    assert "unknown ['chanel']" in message
    assert "missing ['channel']" in message


def test_collect_pages_yields_nothing_when_no_row_is_pending() -> None:
    table = FrameTable()
    assert list(table.collect_pages()) == []
    table.add(**ROW)
    list(table.collect_pages())
    assert list(table.collect_pages()) == []  # collected already


def test_collect_pages_yields_one_page_of_the_rows_in_order_and_clears_them() -> None:
    table = FrameTable()
    rows = [row(fov=fov, channel=ch, z_um=3000.0 + fov) for fov in (0, 1) for ch in ("DAPI", "GFP")]
    for r in rows:
        table.add(**r)
    assert table.pending == len(rows)

    (page,) = list(table.collect_pages())
    assert table.pending == 0
    assert set(page["data"]) == set(table.describe_collect())
    for field in ROW:
        assert page["data"][f"frame-{field}"] == [r[field] for r in rows], field
        assert len(page["timestamps"][f"frame-{field}"]) == len(rows)
    assert len(page["time"]) == len(rows)
    assert page["time"] == sorted(page["time"])  # each row stamped when it was added

    # The next field's rows make a page of their own.
    table.add(**row(fov=2))
    (following,) = list(table.collect_pages())
    assert following["data"]["frame-fov"] == [2]


def test_keep_drops_the_rows_of_images_that_never_reached_disk() -> None:
    table = FrameTable()
    for z_index in range(4):
        table.add(**row(z_index=z_index))
    table.keep(2)
    assert table.pending == 2
    (page,) = list(table.collect_pages())
    assert page["data"]["frame-z_index"] == [0, 1]
    assert len(page["time"]) == 2
    assert table.collected == 2
    table.add(**ROW)
    table.keep(0)
    assert list(table.collect_pages()) == []
    assert table.collected == 2


def test_describe_collect_gives_every_field_its_type_and_units() -> None:
    table = FrameTable()
    keys = table.describe_collect()
    assert set(keys) == {f"frame-{field}" for field in ROW}
    for field, value in ROW.items():
        key = keys[f"frame-{field}"]
        assert key["shape"] == []
        if isinstance(value, str):
            assert key["dtype"] == "string"
            assert "dtype_numpy" not in key  # no fixed-width string type for free text
        elif isinstance(value, int):
            assert key["dtype"] == "integer"
            assert key.get("dtype_numpy") == "<i8"
        else:
            assert key["dtype"] == "number"
            assert key.get("dtype_numpy") == "<f8"
    units = {field: keys[f"frame-{field}"].get("units") for field in ROW}
    assert units == {
        "experiment_id": None, "well": None, "fov": None,
        "x_um": "um", "y_um": "um", "z_um": "um",
        "channel": None, "z_index": None, "time_index": None,
        "exposure_ms": "ms",
    }  # fmt: skip


def test_describe_collect_prefixes_keys_with_the_table_name() -> None:
    table = FrameTable(name="tile")
    assert set(table.describe_collect()) == {f"tile-{field}" for field in ROW}
    table.add(**ROW)
    (page,) = list(table.collect_pages())
    assert page["data"]["tile-well"] == ["B2"]
