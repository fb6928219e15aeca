"""Listing the runs of a catalog: one line per run, counts from what was recorded.

A listing needs a few fields of each run's start and stop documents, not the runs
themselves. :func:`list_runs` reads just those fields for one page of runs, newest
first, straight from a data directory's SQLite catalog (``catalog.db``, read only)
with one query, so ``hcs runs`` neither starts Tiled nor opens a run.
:func:`describe_runs` does the same from any Tiled client (an embedded catalog or a
server), from the runs' metadata.

The image count is what the run recorded: the stop document's count of rows in the
``frames`` stream (one per image), so an aborted run that took 90 of 108 planned
images shows 90. A run still open (or left open by a crash and not yet closed) has
no stop document; its count is shown as ``?``.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcs_schema import CATALOG_FILE, FRAMES_STREAM

#: The file next to a run's frames that lists the frames no document records.
UNRECORDED_FILE = "unrecorded.json"
#: Runs per page of ``hcs runs`` unless asked otherwise.
PAGE_SIZE = 50


@dataclass(frozen=True)
class RunSummary:
    """What a listing shows of one run.

    Attributes:
        uid: the run's uid.
        start_time: epoch seconds of its start.
        plan_name: the plan that made it.
        experiment_id: its experiment.
        planned_images: images the plan meant to take (its start document's count).
        images: images recorded (rows of its frames stream, from the stop document);
            None while the run is open.
        exit_status: ``success``, ``abort``, ``fail``, or ``open``.
        unrecorded: frame files a crash left on disk that no document records.
    """

    uid: str
    start_time: float
    plan_name: str
    experiment_id: str
    planned_images: int | None
    images: int | None
    exit_status: str
    unrecorded: list[dict[str, str]] = field(default_factory=list[dict[str, str]])


@dataclass(frozen=True)
class RunPage:
    """One page of a listing.

    Attributes:
        runs: the runs on this page, newest first.
        total: runs in the catalog.
        offset: runs newer than the first on this page.
    """

    runs: list[RunSummary]
    total: int
    offset: int


def summary_from_metadata(start: Mapping[str, Any], stop: Mapping[str, Any] | None) -> RunSummary:
    """A run's summary from its start and stop documents (as a run's metadata holds them)."""
    stop = stop or {}
    counts = stop.get("num_events") or {}
    recorded = counts.get(FRAMES_STREAM, 0) if stop else None
    planned = start.get("num_images")
    return RunSummary(
        uid=str(start.get("uid", "")),
        start_time=float(start.get("time") or 0.0),
        plan_name=str(start.get("plan_name") or "?"),
        experiment_id=str(start.get("experiment_id") or ""),
        planned_images=int(planned) if planned is not None else None,
        images=int(recorded) if recorded is not None else None,
        exit_status=str(stop.get("exit_status") or "open"),
        unrecorded=list(stop.get("unrecorded_frames") or []),
    )


#: One page of runs, newest first: only the fields a listing shows.
_PAGE_QUERY = """
SELECT json_extract(metadata, '$.start'),
       json_extract(metadata, '$.stop.exit_status'),
       json_extract(metadata, '$.stop.num_events'),
       json_extract(metadata, '$.stop.unrecorded_frames')
FROM nodes
WHERE parent = (SELECT id FROM nodes WHERE parent IS NULL)
ORDER BY json_extract(metadata, '$.start.time') DESC, id DESC
LIMIT ? OFFSET ?
"""
#: The start document's fields a listing shows (not the microscope configuration).
_START_FIELDS = ("uid", "time", "plan_name", "experiment_id", "num_images")


def list_runs(data_dir: str | Path, *, offset: int = 0, limit: int = PAGE_SIZE) -> RunPage:
    """One page of a data directory's runs, newest first, read from its SQLite catalog.

    The catalog is opened read only; nothing is created. A data directory with no
    catalog yet has no runs.

    Args:
        data_dir: the data directory.
        offset: how many of the newest runs to skip.
        limit: the most runs to return.

    Raises:
        ValueError: ``offset`` is negative or ``limit`` is not positive.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0 (got {offset})")
    if limit < 1:
        raise ValueError(f"limit must be >= 1 (got {limit})")
    path = Path(data_dir).resolve() / CATALOG_FILE
    if not path.exists():
        return RunPage(runs=[], total=0, offset=offset)
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        total = db.execute(
            "SELECT count(*) FROM nodes WHERE parent = (SELECT id FROM nodes WHERE parent IS NULL)"
        ).fetchone()[0]
        runs = [
            _summary_from_row(*row) for row in db.execute(_PAGE_QUERY, (limit, offset)).fetchall()
        ]
    return RunPage(runs=runs, total=int(total), offset=offset)


