"""Build a whole microscope from its configuration: ``build_microscope(config)``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bluesky.run_engine import call_in_bluesky_event_loop
from ophyd_async.core import Device, StaticPathProvider, UUIDFilenameProvider

from hcs_devices.autofocus import LaserAutofocusSensor
from hcs_devices.camera.device import Camera
from hcs_devices.config.models import AxisConfig, MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel, FilterWheelBackend
from hcs_devices.fluidics import Fluidics, build_fluidics
from hcs_devices.illumination import Illumination, IlluminationBackend
from hcs_devices.ownership import HardwareOwner
from hcs_devices.sequencer import FrameSequencer
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.sim.camera import Scene, SimFrameSource, SimOptics
from hcs_devices.sim.hardware import SimFilterWheelBackend, SimIlluminationBackend
from hcs_devices.sim.laser_autofocus import SimLaserAutofocusBackend
from hcs_devices.sim.sequencer import SimSequencer
from hcs_devices.sim.specimen import Specimen
from hcs_devices.sim.squid_scene import SquidScene
from hcs_devices.squid import AxisLimits, SquidBackends, build_squid_backends
from hcs_devices.stage import Axis, AxisBackend, Stage
from hcs_schema import FRAMES_DIR


class Closeable(Protocol):
    """Something holding threads or ports."""

    def close(self) -> object:
        """Release them (may return an awaitable)."""
        ...


@dataclass
class Microscope:
    """Every device of one microscope, its configuration and its hardware owner.

    Attributes:
        config: what the microscope was built from.
        owner: who may command the hardware now (a run, or anyone).
        stage: the XYZ stage (and piezo).
        illumination: the light sources.
        filter_wheel: the emission filter wheel.
        camera: the main camera.
        laser_autofocus: the laser reflection autofocus sensor, if fitted.
        specimen: the synthetic specimen, for a simulated microscope.
        sim: the simulated hardware, for a simulated microscope.
        sequencer: steps z and channels during a camera burst, where the hardware can.
        fluidics: valves and pump, on a MERFISH rig.
    """

    config: MicroscopeConfig
    owner: HardwareOwner
    stage: Stage
    illumination: Illumination
    filter_wheel: FilterWheel
    camera: Camera
    laser_autofocus: LaserAutofocusSensor | None = None
    specimen: Specimen | None = None
    sim: SimOptics | None = None
    sequencer: FrameSequencer | None = None
    fluidics: Fluidics | None = None
    _closers: list[Closeable] = field(default_factory=list, repr=False)

    def devices(self) -> dict[str, Device]:
        """The top-level devices by name."""
        found: dict[str, Device] = {
            "stage": self.stage,
            "illumination": self.illumination,
            "filter_wheel": self.filter_wheel,
            "camera": self.camera,
        }
        if self.laser_autofocus is not None:
            found["laser_autofocus"] = self.laser_autofocus
        if self.fluidics is not None:
            found["fluidics"] = self.fluidics
        return found

    async def connect(self) -> None:
        """Connect every device (opens the backends); call on the RunEngine's loop."""
        for device in self.devices().values():
            await device.connect()

    async def safe_state(self) -> None:
        """Camera not acquiring, writers closed, light off, stage and pump stopped."""
        await self.camera.unstage()
        await self.illumination.all_off()
        await self.stage.stop()
        if self.fluidics is not None:
            await self.fluidics.stop()

    def close(self) -> None:
        """Release what the backends hold (threads, ports), from outside the event loop."""
        call_in_bluesky_event_loop(self.aclose())

    async def aclose(self) -> None:
        """Release what the backends hold (threads, ports), on the RunEngine's loop."""
        if self.fluidics is not None:
            await self.fluidics.close()
        for closer in self._closers:
            result = closer.close()
            if asyncio.iscoroutine(result):
                await result


