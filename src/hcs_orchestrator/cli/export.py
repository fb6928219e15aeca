"""``hcs export``: a run, or every run of an experiment, to OME-Zarr or OME-TIFF.

The handler imports the storage stack when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import typer

from hcs_orchestrator.cli.app import command_settings
from hcs_orchestrator.cli.options import DEFAULT_DATA_DIR, ExistingDataDir

Format = Literal["ome-zarr", "ome-tiff"]
FORMATS: tuple[Format, ...] = get_args(Format)

DESCRIPTION = (
    "Export a run to OME-Zarr (an NGFF HCS plate) or to OME-TIFF (one file per field of "
    "view). RUN is a run uid or the start of one (as `hcs runs` shows); with --experiment, "
    "every run of that experiment becomes one acquisition of the plate (OME-Zarr only)."
)


def register(app: typer.Typer) -> None:
    """Add ``hcs export``."""
    app.command(
        "export",
        **command_settings(
            DESCRIPTION, "export a run (or an experiment's runs) to OME-Zarr or OME-TIFF"
        ),
    )(export)


def export(
    out: Annotated[
        Path, typer.Option("--out", metavar="PATH", help="output path (plate.zarr / dir)")
    ],
    uid: Annotated[str | None, typer.Argument(metavar="RUN", help="run uid or uid prefix")] = None,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", metavar="ID", help="export every run of this experiment"),
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", help="output format")] = "ome-zarr",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace an earlier export")
    ] = False,
    data_dir: ExistingDataDir = DEFAULT_DATA_DIR,
) -> int:
    """``hcs export``."""
    if (uid is None) == (experiment is None):
        print("error: give a RUN or --experiment (one of them)", file=sys.stderr)
        return 2
    if experiment is not None and output_format != "ome-zarr":
        print("error: --experiment exports to --format ome-zarr only", file=sys.stderr)
        return 2
    from hcs_storage.catalog import open_catalog
    from hcs_storage.export import ExportError, ExportExistsError

    catalog = open_catalog(data_dir)
    try:
        if experiment is not None:
            return _export_experiment(catalog, experiment, out, overwrite=overwrite)
        return _export_run(catalog, uid or "", output_format, out, overwrite=overwrite)
    except ExportExistsError as exc:
        print(f"error: {exc.path} exists: add --overwrite to replace it", file=sys.stderr)
        return 2
    except (ExportError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    finally:
        catalog.context.close()


def _export_experiment(catalog: Any, experiment: str, out: Path, *, overwrite: bool) -> int:
    from hcs_orchestrator.cli.export_progress import export_progress
    from hcs_storage.export import ExportError, export_ome_zarr
    from hcs_storage.query import find_runs

    runs = list(find_runs(catalog, experiment_id=experiment).values())
    if not runs:
        raise ExportError(f"no runs of experiment {experiment!r}")
    runs.sort(key=lambda r: r.metadata["start"]["time"])
    with export_progress() as progress:
        path = export_ome_zarr(runs, out, overwrite=overwrite, progress=progress)
    print(f"wrote {len(runs)} run(s) of {experiment} to {path}")
    return 0


def _export_run(
    catalog: Any, uid: str, output_format: Format, out: Path, *, overwrite: bool
) -> int:
    from hcs_orchestrator.cli.export_progress import export_progress
    from hcs_storage.export import export_ome_tiff, export_ome_zarr
    from hcs_storage.query import lookup_run

    run = lookup_run(catalog, uid)
    if output_format == "ome-zarr":
        with export_progress() as progress:
            path = export_ome_zarr(run, out, overwrite=overwrite, progress=progress)
        print(f"wrote {path}")
    else:
        with export_progress() as progress:
            files = export_ome_tiff(run, out, overwrite=overwrite, progress=progress)
        print(f"wrote {len(files)} OME-TIFF file(s) to {out}")
    return 0
