"""Helpers for end-to-end plate acquisitions: a real session on a real catalog.

``open_test_session(config, data_dir)`` opens the same session the ``hcs`` command
opens (``MicroscopeRunEngine`` + simulated microscope + embedded Tiled catalog) and
wraps it in a :class:`SessionHarness` with what the tests look at: every document,
the simulated hardware's state, the number of runs in the catalog. Opening a catalog
costs several seconds, so modules share one harness (module-scoped fixtures) and
every test checks that the microscope is back in its safe state when it ends.

``fast_config(profile_config)`` is the shipped microscope made quick to test: a
256 x 256 sensor, a filter wheel that moves instantly, a flat specimen in focus at
the stage's start height, and dense cells, so overlapping fields share many cells.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import yaml

from hcs_devices.config import MicroscopeConfig
from hcs_devices.factory import Microscope
from hcs_devices.sim import SimOptics, optics_of
from hcs_orchestrator.session import Session, open_session

T = TypeVar("T")
Documents = list[tuple[str, dict[str, Any]]]

#: Sensor edge of ``fast_config``: an 83 um field of view with the 20x objective.
FAST_SENSOR_PX = 256
#: Cells per mm^2 of ``fast_config``'s specimen: ~14 cells per field of view.
FAST_CELLS_PER_MM2 = 2000.0


def fast_config(
    base: MicroscopeConfig, sensor_px: int = FAST_SENSOR_PX, **camera: Any
) -> MicroscopeConfig:
    """``base`` with a small sensor, an instant filter wheel and a flat, dense specimen."""
    cam = base.camera.model_copy(
        update={"sensor_width_px": sensor_px, "sensor_height_px": sensor_px, **camera}
    )
    wheel = base.filter_wheel.model_copy(update={"move_time_per_position_s": 0.0})
    specimen = base.specimen.model_copy(
        update={
            "tilt_x_um_per_mm": 0.0,
            "tilt_y_um_per_mm": 0.0,
            "curvature_um_per_mm2": 0.0,
            "surface_z_um": base.stage.z.start_um,
            "cells_per_mm2": FAST_CELLS_PER_MM2,
        }
    )
    return base.model_copy(update={"camera": cam, "filter_wheel": wheel, "specimen": specimen})


def frame_file(resource: dict[str, Any], index: int) -> Path:
    """The TIFF file of frame ``index`` of a TIFF-sequence StreamResource."""
    directory = Path(url2pathname(urlparse(resource["uri"]).path))
    return directory / resource["parameters"]["template"].format(index)


@dataclass
class SessionHarness:
    """A session plus what the tests observe of it."""

    session: Session
    documents: Documents = field(default_factory=list)

    @property
    def RE(self) -> Any:
        return self.session.RE

    @property
    def microscope(self) -> Microscope:
        return self.session.microscope

    @property
    def sim(self) -> SimOptics:
        return optics_of(self.microscope)

    def on_loop(self, work: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run ``work()`` on the RunEngine's loop from this thread, as any client would."""

        async def call() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(call(), self.RE.loop).result(timeout)

    def moves(self) -> dict[str, int]:
        """How many moves each simulated stage axis has been commanded so far."""
        return {axis: getattr(self.sim, axis).moves.count for axis in ("x", "y", "z")}

    def run_count(self) -> int:
        """Runs in the catalog once storage has caught up."""
        assert self.session.flush(60.0), "storage did not catch up within 60 s"
        return len(self.session.catalog)

    def run_documents(self, uid: str) -> Documents:
        """Every document of one run (the start, and all that point at it)."""
        found: Documents = []
        descriptors: set[str] = set()
        resources: set[str] = set()
        for name, doc in self.documents:
            if name == "start" and doc["uid"] == uid:
                found.append((name, doc))
            elif name in ("stop", "descriptor") and doc["run_start"] == uid:
                found.append((name, doc))
                if name == "descriptor":
                    descriptors.add(doc["uid"])
            elif name == "stream_resource" and doc.get("run_start") == uid:
                resources.add(doc["uid"])
                found.append((name, doc))
            elif (name in ("event", "event_page") and doc["descriptor"] in descriptors) or (
                name == "stream_datum" and doc["stream_resource"] in resources
            ):
                found.append((name, doc))
        return found

    def image_files(self, uid: str) -> list[Path]:
        """The TIFF file of every image of a run's primary stream, in sequence order.

        Follows the documents: the primary stream's StreamDatums cover consecutive
        sequence numbers (``seq_nums``); image ``seq`` lies in exactly one of them, which
        points at a frame index of its StreamResource. Image ``k`` of the run is the
        ``k``-th sequence number so covered (the ``frames`` stream's row ``k``).
        """
        docs = self.run_documents(uid)
        primary = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "primary"}
        resources = {d["uid"]: d for n, d in docs if n == "stream_resource"}
        datums = [d for n, d in docs if n == "stream_datum" and d["descriptor"] in primary]
        seqs = sorted(
            s for d in datums for s in range(d["seq_nums"]["start"], d["seq_nums"]["stop"])
        )
        files: list[Path] = []
        for seq in seqs:
            (datum,) = [d for d in datums if d["seq_nums"]["start"] <= seq < d["seq_nums"]["stop"]]
            index = datum["indices"]["start"] + seq - datum["seq_nums"]["start"]
            files.append(frame_file(resources[datum["stream_resource"]], index))
        return files

    def safe_state_problems(self) -> list[str]:
        """What is not in the safe state now (empty when all is safe)."""
        problems = []
        camera = self.microscope.camera
        acquiring = self.on_loop(camera.acquiring.get_value)
        if acquiring:
            problems.append("camera still acquiring")
        if self.sim.illumination.is_on:
            problems.append("illumination still on")
        if camera.data.directory is not None:
            problems.append(f"frame writer still open on {camera.data.directory}")
        if self.microscope.owner.owned:
            problems.append("the microscope is still owned by a run")
        if self.RE.state != "idle":
            problems.append(f"RunEngine is {self.RE.state}, not idle")
        return problems


