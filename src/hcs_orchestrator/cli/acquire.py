"""``hcs demo``, ``hcs acquire`` and ``hcs runs``.

The handlers import the acquisition stack when they run, so that ``hcs --help`` and
``hcs emulate`` start in well under a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC


def register(commands: Any) -> None:
    """Add the acquisition commands to the ``hcs`` parser."""
    demo = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "demo", help="acquire a small simulated 96-well plate into the local catalog"
        ),
    )
    demo.add_argument("--data-dir", type=Path, default=Path("hcs-data"), help="data directory")
    demo.set_defaults(run=_demo)

    acquire = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "acquire", help="acquire a sequence (useq-schema YAML/JSON, or an hcs spec)"
        ),
    )
    acquire.add_argument("sequence", type=Path, help="sequence or spec file")
    acquire.add_argument("--config", type=Path, default=None, help="microscope configuration")
    acquire.add_argument("--data-dir", type=Path, default=Path("hcs-data"), help="data directory")
    acquire.add_argument("--dry-run", action="store_true", help="print the plan, move nothing")
    acquire.add_argument("--overview", type=Path, default=None, help="write a plate overview PNG")
    acquire.set_defaults(run=_acquire)

    runs = cast(
        argparse.ArgumentParser,
        commands.add_parser("runs", help="list the runs in a data directory's catalog"),
    )
    runs.add_argument("--data-dir", type=Path, default=Path("hcs-data"), help="data directory")
    runs.set_defaults(run=_runs)


def _demo(args: argparse.Namespace) -> int:
    return _run_spec(DEMO_SPEC, None, args.data_dir, args.data_dir / "demo-overview.png")


def _acquire(args: argparse.Namespace) -> int:
    if not args.dry_run:
        return _run_spec(args.sequence, args.config, args.data_dir, args.overview)
    from hcs_devices.config import UserFileError, load_config
    from hcs_orchestrator.acquisition import dry_run
    from hcs_plans.specs import load_spec
    from hcs_plans.table import AcquisitionError

    try:
        config = load_config(args.config or DEFAULT_CONFIG)
        print(dry_run(config, load_spec(args.sequence), args.data_dir))
    except (UserFileError, AcquisitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_spec(
    spec_path: Path, config_path: Path | None, data_dir: Path, overview: Path | None
) -> int:
    from hcs_devices.config import UserFileError, load_config
    from hcs_orchestrator.acquisition import run_acquisition
    from hcs_orchestrator.session import open_session
    from hcs_plans.specs import load_spec
    from hcs_plans.table import AcquisitionError

    try:
        spec = load_spec(spec_path)
        config = load_config(config_path or DEFAULT_CONFIG)
    except UserFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from hcs_storage.catalog import EventTablesBusyError
    from hcs_storage.owner import DataDirInUseError

    print(f"opening the catalog in {data_dir.resolve()} ...", flush=True)
    try:
        session = open_session(config, data_dir)
    except (DataDirInUseError, EventTablesBusyError) as exc:  # refused before anything moved
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for uid in session.closed_crashed_runs:
        print(f"run {uid[:8]} had been left open by a crash: closed with exit status 'fail'")
    try:
        summary = run_acquisition(session, spec, overview_path=overview)
    except AcquisitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        session.close()
    rate = summary.images / summary.seconds if summary.seconds else 0.0
    print(f"run uid:     {summary.uid}")
    print(f"exit status: {summary.exit_status}")
    print(f"images:      {summary.images} in {summary.seconds:.1f} s ({rate:.1f} images/s)")
    print(f"data:        {summary.data_dir} (catalog.db + frames/)")
    if summary.overview is not None:
        print(f"overview:    {summary.overview.resolve()}")
    print(f"browse:      hcs runs --data-dir {data_dir}")
    return 0 if summary.exit_status == "success" else 1


def _runs(args: argparse.Namespace) -> int:
    """List the runs; first close (as failed) the runs a crashed process left open.

    Crashed runs are closed only when no live session owns the data directory (a live
    session's forwarder does it itself).
    """
    from hcs_storage.catalog import close_catalog, open_catalog
    from hcs_storage.owner import DataDirInUseError, DataDirOwner
    from hcs_storage.recovery import forward_runs
    from hcs_storage.runs import describe_runs
    from hcs_storage.spool import close_crashed_runs

    owner = DataDirOwner(args.data_dir)
    try:
        owner.acquire()
    except DataDirInUseError as exc:
        holder = exc.holder.describe() if exc.holder is not None else "another process"
        print(f"note: {args.data_dir} is in use by {holder}; its runs may still change")
    try:
        closed = close_crashed_runs(args.data_dir) if owner.held else []
        catalog = open_catalog(args.data_dir)
        try:
            unfinished = forward_runs(args.data_dir, catalog, closed) if closed else []
            for uid in closed:
                where = " (in the spool only: not yet in the catalog)" if uid in unfinished else ""
                print(f"run {uid[:8]} had been left open by a crash: closed as failed{where}")
            for line in describe_runs(catalog):
                print(line)
        finally:
            close_catalog(catalog)
    finally:
        owner.release()
    return 0
