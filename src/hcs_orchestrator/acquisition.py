"""Run one acquisition in a session and summarise it (used by ``hcs demo`` and ``hcs acquire``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.progress import ProgressBar, ProgressUpdate, RunProgress
from hcs_orchestrator.session import Session
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import AcquisitionSpec
from hcs_plans.table import AcquisitionTable, resolve
from hcs_storage.overview import plate_overview


@dataclass(frozen=True)
class AcquisitionSummary:
    """What a finished acquisition did."""

    uid: str
    images: int
    seconds: float
    exit_status: str
    data_dir: Path
    overview: Path | None


def dry_run(config: MicroscopeConfig, spec: AcquisitionSpec, data_dir: Path | None) -> str:
    """Describe what a spec would do, moving nothing: positions, images, time, bytes."""
    table: AcquisitionTable = resolve(
        config, spec, focus_z_um=config.stage.z.start_um, data_dir=data_dir
    )
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


def run_acquisition(
    session: Session,
    spec: AcquisitionSpec,
    *,
    progress: bool = True,
    overview_path: Path | None = None,
) -> AcquisitionSummary:
    """Acquire a spec, wait for storage, and optionally write the plate overview."""
    updates: list[ProgressUpdate] = []
    bar = ProgressBar() if progress else None

    def report(update: ProgressUpdate) -> None:
        updates.append(update)
        if bar is not None:
            bar(update)

    token = session.RE.subscribe(RunProgress(report))
    start = time.monotonic()
    try:
        result = session.RE(acquire_plate(session.microscope, spec))
    finally:
        session.RE.unsubscribe(token)
    seconds = time.monotonic() - start
    session.flush()
    uid = result[0] if isinstance(result, tuple) else str(result)
    run = session.catalog[uid]
    stop = run.metadata["stop"] or {}
    overview = plate_overview(run, overview_path) if overview_path is not None else None
    return AcquisitionSummary(
        uid=uid,
        images=updates[-1].done if updates else 0,
        seconds=seconds,
        exit_status=str(stop.get("exit_status", "unknown")),
        data_dir=session.data_dir,
        overview=overview,
    )
