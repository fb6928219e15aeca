"""Run one acquisition in a session and summarise it (used by ``hcs demo`` and ``hcs acquire``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.preflight import describe_plan
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
    return describe_plan(table)


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