@contextlib.contextmanager
def open_test_session(
    config: MicroscopeConfig, data_dir: Path, **session_options: Any
) -> Iterator[SessionHarness]:
    """A real session on ``data_dir`` (``open_session`` options passed on), torn down
    completely afterwards.

    Teardown closes the session (flush storage, safe state, stop the render and writer
    threads, cancel whatever is left on the RunEngine's loop, stop the loop and join its
    thread, release the data directory); a task left running fails the test run.
    """
    session = open_session(config, data_dir, **session_options)
    harness = SessionHarness(session)
    session.RE.subscribe(lambda name, doc: harness.documents.append((name, doc)))
    try:
        yield harness
    finally:
        # Session.close halts a running plan, closes storage and the microscope, then
        # cancels what is left on the RunEngine's loop, stops the loop and joins its thread.
        session.close()
        assert not session.leftover_tasks, (
            f"tasks left running on the RunEngine's loop: {session.leftover_tasks}"
        )


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


class Watcher:
    """A thread that waits for a condition, then does something (pause, abort, ...).

    Exceptions in the thread are kept and re-raised by :meth:`join`.
    """

    def __init__(
        self, until: Callable[[], bool], action: Callable[[], Any], timeout_s: float = 30.0
    ):
        self._until = until
        self._action = action
        self._timeout_s = timeout_s
        self.error: BaseException | None = None
        self.result: Any = None
        self.fired = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-watcher", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            waited = threading.Event()
            for _ in range(int(self._timeout_s / 0.002)):
                if self._until():
                    break
                waited.wait(0.002)
            else:
                raise TimeoutError("the watcher's condition never came true")
            self.result = self._action()
        except BaseException as exc:
            self.error = exc
        finally:
            self.fired.set()

    def join(self, timeout_s: float = 30.0) -> Any:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the watcher thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def spec_file(directory: Path, name: str, sequence: dict[str, Any]) -> Path:
    """A software-triggered spec file (experiment id ``name``) for ``hcs acquire``."""
    path = directory / f"{name}.yaml"
    spec = {"experiment_id": name, "hardware_sequencing": False, "sequence": sequence}
    path.write_text(yaml.safe_dump(spec))
    return path
