"""Taking the runs a crashed acquisition left open to the catalog, from a one-off command.

A session's forwarder does this by itself (:mod:`hcs_storage.forwarder`). A command
that only reads, such as ``hcs runs``, first takes the data directory
(:mod:`hcs_storage.owner`), closes the crashed runs of the spool
(:func:`hcs_storage.spool.close_crashed_runs`) and forwards just those runs with
:func:`forward_runs`, so that it lists them closed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from hcs_schema import FRAMES_DIR, FRAMES_STREAM, frame_key
from hcs_storage.forwarder import BATCH_DOCS, RunForwarder
from hcs_storage.runs import UNRECORDED_FILE
from hcs_storage.spool import (
    JOURNAL_SUFFIX,
    SpoolCorruptError,
    SpooledDocument,
    read_journal,
    spool_dir,
)

log = logging.getLogger(__name__)

#: Longest time ``forward_runs`` spends by default (seconds).
FORWARD_TIMEOUT_S = 60.0


def forward_runs(
    data_dir: str | Path, client: Any, uids: list[str], timeout_s: float = FORWARD_TIMEOUT_S
) -> list[str]:
    """Forward whole runs of a data directory's spool into a catalog, in this thread.

    Call it only while owning the data directory, so that no other forwarder feeds the
    same runs. A run that fails (e.g. the event tables are open in another process)
    stays in the spool for the next forwarder.

    Args:
        data_dir: the data directory.
        client: the catalog (writable).
        uids: the runs to forward.
        timeout_s: longest time spent in all.

    Returns:
        The uids that are not completely in the catalog yet.
    """
    directory = spool_dir(data_dir)
    client = client.include_data_sources()
    deadline = time.monotonic() + timeout_s
    unfinished: list[str] = []
    for uid in uids:
        run = RunForwarder(client, directory / f"{uid}{JOURNAL_SUFFIX}")
        try:
            while not run.complete and time.monotonic() < deadline:
                if not run.step(BATCH_DOCS):
                    break
        except Exception as exc:
            log.warning("forwarding run %s failed: %s: %s", uid, type(exc).__name__, exc)
        if not run.complete:
            unfinished.append(uid)
    return unfinished


#: Tolerance between a start document's clock and file modification times (seconds).
CLOCK_SLACK_S = 1.0
#: Suffix of a frame file being written (renamed into place once complete).
PARTIAL_SUFFIX = ".partial"


@dataclass
class _FrameSet:
    """One StreamResource of a run: its directory, file template and announced indices."""

    directory: Path
    template: str
    announced: set[int] = field(default_factory=set)


def _local_path(uri: str) -> Path:
    return Path(url2pathname(urlparse(uri).path))


def _frame_sets(entries: list[SpooledDocument]) -> tuple[list[_FrameSet], str]:
    """A run's frame sets and a description of its last announced field of view."""
    sets: dict[str, _FrameSet] = {}
    frames_descriptors: set[str] = set()
    last_field = ""
    for entry in entries:
        doc = entry.doc
        if entry.name == "stream_resource" and "template" in doc.get("parameters", {}):
            sets[doc["uid"]] = _FrameSet(_local_path(doc["uri"]), doc["parameters"]["template"])
        elif entry.name == "stream_datum" and doc.get("stream_resource") in sets:
            indices = doc["indices"]
            sets[doc["stream_resource"]].announced.update(range(indices["start"], indices["stop"]))
        elif entry.name == "descriptor" and doc.get("name") == FRAMES_STREAM:
            frames_descriptors.add(doc["uid"])
        elif entry.name in ("event", "event_page") and doc["descriptor"] in frames_descriptors:
            data = doc["data"]
            last = {k: (v[-1] if entry.name == "event_page" else v) for k, v in data.items()}
            last_field = (
                f"time point {last.get(frame_key('time_index'), '?')}, well "
                f"{last.get(frame_key('well'), '?')}, field {last.get(frame_key('fov'), '?')}"
            )
    return list(sets.values()), last_field


