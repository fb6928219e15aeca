"""Progress of a run, from its documents: every update names the run it belongs to.

Bars are rich progress bars (:func:`image_progress`), drawn only on a terminal: logs,
pipes and captured output stay clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from hcs_schema import IMAGES_STREAM

if TYPE_CHECKING:
    from bluesky.run_engine import RunEngine
    from rich.progress import Progress


def image_progress(stream: TextIO | None = None) -> Progress:
    """A rich progress display of images on ``stream`` (stderr by default), not yet started.

    Each task shows its description, a bar, images done of all and the percentage, and
    the time elapsed and left. Nothing is drawn unless ``stream`` is a terminal.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    out = sys.stderr if stream is None else stream
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("images"),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        disable=not out.isatty(),
    )


@dataclass(frozen=True)
class ProgressUpdate:
    """How far a run is."""

    run_uid: str
    done: int
    total: int
    elapsed_s: float


class RunProgress:
    """A document callback that reports image progress of the current run.

    Images are counted as the run announces them (StreamDatum documents of its
    ``primary`` stream). Documents of other runs (a late one from an earlier run) are
    ignored: progress counts only documents whose descriptor belongs to the run now open.
    """

    def __init__(self, report: Callable[[ProgressUpdate], None]) -> None:
        self._report = report
        self._uid = ""
        self._total = 0
        self._done = 0
        self._start = 0.0
        self._descriptors: set[str] = set()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Follow the documents of the run now open."""
        if name == "start":
            self._uid = doc["uid"]
            self._total = int(doc.get("num_images", 0))
            self._done = 0
            self._start = time.monotonic()
            self._descriptors = set()
        elif (
            name == "descriptor" and doc["run_start"] == self._uid and doc["name"] == IMAGES_STREAM
        ):
            self._descriptors.add(doc["uid"])
        elif name == "stream_datum" and doc["descriptor"] in self._descriptors:
            self._done += doc["indices"]["stop"] - doc["indices"]["start"]
            self._report(
                ProgressUpdate(self._uid, self._done, self._total, time.monotonic() - self._start)
            )


class ProgressBar:
    """A rich bar of each run's images, drawn on a terminal (nothing is drawn elsewhere).

    One bar per run: a new run closes the previous run's bar. Use it as the ``report``
    of :class:`RunProgress`.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._progress: Progress | None = None
        self._uid = ""

    def __call__(self, update: ProgressUpdate) -> None:
        """Advance the bar of ``update``'s run (opening it on the run's first image)."""
        if self._progress is None or update.run_uid != self._uid:
            self.close()
            self._uid = update.run_uid
            self._progress = image_progress(self._stream)
            self._progress.add_task(f"run {update.run_uid[:8]}", total=update.total or None)
            self._progress.start()
        task = self._progress.task_ids[0]
        self._progress.update(task, completed=update.done)
        if update.total and update.done >= update.total:
            self.close()

    def close(self) -> None:
        """Close the open bar, if any (it stays on the screen where it stopped)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def show_progress(RE: RunEngine, stream: TextIO | None = None) -> int:
    """Subscribe a progress bar of each run's images to ``RE``; returns the token.

    The IPython profile calls this, so ``RE(acquire_plate(...))`` at the prompt shows
    its images as they are taken.
    """
    return RE.subscribe(RunProgress(ProgressBar(stream)))
