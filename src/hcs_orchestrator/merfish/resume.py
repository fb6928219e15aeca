"""What a restarted MERFISH experiment still has to do: the journal plus the catalog.

For each unit, in order:

- completed in the journal: nothing to do;
- never started (no run): run it whole;
- started and not completed (a crash, a failure): ask the catalog what its runs left.
  A run that ended with success completes the unit (the process died after the stop
  document and before the journal heard of it). An image unit re-takes only the
  frames that have no row in any of its runs; a flow or cleave pumps only the parts
  its runs did not record. A unit not safe to repeat that has something left to do
  waits for the operator's confirmation (``hcs merfish confirm``) before it runs again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hcs_orchestrator.merfish.journal import Journal
from hcs_plans.acquire import FrameKey
from hcs_plans.merfish import Unit
from hcs_plans.stubs.fluidics import STEP_LOG, STEP_STREAM
from hcs_schema import FRAMES_STREAM
from hcs_storage.query import frame_table, stream_columns


@dataclass(frozen=True)
class UnitTodo:
    """A unit still to do, and what of it is already recorded.

    Attributes:
        unit: the unit.
        parts_done: parts of a flow or cleave recorded by earlier runs.
        skip_frames: images of the field recorded by earlier runs.
        interrupted: an earlier run of the unit ended without completing it.
        needs_confirmation: it is not safe to repeat, was interrupted, and has
            something left to do: it waits for the operator.
    """

    unit: Unit
    parts_done: int = 0
    skip_frames: tuple[FrameKey, ...] = ()
    interrupted: bool = False
    needs_confirmation: bool = False


def reconcile(units: Sequence[Unit], journal: Journal, catalog: Any) -> list[UnitTodo]:
    """The units still to do, in order, each with what is already recorded of it.

    Units whose runs ended in success are marked completed in the journal here.

    Args:
        units: every unit of the experiment, in order.
        journal: the experiment's journal.
        catalog: the data directory's catalog (holding every document: flush first).
    """
    records = journal.units()
    todo: list[UnitTodo] = []
    for unit in units:
        record = records.get(unit.id)
        if record is None or record.state == "completed":
            if record is None:
                todo.append(UnitTodo(unit))
            continue
        if not record.runs:
            todo.append(UnitTodo(unit))  # submitted, but its run never opened
            continue
        runs = [_run(catalog, uid) for uid in record.runs]
        runs = [r for r in runs if r is not None]
        done = next((r for r in runs if _exit_status(r) == "success"), None)
        if done is not None:
            journal.mark_completed(unit.id, str(done.metadata["start"]["uid"]))
            continue
        if unit.kind == "image":
            frames = tuple(sorted(_recorded_frames(runs, unit)))
            todo.append(UnitTodo(unit, skip_frames=frames, interrupted=True))
        elif unit.kind in ("flow", "cleave"):
            parts = _recorded_parts(runs)
            left = parts < unit.flow_parts
            todo.append(
                UnitTodo(
                    unit,
                    parts_done=parts,
                    interrupted=True,
                    needs_confirmation=left and not unit.repeat_safe,
                )
            )
        else:
            todo.append(UnitTodo(unit, interrupted=True, needs_confirmation=not unit.repeat_safe))
    return todo


def _run(catalog: Any, uid: str) -> Any | None:
    try:
        return catalog[uid]
    except KeyError:
        return None


def _streams(run: Any) -> set[str]:
    """A run's stream names, in one request.

    (``name in run`` asks for the stream itself, and Tiled's client retries a lookup
    that fails.)
    """
    return {str(name) for name in run}


def _exit_status(run: Any) -> str:
    stop = run.metadata.get("stop") or {}
    return str(stop.get("exit_status", ""))


def _recorded_frames(runs: list[Any], unit: Unit) -> set[FrameKey]:
    frames: set[FrameKey] = set()
    for run in runs:
        if FRAMES_STREAM not in _streams(run):
            continue
        table = frame_table(run)
        if "well" not in table:  # the stream was declared, no row reached it
            continue
        for well, fov, channel, z in zip(
            table["well"], table["fov"], table["channel"], table["z_index"], strict=True
        ):
            if str(well) == unit.well and int(fov) == unit.fov:
                frames.add((str(well), int(fov), str(channel), int(z)))
    return frames


def _recorded_parts(runs: list[Any]) -> int:
    parts: set[int] = set()
    for run in runs:
        if STEP_STREAM not in _streams(run):
            continue
        table = stream_columns(run, STEP_STREAM, f"{STEP_LOG.name}-")
        if "step" not in table:
            continue
        for step, metadata in zip(table["step"], table["metadata"], strict=True):
            if str(step) == "flow":
                part = json.loads(str(metadata)).get("part")
                if part is not None:
                    parts.add(int(part))
    return len(parts)
