"""Check a configuration and a sequence completely before anything is created or moved.

``hcs acquire`` calls :func:`check_acquisition` first, with or without ``--dry-run``:
the configuration and the sequence are read strictly, validated (every number finite
and within what the instrument can do, the size of the sequence counted before
anything is built) and resolved against the microscope (positions, channels, autofocus,
disk space). Only then is the data directory created and the microscope built, so a
refused input leaves nothing behind. This module imports neither the RunEngine nor
storage, so a refusal takes a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hcs_devices.camera.triggering import CameraTriggering
from hcs_devices.config import MicroscopeConfig, PlateFormat, load_config
from hcs_devices.config.plates import row_name
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_plans.estimate import DurationEstimate, estimate_duration
from hcs_plans.lower_bound import LowerBound, lower_bound
from hcs_plans.specs import AcquisitionSpec, load_spec
from hcs_plans.table import AcquisitionTable, resolve


@dataclass(frozen=True)
class CheckedAcquisition:
    """A configuration and a spec that passed every check, and what they will do.

    Attributes:
        config: the microscope configuration.
        spec: the acquisition spec.
        table: the resolved acquisition (every field of view, channel, plane, time).
    """

    config: MicroscopeConfig
    spec: AcquisitionSpec
    table: AcquisitionTable


def check_acquisition(
    sequence_path: Path, config_path: Path | None, data_dir: Path | None
) -> CheckedAcquisition:
    """Read, validate and resolve a sequence against a configuration; create nothing.

    Args:
        sequence_path: the sequence or spec file.
        config_path: the microscope configuration (the shipped one by default).
        data_dir: where the run would write, for the disk-space check (it need not
            exist, and is not created).

    Raises:
        UserFileError: a file is unreadable or invalid, naming the file and the field.
        AcquisitionError: the microscope cannot do what the spec asks, naming the field.
    """
    config = load_config(config_path or DEFAULT_CONFIG)
    spec = load_spec(sequence_path)
    table = resolve(config, spec, focus_z_um=config.stage.z.start_um, data_dir=data_dir)
    return CheckedAcquisition(config=config, spec=spec, table=table)


def estimate(
    config: MicroscopeConfig, spec: AcquisitionSpec, table: AcquisitionTable
) -> DurationEstimate:
    """How long the acquisition will take on this microscope.

    On the simulated microscope the frames' rendering is measured first (a few frames
    rendered at the first field of view and dropped: nothing moves, nothing is written),
    because rendering takes time a real camera does not.
    """
    cost = None
    if config.camera.backend.kind == "sim" and table.fields:
        from hcs_devices.sim.cost import render_cost

        first = table.fields[0]
        other = next((f for f in table.fields if f.well != first.well), None)
        cost = render_cost(
            config,
            fields_xy_um=[(f.x_um, f.y_um) for f in (first, other) if f is not None],
            z_um=first.z_um if first.z_um is not None else config.stage.z.start_um,
            channels=[config.channel(c.name) for c in table.channels],
            binning=spec.binning,
        )
    return estimate_duration(
        config,
        table,
        hardware_timed=spec.hardware_sequencing,
        frame_render_s=cost.frame_s if cost else None,
        image_ahead_s=cost.image_s if cost else None,
        first_view_s=cost.first_view_s if cost else 0.0,
        warmup_s=cost.warmup_s if cost else 0.0,
    )


def speed_limit(
    config: MicroscopeConfig, spec: AcquisitionSpec, table: AcquisitionTable
) -> LowerBound:
    """The shortest time this instrument can take for the acquisition (its hardware only).

    See :mod:`hcs_plans.lower_bound`; the fields are taken as the estimate takes them
    (hardware-timed bursts where the spec asks for them).
    """
    return lower_bound(config, table, hardware_timed=spec.hardware_sequencing)


def describe_bound(bound: LowerBound, duration: DurationEstimate | None = None) -> str:
    """The lower bound as one line, with the estimate's ratio to it when there is one."""
    shown = ", ".join(f"{k} {v:.1f}" for k, v in bound.parts().items() if v >= 0.05)
    line = f"instrument's lower bound: {bound.total_s:.1f} s ({shown})"
    if duration is not None and bound.total_s > 0:
        line += f"; estimate / lower bound: {duration.total_s / bound.total_s:.2f}"
    return line


