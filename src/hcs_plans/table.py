"""Resolve and check an acquisition before anything moves: every image, where, how.

:func:`resolve` turns a spec and the microscope configuration into an
:class:`AcquisitionTable` (fields of view, channel settings, z offsets, time points)
and refuses anything the microscope cannot do, naming the field: positions outside
the soft limits, unknown channels (the autofocus's too), exposures beyond the camera's
range, not enough disk space. The size of what a spec asks for has been counted when it
was validated (:mod:`hcs_plans.specs.limits`), so resolving it allocates little.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import useq

from hcs_devices.config.models import ChannelConfig, MicroscopeConfig, frame_bytes
from hcs_plans.patterns.plate import FieldOfView, plate_fields, plate_for, position_fields
from hcs_plans.specs.acquisition import AcquisitionSpec


class AcquisitionError(ValueError):
    """An acquisition the microscope cannot do; the message names the field."""


@dataclass(frozen=True)
class ChannelSetting:
    """A channel as it will be acquired: the preset with the sequence's overrides."""

    name: str
    source: str
    intensity_percent: float
    exposure_ms: float
    filter_position: int
    z_offset_um: float
    do_stack: bool
    acquire_every: int


@dataclass(frozen=True)
class StackFrame:
    """One frame of a field of view's z x channel stack."""

    z_index: int
    z_rel_um: float
    channel: ChannelSetting


@dataclass(frozen=True)
class AcquisitionTable:
    """Everything an acquisition will do, resolved and checked."""

    fields: list[FieldOfView]
    channels: list[ChannelSetting]
    z_offsets_um: list[float]
    z_absolute: bool
    time_points_s: list[float]
    z_outer: bool
    plate_format: str | None
    frame_bytes: int

    def stack(self, time_index: int) -> list[StackFrame]:
        """The frames of one field of view at one time point, in acquisition order."""
        centre = len(self.z_offsets_um) // 2  # the plane useq takes for do_stack: false
        frames: list[StackFrame] = []
        channels = [c for c in self.channels if time_index % c.acquire_every == 0]
        if self.z_outer:
            for zi, dz in enumerate(self.z_offsets_um):
                frames.extend(StackFrame(zi, dz, c) for c in channels if c.do_stack or zi == centre)
        else:
            for c in channels:
                frames.extend(
                    StackFrame(zi, dz, c)
                    for zi, dz in enumerate(self.z_offsets_um)
                    if c.do_stack or zi == centre
                )
        return frames

    @property
    def images(self) -> int:
        """Total number of images (counted, without building the stacks)."""
        planes = len(self.z_offsets_um)
        per_channel = [(c.acquire_every, planes if c.do_stack else 1) for c in self.channels]
        per_field = sum(
            frames
            for t in range(len(self.time_points_s))
            for every, frames in per_channel
            if t % every == 0
        )
        return per_field * len(self.fields)

    @property
    def total_bytes(self) -> int:
        """Bytes of image data the run writes."""
        return self.images * self.frame_bytes


def resolve_channels(config: MicroscopeConfig, sequence: useq.MDASequence) -> list[ChannelSetting]:
    """The sequence's channels resolved against the configuration's presets.

    Raises:
        AcquisitionError: an unknown channel, or an exposure beyond the camera's range.
    """
    if not sequence.channels:
        raise AcquisitionError("sequence.channels: at least one channel is needed")
    presets = {c.name: c for c in config.channels}
    cam = config.camera
    settings: list[ChannelSetting] = []
    for i, ch in enumerate(sequence.channels):
        preset: ChannelConfig | None = presets.get(ch.config)
        if preset is None:
            raise AcquisitionError(
                f"sequence.channels[{i}].config: unknown channel {ch.config!r}; "
                f"the microscope's channels are {sorted(presets)}"
            )
        exposure = float(ch.exposure) if ch.exposure is not None else preset.exposure_ms
        if not cam.min_exposure_ms <= exposure <= cam.max_exposure_ms:
            raise AcquisitionError(
                f"sequence.channels[{i}].exposure: {exposure} ms is outside the camera's "
                f"range [{cam.min_exposure_ms}, {cam.max_exposure_ms}] ms"
            )
        settings.append(
            ChannelSetting(
                name=preset.name,
                source=preset.source,
                intensity_percent=preset.intensity_percent,
                exposure_ms=exposure,
                filter_position=preset.filter_position,
                z_offset_um=preset.z_offset_um + float(ch.z_offset or 0.0),
                do_stack=ch.do_stack,
                acquire_every=max(1, int(ch.acquire_every)),
            )
        )
    return settings


def check_autofocus(config: MicroscopeConfig, spec: AcquisitionSpec) -> None:
    """Refuse an autofocus policy the microscope cannot carry out.

    Raises:
        AcquisitionError: the contrast autofocus names an unknown channel, or the laser
            autofocus is asked of a microscope without the sensor.
    """
    policy = spec.autofocus
    if not policy.enabled or (
        spec.sequence.z_plan is not None and not spec.sequence.z_plan.is_relative
    ):
        return
    measure_with = policy.focus_map.measure_with if policy.focus_map is not None else None
    uses_laser = policy.method == "laser" or measure_with == "laser"
    uses_contrast = (
        policy.method == "contrast"
        or measure_with == "contrast"
        or (uses_laser and policy.laser.calibrate == "if_needed")
    )
    known = sorted(c.name for c in config.channels)
    if uses_contrast and policy.contrast.channel not in known:
        raise AcquisitionError(
            f"autofocus.contrast.channel: unknown channel {policy.contrast.channel!r}; "
            f"the microscope's channels are {known}"
        )
    if uses_laser and config.laser_autofocus is None:
        raise AcquisitionError(
            "autofocus.method: this microscope has no laser autofocus sensor "
            "(laser_autofocus section); use contrast"
        )


