"""Build a whole microscope from its configuration: ``build_microscope(config)``.

One factory per role (stage, illumination, filter wheel, camera, laser autofocus), as
an instrument file builds each device: the configuration's backend kind picks what
drives it. A Squid board drives the stage, the light and the filter wheel together; a
simulated microscope's optics (:class:`~hcs_devices.sim.camera.SimOptics`) are built
only where they drive something, and the synthetic specimen only where a simulated
camera or sensor looks at it: a Squid board with a GenICam camera (and no simulated
laser autofocus) builds no simulated part at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

from hcs_devices.autofocus import LaserAutofocusSensor
from hcs_devices.camera.device import Camera
from hcs_devices.camera.genicam import GenicamFrameSource
from hcs_devices.camera.triggering import camera_triggering
from hcs_devices.config.models import AxisConfig, GenicamBackend, MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel, FilterWheelBackend
from hcs_devices.fluidics import build_fluidics
from hcs_devices.fluidics.backends import FlowSink
from hcs_devices.illumination import Illumination, IlluminationBackend
from hcs_devices.microscope import Closeable, Microscope
from hcs_devices.ownership import HardwareOwner
from hcs_devices.sequencer import FrameSequencer
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.sim.camera import Scene, SimFrameSource, SimOptics
from hcs_devices.sim.hardware import SimFilterWheelBackend, SimIlluminationBackend
from hcs_devices.sim.laser_autofocus import SimLaserAutofocusBackend
from hcs_devices.sim.merfish import SAMPLE_STATE_FILE, MerfishSpecimen
from hcs_devices.sim.sequencer import SimSequencer
from hcs_devices.sim.specimen import Specimen
from hcs_devices.sim.squid_scene import SquidScene
from hcs_devices.software_sequencer import SoftwareSequencer
from hcs_devices.squid import AxisLimits, SquidBackends, build_squid_backends
from hcs_devices.stage import Axis, AxisBackend, Stage
from hcs_schema import FRAMES_DIR

__all__ = [
    "Microscope",
    "build_camera",
    "build_filter_wheel",
    "build_illumination",
    "build_laser_autofocus",
    "build_microscope",
    "build_stage",
]


def build_microscope(
    config: MicroscopeConfig,
    *,
    data_dir: str | Path,
    owner: HardwareOwner | None = None,
    writer_capacity: int = 8,
) -> Microscope:
    """Build every device of a microscope from its configuration (not yet connected).

    Args:
        config: the microscope configuration.
        data_dir: where frames are written (``<data_dir>/frames/...``).
        owner: the hardware owner shared by the devices (a new one by default).
        writer_capacity: frames that may wait in memory for the disk.

    Returns:
        The microscope (an ophyd-async Device); ``await microscope.connect()`` on the
        RunEngine's loop.
    """
    owner = owner or HardwareOwner()
    hardware = _Hardware(config, Path(data_dir))
    stage = build_stage(config, hardware, owner)
    illumination = build_illumination(config, hardware, owner)
    filter_wheel = build_filter_wheel(config, hardware, owner)
    camera, source = build_camera(
        config,
        hardware,
        owner,
        data_dir=data_dir,
        writer_capacity=writer_capacity,
        after_burst=stage.z.refresh_position,
        software_sequencer=SoftwareSequencer(
            stage.z,
            filter_wheel,
            illumination,
            light_strobed=camera_triggering(config).board_triggers,
        ),
    )
    closers: list[Closeable] = [source]
    if hardware.squid is not None:
        closers.append(hardware.squid)
    return Microscope(
        config,
        owner,
        stage=stage,
        illumination=illumination,
        filter_wheel=filter_wheel,
        camera=camera,
        laser_autofocus=build_laser_autofocus(config, hardware, owner),
        fluidics=(
            build_fluidics(config.fluidics, owner, flow_sink=hardware.flow_sink)
            if config.fluidics
            else None
        ),
        closers=closers,
    )


class _Hardware:
    """What drives a microscope's devices, each part built the first time a role asks."""

    def __init__(self, config: MicroscopeConfig, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.squid: SquidBackends | None = (
            _squid_backends(config) if config.stage.backend.kind == "squid" else None
        )

    @cached_property
    def optics(self) -> SimOptics:
        """The simulated stage, light and filter wheel (never built for a Squid board)."""
        assert self.squid is None, "a Squid board drives this microscope"
        cfg = self.config
        return SimOptics(
            x=SimAxisBackend(cfg.stage.x),
            y=SimAxisBackend(cfg.stage.y),
            z=SimAxisBackend(cfg.stage.z),
            piezo=SimAxisBackend(cfg.stage.piezo) if cfg.stage.piezo else None,
            illumination=SimIlluminationBackend([s.name for s in cfg.illumination.sources]),
            filter_wheel=SimFilterWheelBackend(cfg.filter_wheel),
        )

    @cached_property
    def backends(self) -> _Backends:
        """The backends behind the stage, light and filter wheel."""
        if self.squid is not None:
            return _Backends.squid(self.squid)
        return _Backends.simulated(self.optics)

    @cached_property
    def scene(self) -> Scene:
        """What a simulated camera or sensor sees the hardware do."""
        return self.optics if self.squid is None else SquidScene(self.squid)

    @cached_property
    def specimen(self) -> Specimen:
        """The synthetic specimen (only for simulated cameras and sensors)."""
        if self.config.specimen.merfish is not None:
            # The sample stays on the stage when the process dies: its state lives
            # with the data.
            state = self.data_dir / SAMPLE_STATE_FILE
            return MerfishSpecimen(self.config.specimen, self.config.plate(), state)
        return Specimen(self.config.specimen, self.config.plate())

    @property
    def flow_sink(self) -> FlowSink | None:
        """Where simulated flows reach the sample: a simulated camera's MERFISH specimen.

        None otherwise: the fluidics then report to nothing.
        """
        if self.config.specimen.merfish is None or self.config.camera.backend.kind != "sim":
            return None
        specimen = self.specimen
        assert isinstance(specimen, MerfishSpecimen)
        return specimen.flow_cell


def build_stage(config: MicroscopeConfig, hardware: _Hardware, owner: HardwareOwner) -> Stage:
    """The XYZ stage (and piezo) with the configuration's soft limits."""
    stage_cfg = config.stage
    backends = hardware.backends
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
        axis(backends.piezo, stage_cfg.piezo)
        if backends.piezo is not None and stage_cfg.piezo is not None
        else None
    )
    return Stage(
        axis(backends.x, stage_cfg.x),
        axis(backends.y, stage_cfg.y),
        axis(backends.z, stage_cfg.z, overshoot),
        piezo=piezo,
        name="stage",
    )


