"""``hcs demo``, ``hcs acquire`` and ``hcs runs``.

The handlers import the acquisition stack when they run, so that ``hcs --help`` and
``hcs emulate`` start in well under a second.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from hcs_orchestrator.cli.app import command_settings
from hcs_orchestrator.cli.options import (
    DEFAULT_DATA_DIR,
    Config,
    DataDir,
    ExistingDataDir,
    hcs_command,
)
from hcs_orchestrator.paths import DEMO_SPEC

#: Exit code of a run ended by Ctrl-C (128 + SIGINT, as shells report it).
CTRL_C_EXIT = 130
#: Runs per page of ``hcs runs`` (as ``hcs_storage.runs.PAGE_SIZE``, not imported here).
PAGE_SIZE = 50
#: What the command line prints when Ctrl-C ended a run (as the stop document says).
CTRL_C_REASON = "aborted by Ctrl-C"


def register(app: typer.Typer) -> None:
    """Add ``hcs demo``, ``hcs acquire`` and ``hcs runs``."""
    app.command(
        "demo",
        **command_settings("acquire a small simulated 96-well plate into the local catalog"),
    )(demo)
    app.command(
        "acquire",
        **command_settings("acquire a sequence (useq-schema YAML/JSON, or an hcs spec)"),
    )(acquire)
    app.command("runs", **command_settings("list the runs in a data directory's catalog"))(runs)


def demo(data_dir: DataDir = DEFAULT_DATA_DIR) -> int:
    """``hcs demo``."""
    return _run_spec(DEMO_SPEC, None, data_dir, data_dir / "demo-overview.png")


def acquire(
    sequence: Annotated[Path, typer.Argument(metavar="SEQUENCE", help="sequence or spec file")],
    config: Config = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, move nothing")
    ] = False,
    positions: Annotated[
        bool,
        typer.Option(
            "--positions", help="with --dry-run, list every field of view's stage position"
        ),
    ] = False,
    overview: Annotated[
        Path | None, typer.Option("--overview", metavar="PNG", help="write a plate overview PNG")
    ] = None,
) -> int:
    """``hcs acquire``."""
    return _run_spec(sequence, config, data_dir, overview, dry_run=dry_run, positions=positions)


def _run_spec(
    spec_path: Path,
    config_path: Path | None,
    data_dir: Path,
    overview: Path | None,
    *,
    dry_run: bool = False,
    positions: bool = False,
) -> int:
    # Everything is checked (as --dry-run does) before the data directory is created or
    # the acquisition stack is imported, so a refused input leaves nothing behind.
    from hcs_devices.camera.triggering import camera_triggering
    from hcs_devices.config import UserFileError
    from hcs_orchestrator.preflight import (
        check_acquisition,
        describe_plan,
        estimate,
        speed_limit,
    )
    from hcs_plans.table import AcquisitionError

    try:
        checked = check_acquisition(spec_path, config_path, data_dir)
    except UserFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AcquisitionError as exc:  # the spec asks what this microscope cannot do
        print(f"error: {spec_path}: {exc}", file=sys.stderr)
        return 2
    if dry_run:
        config, spec, table = checked.config, checked.spec, checked.table
        plate = config.plate_formats.get(table.plate_format) if table.plate_format else None
        duration, bound = estimate(config, spec, table), speed_limit(config, spec, table)
        triggering = camera_triggering(config)
        print(
            describe_plan(
                table, duration, plate, positions=positions, bound=bound, triggering=triggering
            )
        )
        return 0

    from hcs_orchestrator.acquisition import run_acquisition
    from hcs_orchestrator.session import open_session
    from hcs_storage.catalog import EventTablesBusyError
    from hcs_storage.owner import DataDirInUseError

    print(f"opening the catalog in {data_dir.resolve()} ...", flush=True)
    try:
        session = open_session(checked.config, data_dir)
    except (DataDirInUseError, EventTablesBusyError) as exc:  # refused before anything moved
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted by Ctrl-C before the run started", file=sys.stderr)
        return CTRL_C_EXIT
    for uid in session.closed_crashed_runs:
        print(f"run {uid[:8]} had been left open by a crash: closed with exit status 'fail'")
    try:
        summary = run_acquisition(session, checked.spec, overview_path=overview)
    except AcquisitionError as exc:
        print(f"error: {spec_path}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the run opened, or while storage caught up
        print(
            "interrupted by Ctrl-C; documents not yet in the catalog are in the spool "
            "(the next session on this directory forwards them)",
            file=sys.stderr,
        )
        return CTRL_C_EXIT
    finally:
        session.close()
    rate = summary.images / summary.seconds if summary.seconds else 0.0
    print(f"run uid:     {summary.uid}")
    print(f"exit status: {summary.exit_status}")
    print(f"images:      {summary.images} in {summary.seconds:.1f} s ({rate:.1f} images/s)")
    print(f"data:        {summary.data_dir} (catalog.db + frames/)")
    if summary.overview is not None:
        print(f"overview:    {summary.overview.resolve()}")
    print(f"browse:      {hcs_command()} runs --data-dir {shlex.quote(str(data_dir.resolve()))}")
    if summary.ctrl_c and summary.exit_status != "success":
        print(f"{CTRL_C_REASON}: the {summary.images} images taken are recorded")
        return CTRL_C_EXIT
    if summary.exit_status != "success":
        # (On a line of its own: the progress bar leaves the cursor after itself.)
        print(f"\nerror: {summary.reason or 'the run ended early'}", file=sys.stderr)
        return 1
    return 0


def runs(
    data_dir: ExistingDataDir = DEFAULT_DATA_DIR,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="runs per page (newest first)")
    ] = PAGE_SIZE,
    page: Annotated[
        int, typer.Option("--page", metavar="N", min=1, help="which page (1: the newest)")
    ] = 1,
) -> int:
    """List a page of runs, newest first; first close (as failed) runs a crash left open.

    Crashed runs are closed only when no live session owns the data directory (a live
    session's forwarder does it itself). The listing reads the catalog's database
    directly (no Tiled server is started), so it takes well under a second.
    """
    from hcs_orchestrator.cli.runs_table import print_runs
    from hcs_storage.owner import DataDirInUseError, DataDirOwner
    from hcs_storage.runs import list_runs
    from hcs_storage.spool import close_crashed_runs

    owner = DataDirOwner(data_dir)
    try:
        owner.acquire()
    except DataDirInUseError as exc:
        holder = exc.holder.describe() if exc.holder is not None else "another process"
        print(f"note: {data_dir} is in use by {holder}; its runs may still change")
    try:
        closed = close_crashed_runs(data_dir) if owner.held else []
        if closed:
            _forward_closed_runs(data_dir, closed)
        listing = list_runs(data_dir, offset=(page - 1) * limit, limit=limit)
    finally:
        owner.release()
    print_runs(listing.runs)
    if listing.total > listing.offset + len(listing.runs) or listing.offset:
        first, last = listing.offset + 1, listing.offset + len(listing.runs)
        more = f"; --page {page + 1} for older ones" if listing.total > last else ""
        print(f"(runs {first}-{last} of {listing.total}, newest first{more})")
    return 0


def _forward_closed_runs(data_dir: Path, closed: list[str]) -> None:
    """Put the runs a crash left open, now closed, into the catalog (it needs Tiled)."""
    from hcs_storage.catalog import close_catalog, open_catalog
    from hcs_storage.recovery import forward_runs

    catalog = open_catalog(data_dir)
    try:
        unfinished = forward_runs(data_dir, catalog, closed)
    finally:
        close_catalog(catalog)
    for uid in closed:
        where = " (in the spool only: not yet in the catalog)" if uid in unfinished else ""
        print(f"run {uid[:8]} had been left open by a crash: closed as failed{where}")
