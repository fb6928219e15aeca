"""Progress of a run, from its documents: every update names the run it belongs to."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from tqdm import tqdm

from hcs_schema import IMAGES_STREAM

if TYPE_CHECKING:
    from bluesky.run_engine import RunEngine


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
    """A tqdm bar of each run's images, drawn on a terminal (nothing is drawn elsewhere).

    One bar per run: a new run closes the previous run's bar. Use it as the ``report``
    of :class:`RunProgress`.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        self._uid = ""

    def __call__(self, update: ProgressUpdate) -> None:
        """Advance the bar of ``update``'s run (opening it on the run's first image)."""
        if self._bar is None or update.run_uid != self._uid:
            self.close()
            out = sys.stderr if self._stream is None else self._stream
            self._uid = update.run_uid
            self._bar = tqdm(
                total=update.total or None,
                desc=f"run {update.run_uid[:8]}",
                unit="image",
                file=out,
                disable=not out.isatty(),
                leave=True,
            )
        self._bar.update(update.done - self._bar.n)
        if update.total and update.done >= update.total:
            self.close()

    def close(self) -> None:
        """Close the open bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def show_progress(RE: RunEngine, stream: TextIO | None = None) -> int:
    """Subscribe a progress bar of each run's images to ``RE``; returns the token.

    The IPython profile calls this, so ``RE(acquire_plate(...))`` at the prompt shows
    its images as they are taken.
    """
    return RE.subscribe(RunProgress(ProgressBar(stream)))
