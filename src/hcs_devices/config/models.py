"""The microscope configuration: what a facility engineer writes for their instrument.

Every model forbids unknown keys, so a misspelt key is an error, not a silent default.
Units are in the field names (``_um``, ``_ms``, ``_nm``, ``_um_s``) and nowhere else.
Every number is finite and bounded by what an instrument can do (a stage velocity of
1e-9 um/s or a filter-wheel move of 1e9 s would hang a run rather than fail it), and
names are unique within their section.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hcs_devices.config.errors import FieldError
from hcs_devices.config.merfish import MerfishSampleConfig, parse_tube_key
from hcs_devices.config.plates import PlateFormat, standard_plate_formats
from hcs_devices.fluidics.config import FluidicsConfig
from hcs_devices.squid.config import SquidConfig


class Model(BaseModel):
    """Base of every configuration model: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: Largest stage coordinate or travel, um (1 m: beyond any microscope stage).
MAX_TRAVEL_UM = 1_000_000.0

Percent = Annotated[float, Field(ge=0.0, le=100.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
StageCoordinate = Annotated[float, Field(ge=-MAX_TRAVEL_UM, le=MAX_TRAVEL_UM)]
Binning = Annotated[int, Field(ge=1, le=8)]


def _unique_names(section: str, names: list[str]) -> None:
    """Refuse a name given twice in a section, naming the second one.

    Raises:
        FieldError: at ``(index, "name")`` of the repeated name.
    """
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise FieldError((i, "name"), f"two {section} named {name!r}; names must be unique")
        seen.add(name)


class SimulationBackend(Model):
    """The simulated backend, for development and tests."""

    kind: Literal["sim"] = "sim"


class SquidBackend(Model):
    """A device driven by the Squid microcontroller (see the ``squid`` section)."""

    kind: Literal["squid"] = "squid"


Backend = Annotated[SimulationBackend | SquidBackend, Field(discriminator="kind")]


class GenicamBackend(Model):
    """A GenICam camera on the network (GigE Vision), driven through Aravis.

    The camera is opened at its IP address, never searched for: device discovery
    broadcasts on every network interface.
    """

    kind: Literal["genicam"] = "genicam"
    address: str = Field(
        description="The camera's IPv4 address (127.0.0.1 for the fake camera); a host "
        "name is refused, as one that does not resolve would start a discovery."
    )
    pixel_format: Literal["Mono8", "Mono10", "Mono12", "Mono16"] = Field(
        "Mono16", description="Frames are stored as 16-bit whatever the format."
    )
    trigger: Literal["software", "hardware", "free_run"] = Field(
        "software",
        description="software: one trigger command per frame; hardware: a rising edge on "
        "trigger_line per frame (from the Squid board); free_run: the camera's own clock.",
    )
    trigger_line: str = Field(
        "Line0", pattern=r"^Line[0-9]{1,2}$", description="Input line of hardware triggers."
    )
    packet_size_bytes: int | None = Field(
        None,
        ge=576,
        le=65500,
        description="GVSP packet size; none negotiates it (65000 on loopback, 9000 with "
        "jumbo frames).",
    )
    socket_buffer_bytes: int | None = Field(
        None,
        ge=65536,
        le=1 << 30,
        description="Receive buffer of the stream socket; none sizes it to one frame.",
    )
    stream_buffers: int = Field(
        16, ge=2, le=1024, description="Frame buffers the stream fills ahead of the reader."
    )
    frame_timeout_s: float = Field(
        2.0, gt=0.0, le=600.0, description="Time allowed for a frame beyond its exposure."
    )

    @model_validator(mode="after")
    def _ipv4_address(self) -> GenicamBackend:
        try:
            ipaddress.IPv4Address(self.address)
        except ValueError:
            raise FieldError(
                ("address",), f"{self.address!r} is not an IPv4 address (e.g. 192.168.10.2)"
            ) from None
        return self


CameraBackend = Annotated[
    SimulationBackend | SquidBackend | GenicamBackend, Field(discriminator="kind")
]


class CameraConfig(Model):
    """The main camera's sensor and the limits of what it can be asked to do."""

    model: str = Field("simulated sCMOS", description="Free text, recorded in the documents.")
    sensor_width_px: int = Field(2048, ge=16, le=16384)
    sensor_height_px: int = Field(2048, ge=16, le=16384)
    pixel_size_um: float = Field(
        6.5, gt=0.0, le=100.0, description="Physical pixel pitch on the sensor."
    )
    bit_depth: Literal[8, 10, 12, 14, 16] = 16
    read_noise_e: float = Field(1.6, ge=0.0, le=1000.0, description="Read noise, electrons rms.")
    gain_e_per_adu: float = Field(
        0.46, gt=0.0, le=1000.0, description="Conversion gain, electrons/ADU."
    )
    offset_adu: int = Field(
        100, ge=0, le=65535, description="Black level added to every pixel (below saturation)."
    )
    full_well_e: float = Field(30000.0, gt=0.0, le=10_000_000.0)
    quantum_efficiency: float = Field(0.8, gt=0.0, le=1.0)
    max_fps: float = Field(100.0, ge=0.1, le=100_000.0, description="Frame rate at full sensor.")
    overlapped_readout: bool = Field(
        True,
        description="The sensor reads frame n out while it exposes frame n+1 (sCMOS "
        "overlap mode): in a burst a frame takes the longer of its exposure and the "
        "readout. false: each exposure waits for the previous frame's readout.",
    )
    min_exposure_ms: float = Field(0.1, gt=0.0, le=3_600_000.0)
    max_exposure_ms: float = Field(10000.0, gt=0.0, le=3_600_000.0, description="At most 1 h.")
    binning_allowed: tuple[Binning, ...] = Field(
        (1, 2, 4), min_length=1, description="Binnings the camera can do, each 1..8."
    )
    simulation: Literal["realistic", "fast"] = Field(
        "realistic",
        description="realistic renders every frame; fast reuses a bank of pre-rendered "
        "frames with fresh noise (for throughput tests).",
    )
    backend: CameraBackend = SimulationBackend()

    @model_validator(mode="after")
    def _exposure_range(self) -> CameraConfig:
        if self.min_exposure_ms > self.max_exposure_ms:
            raise FieldError(
                ("min_exposure_ms",),
                f"min_exposure_ms ({self.min_exposure_ms}) must not exceed "
                f"max_exposure_ms ({self.max_exposure_ms})",
            )
        if len(set(self.binning_allowed)) != len(self.binning_allowed):
            raise FieldError(
                ("binning_allowed",),
                f"binning_allowed {list(self.binning_allowed)} gives a binning twice",
            )
        if self.offset_adu >= self.max_value:
            raise FieldError(
                ("offset_adu",),
                f"offset_adu ({self.offset_adu}) must be below the {self.bit_depth}-bit "
                f"saturation value ({self.max_value})",
            )
        return self

    @property
    def max_value(self) -> int:
        """The saturation value in ADU."""
        return 2**self.bit_depth - 1

    @property
    def readout_s(self) -> float:
        """Time to read the full sensor out (one frame at ``max_fps``)."""
        return 1.0 / self.max_fps


class ObjectiveConfig(Model):
    """One objective; the pixel size at the sample follows from it and the camera."""

    name: str
    magnification: float = Field(gt=0.0, le=250.0)
    numerical_aperture: float = Field(gt=0.0, le=1.7)
    tube_lens_mm: float = Field(
        180.0, gt=0.0, le=1000.0, description="Tube lens the objective is made for."
    )
    system_tube_lens_mm: float = Field(
        180.0, gt=0.0, le=1000.0, description="Tube lens fitted here."
    )
    immersion_index: float = Field(1.0, ge=1.0, le=1.6)
    working_distance_um: float = Field(1000.0, gt=0.0, le=100_000.0)

    @property
    def effective_magnification(self) -> float:
        """Magnification with the system's tube lens."""
        return self.magnification * self.system_tube_lens_mm / self.tube_lens_mm

    def pixel_size_um(self, camera: CameraConfig, binning: int = 1) -> float:
        """Size of one camera pixel at the sample."""
        return camera.pixel_size_um * binning / self.effective_magnification

    def depth_of_field_um(self, wavelength_nm: float, camera: CameraConfig) -> float:
        """Depth of field: the wave-optics term plus the detector-sampling term."""
        n, na = self.immersion_index, self.numerical_aperture
        wave = wavelength_nm * 1e-3 * n / na**2
        geometric = n * camera.pixel_size_um / (self.effective_magnification * na)
        return wave + geometric


class IlluminationSourceConfig(Model):
    """One light source: an LED-matrix pattern or a laser/LED port."""

    name: str
    kind: Literal["led_matrix", "laser", "led"]
    wavelength_nm: float | None = Field(
        None, ge=250.0, le=1100.0, description="Peak wavelength; None for white light."
    )
    power_mw: float = Field(100.0, gt=0.0, le=100_000.0, description="Power at 100 % intensity.")

    @model_validator(mode="after")
    def _wavelength(self) -> IlluminationSourceConfig:
        if self.kind != "led_matrix" and self.wavelength_nm is None:
            raise FieldError(
                ("wavelength_nm",), f"source {self.name!r}: a {self.kind} needs wavelength_nm"
            )
        return self


class IlluminationConfig(Model):
    """The light sources and the backend that drives them."""

    sources: tuple[IlluminationSourceConfig, ...] = Field(min_length=1)
    backend: Backend = SimulationBackend()

    @model_validator(mode="after")
    def _unique(self) -> IlluminationConfig:
        try:
            _unique_names("sources", [s.name for s in self.sources])
        except FieldError as exc:
            raise FieldError(("sources", *exc.loc), str(exc)) from None
        return self


class FilterConfig(Model):
    """An emission filter in one filter-wheel position."""

    position: int = Field(ge=1, le=32)
    name: str
    center_nm: float | None = Field(None, ge=250.0, le=1100.0, description="None: empty slot.")
    bandwidth_nm: float = Field(40.0, gt=0.0, le=1000.0)


class FilterWheelConfig(Model):
    """The emission filter wheel."""

    positions: int = Field(8, ge=1, le=32)
    filters: tuple[FilterConfig, ...]
    move_time_per_position_s: float = Field(
        0.05, ge=0.0, le=10.0, description="Time to move by one position."
    )
    backend: Backend = SimulationBackend()

    @model_validator(mode="after")
    def _positions(self) -> FilterWheelConfig:
        seen: set[int] = set()
        for i, f in enumerate(self.filters):
            if f.position > self.positions:
                raise FieldError(
                    ("filters", i, "position"),
                    f"filter {f.name!r} is at position {f.position}, the wheel has "
                    f"positions 1..{self.positions}",
                )
            if f.position in seen:
                raise FieldError(
                    ("filters", i, "position"), f"two filters at position {f.position}"
                )
            seen.add(f.position)
        return self

    def filter_at(self, position: int) -> FilterConfig | None:
        """The filter in a position, or None for an undeclared slot."""
        return next((f for f in self.filters if f.position == position), None)

    def move_time_s(self, start: int, end: int) -> float:
        """Time to turn from position ``start`` to ``end``, the shorter way round."""
        steps = abs(end - start)
        return min(steps, self.positions - steps) * self.move_time_per_position_s


class ChannelConfig(Model):
    """A channel preset: what a microscopist selects by name."""

    name: str
    source: str = Field(description="Name of an illumination source.")
    intensity_percent: Percent = 50.0
    exposure_ms: PositiveFloat = 20.0
    filter_position: int = Field(ge=1, le=32)
    emission_wavelength_nm: float = Field(ge=250.0, le=1100.0)
    z_offset_um: float = Field(0.0, ge=-100.0, le=100.0)
    display_color: str = Field("#FFFFFF", pattern=r"^#[0-9A-Fa-f]{6}$")


class AxisConfig(Model):
    """One stage axis: soft limits and motion limits."""

    low_limit_um: StageCoordinate
    high_limit_um: StageCoordinate
    max_velocity_um_s: float = Field(
        ge=10.0, le=1_000_000.0, description="Top speed, 10 um/s .. 1 m/s."
    )
    max_acceleration_um_s2: float = Field(
        ge=100.0, le=100_000_000.0, description="Acceleration, 100 um/s^2 .. 100 m/s^2."
    )
    home_um: StageCoordinate | None = Field(
        None, description="Where the axis starts (default: middle)."
    )

    @model_validator(mode="after")
    def _limits(self) -> AxisConfig:
        if self.low_limit_um >= self.high_limit_um:
            raise FieldError(
                ("low_limit_um",),
                f"low_limit_um ({self.low_limit_um}) must be below "
                f"high_limit_um ({self.high_limit_um})",
            )
        if self.home_um is not None and not (
            self.low_limit_um <= self.home_um <= self.high_limit_um
        ):
            raise FieldError(
                ("home_um",),
                f"home_um ({self.home_um}) must be within "
                f"[{self.low_limit_um}, {self.high_limit_um}]",
            )
        return self

    @property
    def start_um(self) -> float:
        """Where the axis is at start-up."""
        if self.home_um is not None:
            return self.home_um
        return (self.low_limit_um + self.high_limit_um) / 2


class StageConfig(Model):
    """The XYZ stage and the optional objective piezo."""

    x: AxisConfig
    y: AxisConfig
    z: AxisConfig
    piezo: AxisConfig | None = None
    z_backlash: Literal["none", "end_moving_up"] = Field(
        "end_moving_up",
        description="end_moving_up: a downward Z move overshoots and comes back up, so "
        "every Z move ends moving up (removes lead-screw backlash).",
    )
    z_backlash_overshoot_um: float = Field(5.0, ge=0.0, le=100.0)
    backend: Backend = SimulationBackend()


class LaserAutofocusConfig(Model):
    """The reflection-based laser autofocus sensor."""

    sensor_width_px: int = Field(256, ge=16, le=4096)
    sensor_height_px: int = Field(64, ge=8, le=4096)
    spot_shift_px_per_um: float = Field(
        2.0,
        ge=-1000.0,
        le=1000.0,
        description="Spot displacement per um of defocus (sign included; not zero).",
    )
    spot_sigma_px: float = Field(3.0, gt=0.0, le=1000.0)
    noise_px: float = Field(0.05, ge=0.0, le=1000.0, description="Spot-position jitter, rms.")
    range_um: float = Field(
        50.0, gt=0.0, le=10_000.0, description="Defocus beyond which the spot is lost."
    )
    backend: Backend = SimulationBackend()

    @model_validator(mode="after")
    def _spot_moves(self) -> LaserAutofocusConfig:
        if abs(self.spot_shift_px_per_um) < 0.001:
            raise FieldError(
                ("spot_shift_px_per_um",),
                f"spot_shift_px_per_um ({self.spot_shift_px_per_um}) must be at least "
                "0.001 px/um either way (at most 1000): a spot that does not move with "
                "defocus cannot measure it",
            )
        return self


class SpecimenConfig(Model):
    """The synthetic specimen behind the simulated camera."""

    seed: int = Field(0, ge=0, le=2**32 - 1, description="Random seed, 0..2**32-1.")
    plate_format: str = "96"
    cells_per_mm2: float = Field(400.0, gt=0.0, le=10_000.0)
    spots_per_cell: int = Field(12, ge=0, le=200)
    surface_z_um: StageCoordinate = Field(
        3000.0, description="Sample surface z at the plate centre."
    )
    tilt_x_um_per_mm: float = Field(2.0, ge=-100.0, le=100.0)
    tilt_y_um_per_mm: float = Field(-1.5, ge=-100.0, le=100.0)
    curvature_um_per_mm2: float = Field(0.01, ge=-10.0, le=10.0)
    well_offset_rms_um: float = Field(2.0, ge=0.0, le=100.0)
    empty_wells: tuple[str, ...] = Field((), description="Wells with no cells, e.g. ('H12',).")
    merfish: MerfishSampleConfig | None = Field(
        None,
        description="A MERFISH sample: barcoded RNA molecules, fiducial beads and the "
        "chemistry the simulated fluidics drives; none for a plain plate of cells.",
    )


class FramesConfig(Model):
    """How the camera's frames are written to the data directory (a TIFF file per frame)."""

    durable: bool = Field(
        False,
        description="Count a frame as written only once it is on stable storage (fsync "
        "of its file, then of its directory): a power cut then never leaves the catalog "
        "pointing at a frame the disk lost. false: a frame counts once its file is "
        "complete, which survives a killed process, and the operating system writes it "
        "to the disk within seconds.",
    )


class MicroscopeConfig(Model):
    """A whole microscope: what ``build_microscope`` builds."""

    name: str = "hcs"
    camera: CameraConfig
    objectives: tuple[ObjectiveConfig, ...] = Field(min_length=1)
    objective: str = Field(description="Name of the objective in use.")
    illumination: IlluminationConfig
    filter_wheel: FilterWheelConfig
    channels: tuple[ChannelConfig, ...] = Field(min_length=1)
    stage: StageConfig
    laser_autofocus: LaserAutofocusConfig | None = Field(
        default_factory=lambda: LaserAutofocusConfig.model_validate({})
    )
    plate_formats: dict[str, PlateFormat] = Field(default_factory=standard_plate_formats)
    specimen: SpecimenConfig = Field(default_factory=lambda: SpecimenConfig.model_validate({}))
    squid: SquidConfig | None = Field(
        None, description="The Squid microcontroller, for devices with backend kind squid."
    )
    fluidics: FluidicsConfig | None = Field(None, description="Valves, pump and reagents.")
    frames: FramesConfig = Field(
        default_factory=lambda: FramesConfig.model_validate({}),
        description="How frames are written to the data directory.",
    )

    @model_validator(mode="after")
    def _squid_section(self) -> MicroscopeConfig:
        on_squid = [
            name
            for name, backend in (
                ("stage", self.stage.backend),
                ("illumination", self.illumination.backend),
                ("filter_wheel", self.filter_wheel.backend),
            )
            if backend.kind == "squid"
        ]
        if self.camera.backend.kind == "squid":
            raise FieldError(
                ("camera", "backend"),
                "the Squid board triggers cameras but is not one; camera backend must be sim "
                "or genicam",
            )
        if on_squid and len(on_squid) < 3:
            raise FieldError(
                (on_squid[0], "backend"),
                f"{', '.join(on_squid)} use the Squid board but the others do not: one board "
                "drives stage, illumination and filter wheel together; use kind squid for "
                "all three or for none",
            )
        if on_squid and self.squid is None:
            raise FieldError(
                ("squid",),
                f"{', '.join(on_squid)} use backend kind squid: add a squid section (port, axes)",
            )
        if self.squid is not None and self.illumination.backend.kind == "squid":
            known = set(self.squid.illumination_sources)
            for i, source in enumerate(self.illumination.sources):
                if source.name not in known:
                    raise FieldError(
                        ("illumination", "sources", i, "name"),
                        f"source {source.name!r} has no code in squid.illumination_sources "
                        f"({sorted(known)})",
                    )
        return self

    @model_validator(mode="after")
    def _cross_references(self) -> MicroscopeConfig:
        names = [o.name for o in self.objectives]
        try:
            _unique_names("objectives", names)
        except FieldError as exc:
            raise FieldError(("objectives", *exc.loc), str(exc)) from None
        if self.objective not in names:
            raise FieldError(("objective",), f"objective {self.objective!r} is not one of {names}")
        sources = {s.name for s in self.illumination.sources}
        seen: set[str] = set()
        for i, ch in enumerate(self.channels):
            if ch.name in seen:
                raise FieldError(("channels", i, "name"), f"two channels named {ch.name!r}")
            seen.add(ch.name)
            if ch.source not in sources:
                raise FieldError(
                    ("channels", i, "source"),
                    f"channel {ch.name!r}: source {ch.source!r} is not one of {sorted(sources)}",
                )
            if self.filter_wheel.filter_at(ch.filter_position) is None:
                declared = sorted(f.position for f in self.filter_wheel.filters)
                raise FieldError(
                    ("channels", i, "filter_position"),
                    f"channel {ch.name!r}: filter_position {ch.filter_position} holds no "
                    f"filter; declared positions are {declared}",
                )
            if not (self.camera.min_exposure_ms <= ch.exposure_ms <= self.camera.max_exposure_ms):
                raise FieldError(
                    ("channels", i, "exposure_ms"),
                    f"channel {ch.name!r}: exposure_ms {ch.exposure_ms} is outside the "
                    f"camera's range [{self.camera.min_exposure_ms}, "
                    f"{self.camera.max_exposure_ms}]",
                )
        if self.specimen.plate_format not in self.plate_formats:
            raise FieldError(
                ("specimen", "plate_format"),
                f"specimen.plate_format {self.specimen.plate_format!r} is not one of "
                f"{sorted(self.plate_formats)}",
            )
        self._tubes_on_the_valves()
        return self

    def _tubes_on_the_valves(self) -> None:
        """Refuse a MERFISH tube at a valve or port the fluidics section does not have."""
        merfish = self.specimen.merfish
        if merfish is None or self.fluidics is None:
            return
        counts = self.fluidics.valves.port_counts
        for key in merfish.tubes:
            for valve, port in parse_tube_key(key):
                if valve > len(counts) or port > counts[valve - 1]:
                    where = (
                        f"port {port} of valve {valve}, which has ports 1..{counts[valve - 1]}"
                        if valve <= len(counts)
                        else f"valve {valve}; the chain has valves 1..{len(counts)}"
                    )
                    raise FieldError(
                        ("specimen", "merfish", "tubes", key),
                        f"tube {key!r} is at {where} (fluidics.valves)",
                    )

    @property
    def active_objective(self) -> ObjectiveConfig:
        """The objective in use."""
        return next(o for o in self.objectives if o.name == self.objective)

    def channel(self, name: str) -> ChannelConfig:
        """A channel preset by name.

        Raises:
            KeyError: naming the channels that exist.
        """
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(f"unknown channel {name!r}; channels are {[c.name for c in self.channels]}")

    def source(self, name: str) -> IlluminationSourceConfig:
        """An illumination source by name."""
        return next(s for s in self.illumination.sources if s.name == name)

    def pixel_size_um(self, binning: int = 1) -> float:
        """Pixel size at the sample for the objective in use."""
        return self.active_objective.pixel_size_um(self.camera, binning)

    def field_of_view_um(self, binning: int = 1) -> tuple[float, float]:
        """Width and height of the full-sensor field of view at the sample."""
        px = self.pixel_size_um(binning)
        return (
            self.camera.sensor_width_px // binning * px,
            self.camera.sensor_height_px // binning * px,
        )

    def plate(self, name: str | None = None) -> PlateFormat:
        """A plate format by name (the specimen's by default)."""
        key = name or self.specimen.plate_format
        try:
            return self.plate_formats[key]
        except KeyError:
            raise KeyError(
                f"unknown plate format {key!r}; formats are {sorted(self.plate_formats)}"
            ) from None


def frame_bytes(config: MicroscopeConfig, binning: int = 1) -> int:
    """Bytes of one full-sensor frame as written (uint16 unless 8-bit)."""
    width = config.camera.sensor_width_px // binning
    height = config.camera.sensor_height_px // binning
    depth = 1 if config.camera.bit_depth == 8 else 2
    return width * height * depth


def psf_sigma_um(wavelength_nm: float, numerical_aperture: float) -> float:
    """Gaussian approximation of the in-focus point-spread function (lateral sigma)."""
    return 0.21 * wavelength_nm * 1e-3 / numerical_aperture
