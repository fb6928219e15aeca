"""The autofocus section of an acquisition spec: what it accepts and what it refuses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hcs_devices.config import UserFileError
from hcs_plans.autofocus import AutofocusPolicy
from hcs_plans.specs import spec_from_data

SEQUENCE = {
    "stage_positions": [{"x": 20000, "y": 20000}],
    "channels": [{"config": "DAPI"}],
}


def spec(autofocus: dict[str, Any], **sequence: Any) -> Any:
    return spec_from_data({"sequence": SEQUENCE | sequence, "autofocus": autofocus})


@pytest.mark.parametrize(
    "autofocus",
    [
        {},
        {"method": "focus_map", "focus_map": {"method": "thin_plate_spline"}},
        {"method": "contrast", "every": "nth", "every_n": 4},
        {"method": "contrast", "every": "first_per_well", "contrast": {"measure": "brenner"}},
        {"method": "laser", "focus_map": {"scope": "well", "points_per_well": 3}},
        {"method": "laser", "laser": {"actuator": "stage"}, "max_consecutive_warnings": 5},
    ],
)
def test_autofocus_policy_accepts_each_documented_choice_when_well_formed(
    autofocus: dict[str, Any],
) -> None:
    parsed = spec(autofocus).autofocus
    assert isinstance(parsed, AutofocusPolicy)
    assert parsed.model_dump(exclude_unset=True).keys() >= autofocus.keys()


@pytest.mark.parametrize(
    ("autofocus", "named"),
    [
        ({"method": "contrast", "evry": "fov"}, "autofocus.evry"),
        ({"method": "contrast", "contrast": {"mesure": "brenner"}}, "autofocus.contrast.mesure"),
        ({"method": "magic"}, "autofocus.method"),
        ({"method": "focus_map"}, "focus_map section"),
        ({"contrast": {"half_range_um": 2, "coarse_step_um": 3}}, "coarse_step_um"),
        (
            {"method": "contrast", "contrast": {"measure": "tenengrad"}},
            "autofocus.contrast.measure",
        ),
    ],
)
def test_autofocus_policy_refuses_and_names_the_field_when_misspelt_or_invalid(
    autofocus: dict[str, Any], named: str
) -> None:
    with pytest.raises(UserFileError, match=named):
        spec(autofocus)


def test_autofocus_policy_refuses_an_absolute_z_plan_when_autofocus_is_on() -> None:
    with pytest.raises(UserFileError, match="absolute z_plan"):
        spec({"method": "contrast"}, z_plan={"absolute": [2990.0, 3000.0]})
    assert spec({}, z_plan={"absolute": [2990.0, 3000.0]}).autofocus.method == "none"


HOW_TO = Path(__file__).resolve().parents[4] / "docs" / "how-to" / "choose-an-autofocus-policy.md"


def test_every_autofocus_block_of_the_how_to_is_a_valid_spec_section_when_parsed() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", HOW_TO.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 6
    for block in blocks:
        section = yaml.safe_load(block)["autofocus"]
        assert spec(section).autofocus.method == section["method"]
    assert (HOW_TO.parent / "images" / "focus-curve.png").is_file()
