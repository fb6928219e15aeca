"""Run one acquisition in a session and summarise it (used by ``hcs demo`` and ``hcs acquire``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bluesky.utils import RunEngineInterrupted

from hcs_devices.camera.triggering import camera_triggering
from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.engine import CtrlCEndsRun
from hcs_orchestrator.preflight import describe_plan, estimate, speed_limit
from hcs_orchestrator.progress import ProgressBar, ProgressUpdate, RunProgress
from hcs_orchestrator.session import Session
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import AcquisitionSpec
from hcs_plans.table import AcquisitionTable, resolve
from hcs_storage.overview import plate_overview

#: The reason recorded in the stop document of a run ended by Ctrl-C.
CTRL_C_REASON = "aborted by Ctrl-C"


@dataclass(frozen=True)
class AcquisitionSummary:
    """What a finished acquisition did.

    Attributes:
        uid: the run's uid.
        images: images recorded in the run (rows of its frames stream).
        seconds: how long the run took.
        exit_status: the stop document's exit status (``success``, ``abort``, ``fail``).
        data_dir: the data directory.
        overview: the plate overview written, if any.
        reason: the stop document's reason (why the run ended early; empty otherwise).
        ctrl_c: whether Ctrl-C ended the run.
    """

    uid: str
    images: int
    seconds: float
    exit_status: str
    data_dir: Path
    overview: Path | None
    reason: str = ""
    ctrl_c: bool = False


def dry_run(config: MicroscopeConfig, spec: AcquisitionSpec, data_dir: Path | None) -> str:
    """Describe what a spec would do, moving nothing: positions, images, time, bytes."""
    table: AcquisitionTable = resolve(
        config, spec, focus_z_um=config.stage.z.start_um, data_dir=data_dir
    )
    plate = config.plate_formats.get(table.plate_format) if table.plate_format else None
    triggering = camera_triggering(config)
    bound = speed_limit(config, spec, table)
    duration = estimate(config, spec, table)
    return describe_plan(table, duration, plate, bound=bound, triggering=triggering)


def run_acquisition(
    session: Session,
    spec: AcquisitionSpec,
    *,
    progress: bool = True,
    overview_path: Path | None = None,
) -> AcquisitionSummary:
    """Acquire a spec, wait for storage, and optionally write the plate overview.

    Ctrl-C ends the run (nobody could resume it): the first press at the end of the
    current field of view, a second one at once. Either way the run is aborted with
    reason :data:`CTRL_C_REASON`, and every image on disk is recorded with its row. A
    run that fails (a full disk, a device error) is summarised too: its stop
    document's exit status and reason say why.

    Args:
        session: the session to acquire in.
        spec: what to acquire.
        progress: show a progress bar.
        overview_path: where to write a plate overview PNG (none by default).

    Returns:
        The summary, read back from the catalog once storage has caught up.

    Raises:
        Exception: whatever ended the plan before its run started (e.g. a spec the
            microscope cannot do).
    """
    updates: list[ProgressUpdate] = []
    starts: list[str] = []
    bar = ProgressBar() if progress else None

    def report(update: ProgressUpdate) -> None:
        updates.append(update)
        if bar is not None:
            bar(update)

    def note_start(name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            starts.append(doc["uid"])

    RE = session.RE
    ctrl_c = CtrlCEndsRun()
    saved_managers = RE.context_managers
    RE.context_managers = [ctrl_c.manage]
    tokens = [RE.subscribe(RunProgress(report)), RE.subscribe(note_start)]
    start = time.monotonic()
    try:
        try:
            RE(acquire_plate(session.microscope, spec))
        except RunEngineInterrupted:
            # Paused by Ctrl-C, in a process nobody can resume it from: end the run.
            RE.abort(reason=CTRL_C_REASON)
        except Exception:
            if not starts:
                raise  # refused before its run opened: nothing to summarise
    finally:
        RE.context_managers = saved_managers
        for token in tokens:
            RE.unsubscribe(token)
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - start
    session.flush()
    uid = starts[-1]
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
        reason=str(stop.get("reason", "")),
        ctrl_c=ctrl_c.presses > 0,
    )