def describe_plan(
    table: AcquisitionTable,
    duration: DurationEstimate | None = None,
    plate: PlateFormat | None = None,
    *,
    positions: bool | None = None,
    triggering: CameraTriggering | None = None,
    bound: LowerBound | None = None,
) -> str:
    """What a resolved acquisition would do: where, images, time, bytes, triggers.

    Args:
        table: the resolved acquisition.
        duration: its estimated duration, by what takes the time.
        plate: the plate format, to draw the plate's map.
        positions: list every field of view's stage position; by default only when
            there is no plate map to show.
        triggering: how the camera's exposures will start (said last: a fallback to
            software triggers is worth noticing).
        bound: the instrument's lower bound for it, shown after the estimate.
    """
    wells = {f.well for f in table.fields}
    lines = [
        f"plate format: {table.plate_format or '(positions)'}",
        f"fields of view: {len(table.fields)} in {len(wells)} "
        f"{'wells' if table.plate_format else 'positions'}",
        f"channels: {', '.join(c.name for c in table.channels)}",
        f"z planes: {len(table.z_offsets_um)} "
        f"({', '.join(f'{z:+g}' for z in table.z_offsets_um)} um)",
        f"time points: {len(table.time_points_s)}",
        f"images: {table.images}",
    ]
    if duration is not None:
        parts = {
            "frames": duration.frames_s,
            "focus": duration.focus_s,
            "filters": duration.filters_s,
            "stage": duration.stage_s,
            "messages": duration.messages_s,
            "waits": duration.waits_s,
            "run": duration.run_s,
        }
        shown = ", ".join(f"{k} {v:.1f}" for k, v in parts.items() if v >= 0.05)
        lines.append(f"estimated duration: {duration.total_s:.1f} s ({shown})")
    if bound is not None:
        lines.append(describe_bound(bound, duration))
    lines.append(f"estimated data: {table.total_bytes / 1e6:.1f} MB")
    if plate is not None:
        lines += ["plate map (# wells imaged):", *plate_map(plate, table)]
    if positions or (positions is None and plate is None):
        lines.append("positions (well#fov: x, y um):")
        lines += [f"  {f.well}#{f.fov}: {f.x_um:.1f}, {f.y_um:.1f}" for f in table.fields]
    else:
        lines.append("stage positions: --positions lists each field of view's")
    if triggering is not None:
        lines.append(triggering.describe())
    return "\n".join(lines)


def plate_map(plate: PlateFormat, table: AcquisitionTable) -> list[str]:
    """The plate's wells as text: ``#`` where fields of view are taken, ``.`` elsewhere."""
    counts: dict[tuple[int, int], int] = {}
    for f in table.fields:
        where = plate.well_index(f.well)
        counts[where] = counts.get(where, 0) + 1
    width = len(str(plate.columns))
    lines = ["     " + " ".join(f"{c + 1:>{width}}" for c in range(plate.columns))]
    for r in range(plate.rows):
        marks = " ".join(
            f"{'#' if (r, c) in counts else '.':>{width}}" for c in range(plate.columns)
        )
        lines.append(f"  {row_name(r):>2} {marks}")
    per_well = "/".join(str(n) for n in sorted(set(counts.values())))
    lines.append(f"  {len(counts)} wells, {per_well} fields of view each")
    return lines


__all__ = [
    "CheckedAcquisition",
    "check_acquisition",
    "describe_bound",
    "describe_plan",
    "estimate",
    "plate_map",
    "speed_limit",
]
