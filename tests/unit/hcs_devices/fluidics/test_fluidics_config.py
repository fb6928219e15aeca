"""The fluidics configuration: defaults, YAML shape, and errors naming field and range."""

from __future__ import annotations

import pydantic
import pytest
import yaml

from hcs_devices.fluidics import FluidicsConfig, build_fluidics
from hcs_devices.fluidics.backends import SimPumpBackend, SimValveChainBackend

YAML = """
valves:
  port: sim
  n_valves: 2
  ports_per_valve: [8, 6]
pump:
  kind: gilson_minipuls3
  tube_ul_per_rev: 31.5
reagents:
  wash: [[1, 8]]
  readout_01: [[1, 1], [2, 6]]
"""


def _config(**changes):
    data = yaml.safe_load(YAML)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return FluidicsConfig.model_validate(data)


def test_config_loads_yaml_when_valid():
    config = _config()
    assert config.valves.port_counts == (8, 6)
    assert config.reagents["readout_01"] == ((1, 1), (2, 6))
    assert config.pump.max_rate_ul_min == pytest.approx(48 * 31.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"valves__n_valves": 17}, r"valves\.n_valves[\s\S]*must be in 1\.\.16, got 17"),
        (
            {"valves__ports_per_valve": [8, 5]},
            r"5 ports is not a valve size; allowed: \[2, 3, 4, 6, 8\]",
        ),
        ({"valves__ports_per_valve": [8]}, r"lists 1 valve\(s\) but n_valves is 2"),
        ({"pump__unit_id": 64}, r"pump\.unit_id[\s\S]*must be in 0\.\.63, got 64"),
        ({"pump__max_rpm": 60}, r"pump\.max_rpm[\s\S]*at most 48 rpm, got 60"),
        ({"pump__tube_ul_per_rev": 0}, r"pump\.tube_ul_per_rev[\s\S]*more than 0"),
        ({"pump__kind": "rainin_rp1"}, r"pump\.kind[\s\S]*gilson_minipuls3"),
        ({"pump__colour": "red"}, r"pump\.colour[\s\S]*Extra inputs are not permitted"),
        ({"reagents__bad": [[3, 1]]}, r"reagents[\s\S]*bad: valve 3 is outside 1\.\.2"),
        ({"reagents__bad": [[2, 7]]}, r"reagents[\s\S]*bad: port 7 is outside 1\.\.6 of valve 2"),
        ({"reagents__bad": []}, r"reagents[\s\S]*bad: the path is empty"),
    ],
)
def test_config_error_names_field_and_range_when_invalid(change, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        _config(**change)


def test_config_is_frozen_when_built():
    config = _config()
    with pytest.raises(pydantic.ValidationError):
        config.pump.unit_id = 3  # type: ignore[misc]


def test_build_fluidics_uses_simulated_backends_when_port_is_sim():
    fluidics = build_fluidics(_config(), name="fl")
    assert isinstance(fluidics.pump.backend, SimPumpBackend)
    assert isinstance(fluidics.valves[1].backend, SimValveChainBackend)
    assert fluidics.valves[2].n_ports_value == 6
    assert fluidics.valves[1].name == "fl-valves-1"
    assert fluidics.pump.max_rate == pytest.approx(48 * 31.5)
