"""Finding runs by what their start and stop documents say, and by a uid's first digits.

The criteria become Tiled queries answered by the catalog's database (SQLite or
PostgreSQL); this works the same on an embedded catalog and a Tiled server's client.
"""

from __future__ import annotations

import datetime
import re
from typing import Any


def find_runs(
    catalog: Any,
    *,
    experiment_id: str | None = None,
    plate_format: str | None = None,
    well: str | None = None,
    channel: str | None = None,
    plan_name: str | None = None,
    exit_status: str | None = None,
    since: float | datetime.datetime | None = None,
    until: float | datetime.datetime | None = None,
) -> Any:
    """The runs of a catalog that match every criterion given (all runs if none).

    The criteria become Tiled queries answered by the catalog's database (SQLite or
    PostgreSQL), so this is as fast on a catalog of thousands of runs as on one.

    Args:
        catalog: a Tiled client on a catalog of Bluesky runs.
        experiment_id: the start document's ``experiment_id``.
        plate_format: the plate format, e.g. ``"96"``.
        well: a well the run imaged, e.g. ``"B3"``.
        channel: a channel the run used, e.g. ``"DAPI"``.
        plan_name: the plan, e.g. ``"acquire_plate"``.
        exit_status: how the run ended: ``"success"``, ``"abort"`` or ``"fail"``.
        since: runs started at or after this time (epoch seconds or a datetime).
        until: runs started before this time.

    Returns:
        A Tiled container of the matching runs (iterate it, index it by uid, or
        narrow it further with ``.search``).
    """
    from tiled.queries import Comparison, Contains, Key

    queries: list[Any] = []
    for key, value in (
        ("start.experiment_id", experiment_id),
        ("start.plate_format", plate_format),
        ("start.plan_name", plan_name),
        ("stop.exit_status", exit_status),
    ):
        if value is not None:
            queries.append(Key(key) == value)
    # Lists are matched as JSON text: the quotes make "B1" not match "B10".
    for key, value in (("start.wells", well), ("start.channels", channel)):
        if value is not None:
            queries.append(Contains(key, _json_string(value)))
    if since is not None:
        queries.append(Comparison("ge", "start.time", _epoch(since)))
    if until is not None:
        queries.append(Comparison("lt", "start.time", _epoch(until)))
    found = catalog
    for query in queries:
        found = found.search(query)
    return found


def lookup_run(catalog: Any, uid: str) -> Any:
    """The run whose uid is ``uid`` or starts with it (as ``hcs runs`` shows it).

    Raises:
        KeyError: no run, or more than one, matches.
    """
    from tiled.queries import Like

    if not re.fullmatch(r"[0-9a-fA-F-]+", uid):
        raise KeyError(f"{uid!r} is not a run uid (hexadecimal digits and dashes)")
    matches = list(catalog.search(Like("start.uid", f"{uid}%")).keys()[:2])
    if not matches:
        raise KeyError(f"no run with a uid starting with {uid!r}")
    if len(matches) > 1:
        raise KeyError(f"more than one run has a uid starting with {uid!r}: give more of it")
    return catalog[matches[0]]


def _json_string(value: str) -> str:
    if '"' in value or "\\" in value:
        raise ValueError(f"names with quotes or backslashes cannot be searched: {value!r}")
    return f'"{value}"'


def _epoch(when: float | datetime.datetime) -> float:
    return when.timestamp() if isinstance(when, datetime.datetime) else float(when)
