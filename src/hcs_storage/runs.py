"""Listing the runs of a catalog."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from hcs_storage.recovery import UNRECORDED_FILE, describe_unrecorded


def describe_runs(catalog: Any) -> Iterator[str]:
    """One line per run: start time, uid, plan, experiment, images, exit status.

    A run closed after a crash with frame files on disk that no document records (its
    stop document's ``unrecorded_frames``) gets a second line naming how many and the
    first few (the full list, with reasons, is ``unrecorded.json`` in its frame set).
    """
    yield f"{'start (UTC)':19}  {'uid':8}  {'plan':14}  {'experiment':12}  {'images':>6}  status"
    for uid, run in catalog.items():
        start = run.metadata.get("start") or {}
        stop = run.metadata.get("stop") or {}
        when = datetime.datetime.fromtimestamp(start.get("time", 0), tz=datetime.UTC)
        yield (
            f"{when:%Y-%m-%d %H:%M:%S}  {uid[:8]}  {start.get('plan_name', '?'):14}  "
            f"{start.get('experiment_id', ''):12}  {start.get('num_images', ''):>6}  "
            f"{stop.get('exit_status', 'open')}"
        )
        unrecorded = stop.get("unrecorded_frames") or []
        if unrecorded:
            yield (
                f"  run {uid[:8]}: closed as failed; {describe_unrecorded(unrecorded)} "
                f"(reasons: {UNRECORDED_FILE} next to them)"
            )
