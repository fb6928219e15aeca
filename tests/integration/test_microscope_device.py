"""The microscope is one ophyd-async Device; a Squid rig builds no simulated optics.

Built from the shipped configuration and from a Squid configuration (the real driver
against the board emulator on a pseudo-terminal), with the simulated camera and with a
GenICam camera. Constructions of the simulated backends and of the specimen are
counted while each microscope is built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine
from ophyd_async.core import Device
from test_squid_acquisition import squid_config

import hcs_devices.factory as factory
from hcs_devices import Microscope, build_microscope, load_config
from hcs_devices.camera.genicam import GenicamFrameSource
from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.models import GenicamBackend
from hcs_devices.sim import SimFrameSource, optics_of
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_orchestrator.paths import DEFAULT_CONFIG

SIMULATED_PARTS = (
    "SimAxisBackend",
    "SimIlluminationBackend",
    "SimFilterWheelBackend",
    "SimSequencer",
    "Specimen",
)


@pytest.fixture
def constructions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many of each simulated part the factory constructs (counted while building)."""
    counts: Counter[str] = Counter()
    for name in SIMULATED_PARTS:
        cls = getattr(factory, name)

        def counted(*args: Any, _cls: Any = cls, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _cls(*args, **kwargs)

        monkeypatch.setattr(factory, name, counted)
    return counts


@pytest.fixture
def built(RE: RunEngine) -> Iterator[list[Microscope]]:
    """Microscopes to close after the test (on the RunEngine's loop)."""
    microscopes: list[Microscope] = []
    yield microscopes
    for m in microscopes:
        m.close()


def test_microscope_is_a_device_whose_children_are_its_devices_when_built_from_the_profile(
    constructions: Counter[str], built: list[Microscope], tmp_path: Path
) -> None:
    m = build_microscope(load_config(DEFAULT_CONFIG), data_dir=tmp_path)
    built.append(m)
    assert isinstance(m, Device)
    roles = {"stage", "illumination", "filter_wheel", "camera", "laser_autofocus"}
    assert set(m.devices()) == roles
    assert {name for name, _ in m.children()} == roles - {"stage"} | {"stage_"}
    assert all(isinstance(d, Device) and d.parent is m for d in m.devices().values())
    # Each device keeps its role's name, whatever the microscope is called.
    m.set_name("scope-2")
    assert {d.name for d in m.devices().values()} == roles
    assert m.name == "scope-2"
    # The simulation is inside the backends, reached only through hcs_devices.sim.
    assert not hasattr(m, "sim") and not hasattr(m, "specimen")
    assert optics_of(m).x is m.stage_.x.backend
    assert constructions["SimAxisBackend"] == 4  # x, y, z and the piezo
    assert constructions["SimSequencer"] == 1
    assert constructions["Specimen"] == 1  # one specimen, shared by camera and sensor


@pytest.fixture
def board() -> Iterator[EmulatedSquid]:
    with EmulatedSquid(speed_factor=50.0, status_period_s=0.004, seed=3) as emulated:
        yield emulated


def test_squid_microscope_constructs_no_simulated_stage_light_wheel_or_sequencer_when_built(
    constructions: Counter[str],
    built: list[Microscope],
    board: EmulatedSquid,
    tmp_path: Path,
    run_on_re_loop: Callable[..., Any],
) -> None:
    config = squid_config(load_config(DEFAULT_CONFIG), board.path)
    m = build_microscope(config, data_dir=tmp_path)
    built.append(m)
    assert isinstance(m, Device)
    for name in ("SimAxisBackend", "SimIlluminationBackend", "SimFilterWheelBackend"):
        assert constructions[name] == 0, f"a Squid microscope built a {name}"
    assert constructions["SimSequencer"] == 0
    assert m.camera.sequencer is None
    with pytest.raises(TypeError, match="not simulated"):
        optics_of(m)
    # No camera driver exists yet: the camera is simulated, and only it (with the
    # laser sensor) looks at the synthetic specimen, built once for both.
    assert config.camera.backend.kind == "sim"
    assert isinstance(m.camera.source, SimFrameSource)
    assert constructions["Specimen"] == 1
    run_on_re_loop(m.connect())
    board_x_um = run_on_re_loop(m.stage_.x.backend.position_um())
    assert run_on_re_loop(m.stage_.x.user_readback.get_value()) == pytest.approx(board_x_um)


def squid_genicam_config(config: MicroscopeConfig) -> MicroscopeConfig:
    """``config`` with a GenICam camera on hardware trigger and no laser autofocus sensor."""
    data = config.model_dump(mode="json")
    data["camera"]["backend"] = {"kind": "genicam", "address": "127.0.0.1", "trigger": "hardware"}
    data["laser_autofocus"] = None  # only simulated sensors exist: a real rig has none yet
    return MicroscopeConfig.model_validate(data)


def test_squid_microscope_with_a_genicam_camera_constructs_no_simulated_part_when_built(
    constructions: Counter[str],
    built: list[Microscope],
    board: EmulatedSquid,
    tmp_path: Path,
    run_on_re_loop: Callable[..., Any],
) -> None:
    config = squid_genicam_config(squid_config(load_config(DEFAULT_CONFIG), board.path))
    m = build_microscope(config, data_dir=tmp_path)
    built.append(m)
    assert isinstance(m, Device)
    assert set(m.devices()) == {"stage", "illumination", "filter_wheel", "camera"}
    for name in SIMULATED_PARTS:
        assert constructions[name] == 0, f"a Squid + GenICam microscope built a {name}"
    source = m.camera.source
    assert isinstance(source, GenicamFrameSource)
    assert source.backend.address == "127.0.0.1"
    run_on_re_loop(m.stage_.connect())
    board_x_um = run_on_re_loop(m.stage_.x.backend.position_um())
    assert run_on_re_loop(m.stage_.x.user_readback.get_value()) == pytest.approx(board_x_um)
    # On hardware trigger, the board's camera trigger output starts each frame and
    # strobes the light: plans leave it off.
    assert source.trigger is not None
    assert source.strobe_light and m.camera.light_strobed
    assert source.backend.trigger == "hardware"
    run_on_re_loop(source.trigger.trigger(10_000, False))
    assert board.emulator.trigger.counts[0] == 1


def test_genicam_camera_on_hardware_trigger_falls_back_to_software_when_no_board_is_built(
    built: list[Microscope], tmp_path: Path
) -> None:
    config = squid_genicam_config(load_config(DEFAULT_CONFIG))
    backend = config.camera.backend
    assert isinstance(backend, GenicamBackend) and backend.trigger == "hardware"
    assert config.squid is None
    m = build_microscope(config, data_dir=tmp_path)
    built.append(m)
    source = m.camera.source
    assert isinstance(source, GenicamFrameSource)
    # Nothing would send an edge: the camera is set up for software triggers instead.
    assert source.backend.trigger == "software"
    assert source.trigger is None
    assert not source.strobe_light and not m.camera.light_strobed