def build_microscope(
    config: MicroscopeConfig,
    *,
    data_dir: str | Path,
    owner: HardwareOwner | None = None,
    writer_capacity: int = 8,
    fsync_frames: bool = False,
) -> Microscope:
    """Build every device of a microscope from its configuration (not yet connected).

    Args:
        config: the microscope configuration.
        data_dir: where frames are written (``<data_dir>/frames/...``).
        owner: the hardware owner shared by the devices (a new one by default).
        writer_capacity: frames that may wait in memory for the disk.
        fsync_frames: make every frame durable before it counts as written.

    Returns:
        The microscope; ``await microscope.connect()`` on the RunEngine's loop.
    """
    owner = owner or HardwareOwner()
    specimen = Specimen(config.specimen, config.plate())
    stage_cfg = config.stage
    optics = SimOptics(
        x=SimAxisBackend(stage_cfg.x),
        y=SimAxisBackend(stage_cfg.y),
        z=SimAxisBackend(stage_cfg.z),
        piezo=SimAxisBackend(stage_cfg.piezo) if stage_cfg.piezo else None,
        illumination=SimIlluminationBackend([s.name for s in config.illumination.sources]),
        filter_wheel=SimFilterWheelBackend(config.filter_wheel),
    )
    hardware = _HardwareBackends.simulated(optics)
    squid = None
    if stage_cfg.backend.kind == "squid" and config.squid is not None:
        squid = _squid_backends(config)
        hardware = _HardwareBackends.squid(squid)
    overshoot = (
        stage_cfg.z_backlash_overshoot_um if stage_cfg.z_backlash == "end_moving_up" else 0.0
    )

    def axis(backend: AxisBackend, cfg: AxisConfig, overshoot_um: float = 0.0) -> Axis:
        return Axis(
            backend,
            low_limit_um=cfg.low_limit_um,
            high_limit_um=cfg.high_limit_um,
            initial_um=cfg.start_um,
            backlash_overshoot_um=overshoot_um,
            owner=owner,
        )

    piezo = (
        axis(hardware.piezo, stage_cfg.piezo)
        if hardware.piezo is not None and stage_cfg.piezo is not None
        else None
    )
    stage = Stage(
        axis(hardware.x, stage_cfg.x),
        axis(hardware.y, stage_cfg.y),
        axis(hardware.z, stage_cfg.z, overshoot),
        piezo=piezo,
        name="stage",
    )
    illumination = Illumination(
        hardware.illumination,
        sources=[s.name for s in config.illumination.sources],
        owner=owner,
        name="illumination",
    )
    filter_wheel = FilterWheel(
        hardware.filter_wheel,
        positions=config.filter_wheel.positions,
        filter_names={f.position: f.name for f in config.filter_wheel.filters},
        owner=owner,
        name="filter_wheel",
    )
    scene: Scene = optics if squid is None else SquidScene(squid)
    source = SimFrameSource(config, scene, specimen)
    # The board cannot step z and channels by itself: bursts need the simulation.
    sequencer = (
        SimSequencer(optics, after_burst=stage.z.refresh_position) if squid is None else None
    )
    frames_dir = Path(data_dir).resolve() / FRAMES_DIR
    frames_dir.mkdir(parents=True, exist_ok=True)
    camera = Camera(
        source,
        config.camera,
        StaticPathProvider(UUIDFilenameProvider(), frames_dir),
        sequencer=sequencer,
        owner=owner,
        writer_capacity=writer_capacity,
        fsync=fsync_frames,
        name="camera",
    )
    laser_af = None
    if config.laser_autofocus is not None:
        laser_af = LaserAutofocusSensor(
            SimLaserAutofocusBackend(config.laser_autofocus, scene, specimen, config.specimen.seed),
            owner=owner,
            name="laser_autofocus",
        )
    return Microscope(
        config=config,
        owner=owner,
        stage=stage,
        illumination=illumination,
        filter_wheel=filter_wheel,
        camera=camera,
        laser_autofocus=laser_af,
        specimen=specimen,
        sim=optics if squid is None else None,
        sequencer=sequencer,
        fluidics=build_fluidics(config.fluidics, owner) if config.fluidics else None,
        _closers=[source, *([squid] if squid is not None else [])],
    )


@dataclass(frozen=True)
class _HardwareBackends:
    """The backends behind the stage, light and filter wheel devices."""

    x: AxisBackend
    y: AxisBackend
    z: AxisBackend
    piezo: AxisBackend | None
    illumination: IlluminationBackend
    filter_wheel: FilterWheelBackend

    @staticmethod
    def simulated(optics: SimOptics) -> _HardwareBackends:
        return _HardwareBackends(
            optics.x, optics.y, optics.z, optics.piezo, optics.illumination, optics.filter_wheel
        )

    @staticmethod
    def squid(backends: SquidBackends) -> _HardwareBackends:
        if backends.filter_wheel is None:
            raise ValueError("squid.filter_wheel.enabled is false but the microscope has a wheel")
        return _HardwareBackends(
            backends.x,
            backends.y,
            backends.z,
            backends.piezo,
            backends.illumination,
            backends.filter_wheel,
        )


def _squid_backends(config: MicroscopeConfig) -> SquidBackends:
    """The Squid board's backends, with the stage section's limits and speeds."""
    assert config.squid is not None
    limits = {
        name: AxisLimits(
            low_um=axis.low_limit_um,
            high_um=axis.high_limit_um,
            max_velocity_um_s=axis.max_velocity_um_s,
            max_acceleration_um_s2=axis.max_acceleration_um_s2,
        )
        for name, axis in (("x", config.stage.x), ("y", config.stage.y), ("z", config.stage.z))
    }
    return build_squid_backends(config.squid, limits)