def _orphan_frame_sets(data_dir: Path, journal: Path, start_time: float) -> list[_FrameSet]:
    """Frame set directories of a run that died before announcing any of them.

    The camera opens the run's frame set at the run's start but announces it (its
    StreamResource) with the first field's images; a run killed before that leaves a
    directory no journal names. Such a directory belongs to this run when it was
    created after the run started and before any later run of the spool started.
    """
    frames_root = data_dir / FRAMES_DIR
    if not frames_root.is_dir():
        return []
    claimed: set[Path] = set()
    later = float("inf")
    for other in journal.parent.glob(f"*{JOURNAL_SUFFIX}"):
        try:
            entries = read_journal(other)
        except (OSError, SpoolCorruptError):
            continue
        if not entries:
            continue
        if other != journal and float(entries[0].doc.get("time", 0.0)) > start_time:
            later = min(later, float(entries[0].doc.get("time", 0.0)))
        sets, _ = _frame_sets(entries)
        claimed.update(s.directory.resolve() for s in sets)
    found: list[_FrameSet] = []
    for directory in sorted(frames_root.iterdir()):
        if not directory.is_dir() or directory.resolve() in claimed:
            continue
        created = directory.stat().st_mtime
        files = [f.stat().st_mtime for f in directory.iterdir()]
        if files:
            created = min(files)
        if start_time - CLOCK_SLACK_S <= created < later:
            found.append(_FrameSet(directory, ""))
    return found


def _is_frame_file(name: str) -> bool:
    return not name.startswith(UNRECORDED_FILE)


def unrecorded_frames(journal: Path, entries: list[SpooledDocument]) -> list[dict[str, str]]:
    """Frame files of a crashed run that no document of its journal announces.

    A plate run's camera announces its images (StreamDatum) and their rows once per
    field of view; frames taken since the last announcement, and a frame being
    written, are on disk when the process dies but in no document. Each such file is
    listed once, with why it is not recorded. The files are left where they are.

    Args:
        journal: the run's journal (in ``DATA_DIR/spool/``).
        entries: the journal's documents (without the stop document being added).

    Returns:
        ``{"file": path relative to the data directory, "reason": text}`` per file,
        in file order.
    """
    data_dir = journal.resolve().parent.parent
    sets, last_field = _frame_sets(entries)
    if not sets and entries:
        sets = _orphan_frame_sets(data_dir, journal, float(entries[0].doc.get("time", 0.0)))
    after = (
        f"taken after the last announcement of the run's images (field of view {last_field})"
        if last_field
        else "taken before any image of the run was announced"
    )
    listed: list[dict[str, str]] = []
    for frame_set in sets:
        if not frame_set.directory.is_dir():
            continue
        announced = {frame_set.template.format(i) for i in frame_set.announced}
        for path in sorted(frame_set.directory.iterdir()):
            if path.name in announced or not path.is_file() or not _is_frame_file(path.name):
                continue
            if path.name.endswith(PARTIAL_SUFFIX):
                reason = (
                    "incomplete write: the acquisition process died while writing this "
                    "frame (the file is kept as it is; it is not a readable image)"
                )
            else:
                reason = f"{after}; the acquisition process died before recording it"
            listed.append({"file": _relative(path, data_dir), "reason": reason})
    return listed


def _relative(path: Path, data_dir: Path) -> str:
    try:
        return path.resolve().relative_to(data_dir).as_posix()
    except ValueError:
        return str(path)


def record_unrecorded(data_dir: Path, uid: str, unrecorded: list[dict[str, str]]) -> None:
    """Write a crashed run's unrecorded frame files as ``unrecorded.json`` in each frame set.

    Written atomically (temporary file, ``fsync``, rename), next to the frames it lists.
    """
    by_dir: dict[Path, list[dict[str, str]]] = {}
    for item in unrecorded:
        path = Path(item["file"])
        path = path if path.is_absolute() else data_dir / path
        by_dir.setdefault(path.parent, []).append(item)
    for directory, items in by_dir.items():
        target = directory / UNRECORDED_FILE
        tmp = directory / f"{UNRECORDED_FILE}.tmp"
        with open(tmp, "w") as fh:
            json.dump({"run": uid, "unrecorded_frames": items}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