def build_illumination(
    config: MicroscopeConfig, hardware: _Hardware, owner: HardwareOwner
) -> Illumination:
    """The light sources."""
    return Illumination(
        hardware.backends.illumination,
        sources=[s.name for s in config.illumination.sources],
        owner=owner,
        name="illumination",
    )


def build_filter_wheel(
    config: MicroscopeConfig, hardware: _Hardware, owner: HardwareOwner
) -> FilterWheel:
    """The emission filter wheel."""
    return FilterWheel(
        hardware.backends.filter_wheel,
        positions=config.filter_wheel.positions,
        filter_names={f.position: f.name for f in config.filter_wheel.filters},
        owner=owner,
        name="filter_wheel",
    )


def build_camera(
    config: MicroscopeConfig,
    hardware: _Hardware,
    owner: HardwareOwner,
    *,
    data_dir: str | Path,
    writer_capacity: int,
    after_burst: Callable[[], Awaitable[None]] | None = None,
    software_sequencer: FrameSequencer | None = None,
) -> tuple[Camera, SimFrameSource | GenicamFrameSource]:
    """The main camera and its frame source: the simulated specimen, or a GenICam camera.

    On a simulated microscope the camera steps focus and channels through a burst
    itself (a hardware sequencer); a Squid board cannot, so its camera has each frame
    set up through the devices and triggers it (``software_sequencer``, also used
    where a plan asks for software triggers). A GenICam camera on hardware trigger
    gets its trigger pulses from the Squid board, which strobes the light for each
    exposure; without a board it falls back to software triggers
    (:func:`~hcs_devices.camera.triggering.camera_triggering`).
    """
    backend = config.camera.backend
    triggering = camera_triggering(config)
    source: SimFrameSource | GenicamFrameSource
    if isinstance(backend, GenicamBackend):
        if triggering.fallback:
            backend = backend.model_copy(update={"trigger": "software"})
        board = triggering.board_triggers and hardware.squid is not None
        source = GenicamFrameSource(
            backend,
            trigger=hardware.squid.trigger if board and hardware.squid is not None else None,
            strobe_light=board,
            camera_name="camera",
        )
    else:
        source = SimFrameSource(config, hardware.scene, hardware.specimen)
    sequencer = (
        SimSequencer(hardware.optics, after_burst=after_burst) if hardware.squid is None else None
    )
    frames_dir = Path(data_dir).resolve() / FRAMES_DIR
    frames_dir.mkdir(parents=True, exist_ok=True)
    camera = Camera(
        source,
        config.camera,
        StaticPathProvider(UUIDFilenameProvider(), frames_dir),
        sequencer=sequencer,
        software_sequencer=software_sequencer,
        owner=owner,
        writer_capacity=writer_capacity,
        fsync=config.frames.durable,
        light_strobed=triggering.board_triggers,
        name="camera",
    )
    return camera, source


def build_laser_autofocus(
    config: MicroscopeConfig, hardware: _Hardware, owner: HardwareOwner
) -> LaserAutofocusSensor | None:
    """The laser reflection autofocus sensor, where the configuration has one."""
    if config.laser_autofocus is None:
        return None
    backend = SimLaserAutofocusBackend(
        config.laser_autofocus, hardware.scene, hardware.specimen, config.specimen.seed
    )
    return LaserAutofocusSensor(backend, owner=owner, name="laser_autofocus")


@dataclass(frozen=True)
class _Backends:
    """The backends behind the stage, light and filter wheel devices."""

    x: AxisBackend
    y: AxisBackend
    z: AxisBackend
    piezo: AxisBackend | None
    illumination: IlluminationBackend
    filter_wheel: FilterWheelBackend

    @staticmethod
    def simulated(optics: SimOptics) -> _Backends:
        return _Backends(
            optics.x, optics.y, optics.z, optics.piezo, optics.illumination, optics.filter_wheel
        )

    @staticmethod
    def squid(backends: SquidBackends) -> _Backends:
        if backends.filter_wheel is None:
            raise ValueError("squid.filter_wheel.enabled is false but the microscope has a wheel")
        return _Backends(
            backends.x,
            backends.y,
            backends.z,
            backends.piezo,
            backends.illumination,
            backends.filter_wheel,
        )


def _squid_backends(config: MicroscopeConfig) -> SquidBackends:
    """The Squid board's backends, with the stage section's limits and speeds."""
    if config.squid is None:
        raise ValueError(
            "stage.backend.kind is 'squid' but the configuration has no squid: section"
        )
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
