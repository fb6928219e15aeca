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

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_orchestrator.paths import DEFAULT_CONFIG
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


def describe_plan(table: AcquisitionTable) -> str:
    """What a resolved acquisition would do: positions, images, time, bytes."""
    lines = [
        f"plate format: {table.plate_format or '(positions)'}",
        f"fields of view: {len(table.fields)} in {len({f.well for f in table.fields})} wells",
        f"channels: {', '.join(c.name for c in table.channels)}",
        f"z planes: {len(table.z_offsets_um)} "
        f"({', '.join(f'{z:+g}' for z in table.z_offsets_um)} um)",
        f"time points: {len(table.time_points_s)}",
        f"images: {table.images}",
        f"estimated duration: {table.estimated_duration_s:.1f} s",
        f"estimated data: {table.total_bytes / 1e6:.1f} MB",
        "positions (well#fov: x, y um):",
    ]
    lines += [f"  {f.well}#{f.fov}: {f.x_um:.1f}, {f.y_um:.1f}" for f in table.fields]
    return "\n".join(lines)


__all__ = ["CheckedAcquisition", "check_acquisition", "describe_plan"]