def resolve_fields(
    config: MicroscopeConfig, spec: AcquisitionSpec
) -> tuple[list[FieldOfView], str | None]:
    """Fields of view in acquisition order, and the plate format used (if a plate)."""
    seq = spec.sequence
    fov_w, fov_h = config.field_of_view_um()
    positions = seq.stage_positions
    try:
        if isinstance(positions, useq.WellPlatePlan):
            name, plate = plate_for(positions, config.plate_formats, spec.plate_format)
            fields = plate_fields(
                positions,
                plate,
                fov_width_um=fov_w,
                fov_height_um=fov_h,
                well_order=spec.well_order,
                fov_order=spec.fov_order,
                clip_to_well=spec.clip_to_well,
            )
            if not fields:
                raise AcquisitionError(
                    "sequence.stage_positions.well_points_plan: no field of view fits inside "
                    "a well; make the grid smaller or set clip_to_well: false"
                )
            return fields, name
        grid = seq.grid_plan if isinstance(seq.grid_plan, useq.GridRowsColumns) else None
        if seq.grid_plan is not None and grid is None:
            raise AcquisitionError(
                "sequence.grid_plan: only GridRowsColumns grids are supported here"
            )
        if not positions:
            raise AcquisitionError(
                "sequence.stage_positions: give a WellPlatePlan or at least one position"
            )
        return (
            position_fields(
                tuple(positions),
                grid,
                fov_width_um=fov_w,
                fov_height_um=fov_h,
                fov_order=spec.fov_order,
            ),
            None,
        )
    except AcquisitionError:
        raise
    except ValueError as exc:
        raise AcquisitionError(f"sequence.stage_positions: {exc}") from exc


def resolve(
    config: MicroscopeConfig,
    spec: AcquisitionSpec,
    *,
    focus_z_um: float,
    data_dir: Path | None = None,
) -> AcquisitionTable:
    """Resolve and check a spec against a microscope.

    Args:
        config: the microscope configuration.
        spec: what to acquire.
        focus_z_um: the stage z that z plans are centred on (``z_reference: focus``).
        data_dir: where frames will be written, for the disk-space check.

    Raises:
        AcquisitionError: naming the field and what is allowed.
    """
    seq = spec.sequence
    channels = resolve_channels(config, seq)
    check_autofocus(config, spec)
    fields, plate = resolve_fields(config, spec)
    z_plan = seq.z_plan
    z_offsets = [float(z) for z in z_plan] if z_plan is not None else [0.0]
    z_absolute = z_plan is not None and not z_plan.is_relative
    time_points = [float(t) for t in seq.time_plan] if seq.time_plan is not None else [0.0]
    order = "".join(str(a) for a in seq.axis_order)
    z_outer = order.find("z") < order.find("c") if "z" in order and "c" in order else True

    stage = config.stage
    for axis_name, axis in (("x", stage.x), ("y", stage.y)):
        for f in fields:
            value = f.x_um if axis_name == "x" else f.y_um
            if not axis.low_limit_um <= value <= axis.high_limit_um:
                raise AcquisitionError(
                    f"sequence.stage_positions: field of view {f.well}#{f.fov} at "
                    f"{axis_name}={value:.1f} um is outside the stage's soft limits "
                    f"[{axis.low_limit_um}, {axis.high_limit_um}] um"
                )
    offsets = [c.z_offset_um for c in channels]
    for f in fields:
        base = (
            0.0
            if z_absolute
            else (f.z_um if spec.z_reference == "stage" and f.z_um is not None else focus_z_um)
        )
        lowest = base + min(z_offsets) + min(offsets)
        highest = base + max(z_offsets) + max(offsets)
        if lowest < stage.z.low_limit_um or highest > stage.z.high_limit_um:
            raise AcquisitionError(
                f"sequence.z_plan: z from {lowest:.2f} to {highest:.2f} um at {f.well}#{f.fov} "
                f"leaves the stage's z soft limits [{stage.z.low_limit_um}, "
                f"{stage.z.high_limit_um}] um"
            )

    if spec.binning not in config.camera.binning_allowed:
        raise AcquisitionError(
            f"binning: {spec.binning} is not one the camera allows "
            f"{list(config.camera.binning_allowed)}"
        )
    table = AcquisitionTable(
        fields=fields,
        channels=channels,
        z_offsets_um=z_offsets,
        z_absolute=z_absolute,
        time_points_s=time_points,
        z_outer=z_outer,
        plate_format=plate,
        frame_bytes=frame_bytes(config, spec.binning),
    )
    if data_dir is not None:
        check_disk_space(data_dir, table.total_bytes)
    return table


def check_disk_space(data_dir: Path, needed_bytes: int, margin: float = 1.1) -> None:
    """Refuse when the data directory's disk has less free space than the run needs.

    Raises:
        AcquisitionError: naming the directory, the bytes needed and the bytes free.
    """
    probe = Path(data_dir)
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed_bytes * margin > free:
        raise AcquisitionError(
            f"data_dir: the run needs {needed_bytes / 1e9:.2f} GB (plus 10 %) but "
            f"{probe} has {free / 1e9:.2f} GB free"
        )
