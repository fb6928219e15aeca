"""A microscope configuration file either loads, or says which file, field and what is allowed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hcs_devices.config import MicroscopeConfig, UserFileError, load_config

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting a dotted path (``channels.1.exposure_ms``) to a value."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _rename(path: str, new_key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[new_key] = node.pop(last)

    return mutate


# id, mutation, the field path the message must name, what the message must allow
BAD_FILES: list[tuple[str, Mutation, str, str]] = [
    (
        "unknown key",
        _set("channels.1.exposure_time", 20),
        "channels[1].exposure_time: unknown key",
        "exposure_ms",
    ),
    (
        "wrong unit in the key",
        _rename("channels.1.exposure_ms", "exposure_s"),
        "channels[1].exposure_s: unknown key",
        "exposure_ms",
    ),
    (
        "unit in the value",
        _set("channels.1.exposure_ms", "20 s"),
        "channels[1].exposure_ms",
        "valid number",
    ),
    (
        "negative exposure",
        _set("channels.1.exposure_ms", -5),
        "channels[1].exposure_ms",
        "greater than 0",
    ),
    (
        "exposure beyond the camera",
        _set("channels.0.exposure_ms", 20000),
        "channels[0].exposure_ms",
        "camera's range [0.1, 10000.0]",
    ),
    (
        "channel names a missing filter position",
        _set("channels.1.filter_position", 7),
        "channels[1].filter_position",
        "declared positions are [1, 2, 3, 4, 5]",
    ),
    (
        "channel names an unknown source",
        _set("channels.1.source", "405nm"),
        "channels[1].source",
        "'405', '488', '561', '638', 'led_matrix_full'",
    ),
    (
        "low limit above high limit",
        _set("stage.z.low_limit_um", 8000),
        "stage.z.low_limit_um",
        "must be below high_limit_um (7000.0)",
    ),
    ("misspelt section", _rename("camera", "camrea"), "camrea: unknown key", "camera"),
    (
        "speed with a unit",
        _set("stage.x.max_velocity_um_s", "30 mm/s"),
        "stage.x.max_velocity_um_s",
        "valid number",
    ),
    ("unknown objective", _set("objective", "60x"), "objective", "['4x', '10x', '20x', '40x']"),
    (
        "filter beyond the wheel",
        _set("filter_wheel.filters.4.position", 9),
        "filter_wheel.filters[4].position",
        "positions 1..8",
    ),
    (
        "unknown plate format",
        _set("specimen.plate_format", "97"),
        "specimen.plate_format",
        "'1536', '24', '384', '48', '6', '96'",
    ),
    (
        "durable frames neither yes nor no",
        _set("frames.durable", "sometimes"),
        "frames.durable",
        "valid boolean",
    ),
]


@pytest.fixture(scope="module")
def profile_data(profile_config_path: Path) -> dict[str, Any]:
    return yaml.safe_load(profile_config_path.read_text())


def test_load_config_returns_the_microscope_when_given_the_shipped_profile(
    profile_config_path: Path,
) -> None:
    config = load_config(profile_config_path)
    assert isinstance(config, MicroscopeConfig)
    assert [c.name for c in config.channels] == ["BF", "DAPI", "GFP", "Cy3", "Cy5"]
    assert config.active_objective.name == "20x"
    assert config.pixel_size_um() == pytest.approx(6.5 / 20)


def test_load_config_round_trips_when_dumped_and_reloaded(
    profile_data: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(profile_data))
    config = load_config(path)
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    assert load_config(again) == config


@pytest.mark.parametrize(
    ("mutate", "field", "allowed"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_load_config_names_file_field_and_allowed_values_when_the_file_is_invalid(
    profile_data: dict[str, Any], tmp_path: Path, mutate: Mutation, field: str, allowed: str
) -> None:
    data = copy.deepcopy(profile_data)
    mutate(data)
    path = tmp_path / "bad-microscope.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    with pytest.raises(UserFileError) as caught:
        load_config(path)

    message = str(caught.value)
    assert message.startswith(str(path))
    lines = [line for line in message.splitlines() if field in line]
    assert lines, f"no line names {field!r}:\n{message}"
    assert any(allowed in line for line in lines), message
    assert caught.value.source == str(path)


def test_load_config_names_the_file_when_it_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("camera: {sensor_width_px: 2048\nchannels: [")
    with pytest.raises(UserFileError, match=r"broken\.yaml: not valid YAML"):
        load_config(path)


def test_load_config_names_the_file_when_it_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(UserFileError, match=r"absent\.yaml: cannot read"):
        load_config(path)


def test_load_config_lists_every_problem_when_a_file_has_several(
    profile_data: dict[str, Any], tmp_path: Path
) -> None:
    data = copy.deepcopy(profile_data)
    data["channels"][2]["intensity_percent"] = 140
    data["camera"]["bit_depth"] = 15
    path = tmp_path / "two-problems.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserFileError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert any(p.startswith("channels[2].intensity_percent") and "100" in p for p in problems)
    assert any(p.startswith("camera.bit_depth") and "16" in p for p in problems)