def _summary_from_row(
    start_json: str | None, exit_status: str | None, counts: str | None, unrecorded: str | None
) -> RunSummary:
    full: dict[str, Any] = json.loads(start_json) if start_json else {}
    start = {k: full[k] for k in _START_FIELDS if k in full}
    stop: dict[str, Any] | None = None
    if exit_status is not None:
        stop = {
            "exit_status": exit_status,
            "num_events": json.loads(counts) if counts else {},
            "unrecorded_frames": json.loads(unrecorded) if unrecorded else [],
        }
    return summary_from_metadata(start, stop)


#: The columns of a listing: title, width and alignment (``<`` left, ``>`` right); the
#: last column takes the width it needs.
RUN_COLUMNS: tuple[tuple[str, int, str], ...] = (
    ("start (UTC)", 19, "<"),
    ("uid", 8, "<"),
    ("plan", 14, "<"),
    ("experiment", 12, "<"),
    ("images", 6, ">"),
    ("planned", 7, ">"),
    ("status", 0, "<"),
)


def run_cells(run: RunSummary) -> tuple[str, ...]:
    """What a listing shows of ``run``, one string per column of :data:`RUN_COLUMNS`.

    The uid prefix is what every command and :func:`~hcs_storage.query.lookup_run`
    accept for the run. ``images`` is what the run recorded (``?`` while it is open);
    ``planned`` what its plan meant to take.
    """
    when = datetime.datetime.fromtimestamp(run.start_time, tz=datetime.UTC)
    images = "?" if run.images is None else str(run.images)
    planned = "" if run.planned_images is None else str(run.planned_images)
    return (
        f"{when:%Y-%m-%d %H:%M:%S}",
        run.uid[:8],
        run.plan_name,
        run.experiment_id,
        images,
        planned,
        run.exit_status,
    )


def run_note(run: RunSummary) -> str | None:
    """A line to show under a run closed after a crash with frame files no document records.

    It names how many and the first few (the full list, with reasons, is
    ``unrecorded.json`` in the run's frame set); None for every other run.
    """
    if not run.unrecorded:
        return None
    return (
        f"run {run.uid[:8]}: closed as failed; {describe_unrecorded(run.unrecorded)} "
        f"(reasons: {UNRECORDED_FILE} next to them)"
    )


def _columns_line(cells: Iterable[str]) -> str:
    return "  ".join(
        f"{cell:{align}{width}}" if width else cell
        for cell, (_, width, align) in zip(cells, RUN_COLUMNS, strict=True)
    )


def format_runs(runs: Iterable[RunSummary]) -> Iterator[str]:
    """Plain text: a header and one line per run (:func:`run_cells`), with its :func:`run_note`."""
    yield _columns_line(title for title, _, _ in RUN_COLUMNS)
    for run in runs:
        yield _columns_line(run_cells(run))
        note = run_note(run)
        if note is not None:
            yield f"  {note}"


def describe_runs(catalog: Any, *, offset: int = 0, limit: int | None = None) -> Iterator[str]:
    """:func:`format_runs` of a Tiled catalog's runs, in the catalog's order.

    Works on any Tiled client (an embedded catalog or a server); each run's metadata
    comes with the page of runs it is in, so no run is opened.

    Args:
        catalog: a Tiled client on a catalog of Bluesky runs.
        offset: how many runs to skip.
        limit: the most runs to list (all by default).
    """
    items = catalog.items()
    page = items[offset : offset + limit] if limit is not None else items[offset:]
    return format_runs(
        summary_from_metadata(node.metadata.get("start") or {}, node.metadata.get("stop"))
        for _, node in page
    )


def describe_unrecorded(unrecorded: list[dict[str, str]], shown: int = 3) -> str:
    """One sentence: how many frame files were not recorded, and the first few."""
    files = [item["file"] for item in unrecorded]
    more = f" and {len(files) - shown} more" if len(files) > shown else ""
    noun = "file on disk was" if len(files) == 1 else "files on disk were"
    return f"{len(files)} frame {noun} not recorded: {' '.join(files[:shown])}{more}"
