"""Build a whole microscope from its configuration: ``build_microscope(config)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ophyd_async.core import Device, StaticPathProvider, UUIDFilenameProvider

from hcs_devices.autofocus import LaserAutofocusSensor
from hcs_devices.camera.device import Camera
from hcs_devices.config.models import AxisConfig, MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel
from hcs_devices.illumination import Illumination
from hcs_devices.ownership import HardwareOwner
from hcs_devices.sequencer import FrameSequencer
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.sim.camera import SimFrameSource, SimOptics
from hcs_devices.sim.hardware import SimFilterWheelBackend, SimIlluminationBackend
from hcs_devices.sim.laser_autofocus import SimLaserAutofocusBackend
from hcs_devices.sim.sequencer import SimSequencer
from hcs_devices.sim.specimen import Specimen
from hcs_devices.stage import Axis, Stage


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
    _closers: list[object] = field(default_factory=list, repr=False)

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
        return found

    async def connect(self) -> None:
        """Connect every device (opens the backends); call on the RunEngine's loop."""
        for device in self.devices().values():
            await device.connect()

    async def safe_state(self) -> None:
        """Camera not acquiring, writers closed, illumination off, stage stopped."""
        await self.camera.unstage()
        await self.illumination.all_off()
        await self.stage.stop()

    def close(self) -> None:
        """Release what the backends hold (threads, ports)."""
        for closer in self._closers:
            close = getattr(closer, "close", None)
            if callable(close):
                close()


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

    def sim_axis(axis: AxisConfig) -> SimAxisBackend:
        return SimAxisBackend(axis)

    optics = SimOptics(
        x=sim_axis(stage_cfg.x),
        y=sim_axis(stage_cfg.y),
        z=sim_axis(stage_cfg.z),
        piezo=sim_axis(stage_cfg.piezo) if stage_cfg.piezo else None,
        illumination=SimIlluminationBackend([s.name for s in config.illumination.sources]),
        filter_wheel=SimFilterWheelBackend(config.filter_wheel),
    )
    overshoot = (
        stage_cfg.z_backlash_overshoot_um if stage_cfg.z_backlash == "end_moving_up" else 0.0
    )

    def axis(backend: SimAxisBackend, cfg: AxisConfig, overshoot_um: float = 0.0) -> Axis:
        return Axis(
            backend,
            low_limit_um=cfg.low_limit_um,
            high_limit_um=cfg.high_limit_um,
            initial_um=cfg.start_um,
            backlash_overshoot_um=overshoot_um,
            owner=owner,
        )

    piezo = (
        axis(optics.piezo, stage_cfg.piezo)
        if optics.piezo is not None and stage_cfg.piezo is not None
        else None
    )
    stage = Stage(
        axis(optics.x, stage_cfg.x),
        axis(optics.y, stage_cfg.y),
        axis(optics.z, stage_cfg.z, overshoot),
        piezo=piezo,
        name="stage",
    )
    illumination = Illumination(
        optics.illumination,
        sources=[s.name for s in config.illumination.sources],
        owner=owner,
        name="illumination",
    )
    filter_wheel = FilterWheel(
        optics.filter_wheel,
        positions=config.filter_wheel.positions,
        filter_names={f.position: f.name for f in config.filter_wheel.filters},
        owner=owner,
        name="filter_wheel",
    )
    source = SimFrameSource(config, optics, specimen)
    frames_dir = Path(data_dir).resolve() / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    camera = Camera(
        source,
        config.camera,
        StaticPathProvider(UUIDFilenameProvider(), frames_dir),
        owner=owner,
        writer_capacity=writer_capacity,
        fsync=fsync_frames,
        name="camera",
    )
    laser_af = None
    if config.laser_autofocus is not None:
        laser_af = LaserAutofocusSensor(
            SimLaserAutofocusBackend(config.laser_autofocus, optics, specimen, config.specimen.seed),
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
        sim=optics,
        sequencer=SimSequencer(optics, after_burst=stage.z.refresh_position),
        _closers=[source],
    )
