"""FrameRows: every image's row, collected up to the images the camera announced."""

from __future__ import annotations

from typing import Any

import pytest

from hcs_devices.camera.field import FrameRows

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
    "round": 2,
    "bit": "bit03",
}


def row(**changes: Any) -> dict[str, Any]:
    return ROW | changes


class Announced:
    """The camera's count of images announced, set by the test."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


def table(name: str = "frame") -> tuple[FrameRows, Announced]:
    announced = Announced()
    return FrameRows(announced=announced, name=name), announced


def test_record_refuses_a_row_with_an_unknown_field_and_names_it() -> None:
    rows, _ = table()
    with pytest.raises(KeyError, match=r"unknown \['binning'\]"):
        rows.record(0, row(binning=2))


def test_record_refuses_a_row_with_a_missing_field_and_names_it() -> None:
    rows, _ = table()
    incomplete = {k: v for k, v in ROW.items() if k != "z_index"}
    with pytest.raises(KeyError, match=r"missing \['z_index'\]"):
        rows.record(0, incomplete)


def test_record_gives_a_plate_row_round_0_and_no_bit_when_they_are_left_out() -> None:
    rows, announced = table()
    rows.record(0, {k: v for k, v in ROW.items() if k not in ("round", "bit")})
    rows.record(1, ROW)
    announced.count = 2
    (page,) = list(rows.collect_pages())
    assert page["data"]["frame-round"] == [0, 2]
    assert page["data"]["frame-bit"] == ["", "bit03"]


def test_record_names_unknown_and_missing_fields_apart_when_a_field_is_misspelt() -> None:
    rows, _ = table()
    misspelt = {("chanel" if k == "channel" else k): v for k, v in ROW.items()}
    with pytest.raises(KeyError) as error:
        rows.record(0, misspelt)
    message = str(error.value)
    assert "unknown ['chanel']" in message
    assert "missing ['channel']" in message


def test_collect_pages_yields_nothing_until_the_camera_announces_images() -> None:
    rows, announced = table()
    rows.record(0, ROW)
    assert list(rows.collect_pages()) == []  # recorded, the image not announced
    announced.count = 1
    assert rows.pending == 1
    list(rows.collect_pages())
    assert list(rows.collect_pages()) == []  # collected already
    assert rows.pending == 0


def test_collect_pages_yields_one_page_of_the_announced_rows_in_image_order() -> None:
    rows, announced = table()
    expected = [
        row(fov=fov, channel=ch, z_um=3000.0 + fov) for fov in (0, 1) for ch in ("DAPI", "GFP")
    ]
    for index in reversed(range(len(expected))):  # recorded in any order, collected in image order
        rows.record(index, expected[index])
    announced.count = len(expected)

    (page,) = list(rows.collect_pages())
    assert set(page["data"]) == set(rows.describe_collect())
    for field in ROW:
        assert page["data"][f"frame-{field}"] == [r[field] for r in expected], field
        assert len(page["timestamps"][f"frame-{field}"]) == len(expected)
    assert len(page["time"]) == len(expected)
    assert rows.collected == len(expected)

    # The next field's rows make a page of their own.
    rows.record(4, row(fov=2))
    announced.count = 5
    (following,) = list(rows.collect_pages())
    assert following["data"]["frame-fov"] == [2]


def test_rows_of_frames_never_written_are_replaced_when_the_frame_is_taken_again() -> None:
    rows, announced = table()
    rows.record(0, row(z_index=0))
    rows.record(1, row(z_index=1, z_um=1.0))  # its frame never reached disk
    rows.record(1, row(z_index=1, z_um=2.0))  # taken again after a pause
    announced.count = 2
    (page,) = list(rows.collect_pages())
    assert page["data"]["frame-z_um"] == [ROW["z_um"], 2.0]
    with pytest.raises(ValueError, match="collected already"):
        rows.record(1, ROW)


def test_collect_pages_refuses_to_announce_an_image_without_its_row() -> None:
    rows, announced = table()
    rows.record(0, ROW)
    announced.count = 2
    with pytest.raises(RuntimeError, match=r"images \[1\] were announced without their rows"):
        list(rows.collect_pages())
    assert rows.collected == 0


def test_describe_collect_gives_every_field_its_type_and_units() -> None:
    rows, _ = table()
    keys = rows.describe_collect()
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
        "exposure_ms": "ms", "round": None, "bit": None,
    }  # fmt: skip


def test_describe_collect_prefixes_keys_with_the_table_name() -> None:
    rows, announced = table(name="tile")
    assert set(rows.describe_collect()) == {f"tile-{field}" for field in ROW}
    rows.record(0, ROW)
    announced.count = 1
    (page,) = list(rows.collect_pages())
    assert page["data"]["tile-well"] == ["B2"]
