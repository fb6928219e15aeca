"""``hcs export``: a run, or every run of an experiment, to OME-Zarr or OME-TIFF.

The handler imports the storage stack when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

from hcs_orchestrator.cli.options import add_data_dir_option

FORMATS = ("ome-zarr", "ome-tiff")


def register(commands: Any) -> None:
    """Add ``hcs export`` to the ``hcs`` parser."""
    export = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "export",
            help="export a run (or an experiment's runs) to OME-Zarr or OME-TIFF",
            description=(
                "Export a run to OME-Zarr (an NGFF HCS plate) or to OME-TIFF (one file per "
                "field of view). RUN is a run uid or the start of one (as `hcs runs` shows); "
                "with --experiment, every run of that experiment becomes one acquisition "
                "of the plate (OME-Zarr only)."
            ),
        ),
    )
    export.add_argument("uid", nargs="?", default=None, metavar="RUN", help="run uid or uid prefix")
    export.add_argument("--experiment", default=None, help="export every run of this experiment")
    export.add_argument("--format", choices=FORMATS, default="ome-zarr", help="output format")
    export.add_argument("--out", type=Path, required=True, help="output path (plate.zarr / dir)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export")
    add_data_dir_option(export, must_exist=True)
    export.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> int:
    if (args.uid is None) == (args.experiment is None):
        print("error: give a RUN or --experiment (one of them)", file=sys.stderr)
        return 2
    if args.experiment is not None and args.format != "ome-zarr":
        print("error: --experiment exports to --format ome-zarr only", file=sys.stderr)
        return 2
    from hcs_storage.catalog import open_catalog
    from hcs_storage.export import ExportError, ExportExistsError

    catalog = open_catalog(args.data_dir)
    try:
        return _export_from(catalog, args)
    except ExportExistsError as exc:
        print(f"error: {exc.path} exists: add --overwrite to replace it", file=sys.stderr)
        return 2
    except (ExportError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    finally:
        catalog.context.close()


def _export_from(catalog: Any, args: argparse.Namespace) -> int:
    from hcs_orchestrator.cli.export_progress import export_progress
    from hcs_storage.export import ExportError, export_ome_tiff, export_ome_zarr
    from hcs_storage.query import find_runs, lookup_run

    if args.experiment is not None:
        runs = list(find_runs(catalog, experiment_id=args.experiment).values())
        if not runs:
            raise ExportError(f"no runs of experiment {args.experiment!r}")
        runs.sort(key=lambda r: r.metadata["start"]["time"])
        with export_progress() as progress:
            path = export_ome_zarr(runs, args.out, overwrite=args.overwrite, progress=progress)
        print(f"wrote {len(runs)} run(s) of {args.experiment} to {path}")
        return 0
    run = lookup_run(catalog, args.uid)
    if args.format == "ome-zarr":
        with export_progress() as progress:
            path = export_ome_zarr(run, args.out, overwrite=args.overwrite, progress=progress)
        print(f"wrote {path}")
    else:
        with export_progress() as progress:
            files = export_ome_tiff(run, args.out, overwrite=args.overwrite, progress=progress)
        print(f"wrote {len(files)} OME-TIFF file(s) to {args.out}")
    return 0
