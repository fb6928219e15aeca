"""Live view and navigation for clients (the web console, the prompt), through the RunEngine.

:class:`LiveControl` is what a client calls: start and stop live view, move the stage,
change channel, exposure or intensity, snap, acquire. It never touches a device
itself: live view is the ``live`` plan, run on the RunEngine from a thread of its own,
and navigation while live runs is posted to that plan's inbox; navigation while
nothing runs is a short plan of its own. Starting an acquisition (or a snap) ends live
view first. A navigation command while an acquisition (or any other plan) owns the
microscope is refused with the hardware owner's ``busy`` error, before anything moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bluesky.utils import MsgGenerator

from hcs_devices.microscope import Microscope
from hcs_devices.navigation import Command, EndLive, NavigationInbox
from hcs_devices.ownership import BusyError
from hcs_orchestrator.engine import MicroscopeRunEngine
from hcs_plans import acquire_plate, calibrate_plate_a1
from hcs_plans.live import apply_command, check_command, live, snap

#: Longest wait for live view to start, end, or carry a command out (seconds).
COMMAND_TIMEOUT_S = 30.0


class LiveControl:
    """Live view, navigation, snap and acquisitions, each through the RunEngine.

    Args:
        RE: the microscope's RunEngine.
        microscope: the microscope.

    Attributes:
        inbox: where navigation commands wait for the live plan.
        last_error: the error that ended the last background plan, if one failed.
    """

    def __init__(self, RE: MicroscopeRunEngine, microscope: Microscope) -> None:
        self.RE = RE
        self.microscope = microscope
        self.inbox = NavigationInbox(name="navigation")
        self._lock = threading.RLock()
        self._worker: threading.Thread | None = None
        self._kind = ""
        self.last_error: BaseException | None = None
        self.last_uid = ""

    @property
    def state(self) -> str:
        """``"live"``, ``"acquisition"``, ``"busy"`` (another plan runs) or ``"idle"``."""
        worker = self._worker
        if worker is not None and worker.is_alive():
            return self._kind
        if self.RE.state != "idle" or self.microscope.owner.owned:
            return "busy"
        return "idle"

    def _refuse_if_busy(self, what: str) -> None:
        """Raise the owner's busy error if a plan owns the microscope now."""
        self.microscope.owner.check("microscope", what)
        worker = self._worker
        if worker is not None and worker.is_alive():  # starting, or ending
            raise BusyError(
                f"busy: {what} refused, the microscope is owned by a running {self._kind}; "
                "wait for it to finish or stop it"
            )
        if self.RE.state != "idle":
            raise BusyError(f"busy: {what} refused, the RunEngine is {self.RE.state}")

    def start_live(self, channel: str = "", exposure_ms: float = 0.0) -> None:
        """Start live view (nothing happens if it runs already).

        Raises:
            BusyError: a plan (an acquisition) owns the microscope.
            ValueError, KeyError: a channel or exposure the microscope cannot do.
        """
        with self._lock:
            if self.state == "live":
                return
            self._refuse_if_busy("live view")
            plan = live(self.microscope, self.inbox, channel, exposure_ms)
            self._start("live", plan)
        stream = self.microscope.camera.live
        worker = self._worker
        assert worker is not None
        ready = threading.Event()
        while not stream.running and worker.is_alive() and not ready.wait(0.005):
            pass
        if not stream.running and self.last_error is not None:
            raise self.last_error

    def stop_live(self, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        """End live view and wait until the camera has stopped (nothing if not live)."""
        with self._lock:
            worker = self._worker
            if worker is None or self._kind != "live":
                return
            if worker.is_alive():
                self.inbox.post(EndLive())
            worker.join(timeout_s)
            if worker.is_alive():
                raise TimeoutError(f"live view did not end within {timeout_s} s")
            self._worker = None

    def navigate(self, command: Command, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        """Carry a navigation command out: through live view if it runs, else a short plan.

        Raises:
            ValueError, KeyError: the command names a position, channel, exposure or
                intensity the microscope cannot do (nothing moves).
            BusyError: an acquisition (or another plan) owns the microscope.
        """
        check_command(self.microscope.config, command)
        with self._lock:
            if self.state == "live":
                posted = self.inbox.post(command)
            else:
                posted = None
                self._refuse_if_busy("navigation")
                self._run(apply_command(self.microscope, command))
        if posted is not None:
            posted.done.result(timeout_s)

    def snap(self, channel: str = "", exposure_ms: float = 0.0) -> str:
        """End live view, take one image into a run of its own; returns the run's uid."""
        with self._lock:
            self.stop_live()
            self._refuse_if_busy("snap")
            return self._run(snap(self.microscope, channel, exposure_ms))

    def calibrate_a1(self, well: str = "A1") -> tuple[float, float]:
        """Take the stage's position as the centre of ``well``; returns A1's centre (um).

        Runs :func:`~hcs_plans.plate_calibration.calibrate_plate_a1` (a run of its own);
        live view, if it runs, is ended for it and started again after.

        Raises:
            ValueError: a well that is not on the plate (nothing is recorded).
            BusyError: an acquisition (or another plan) owns the microscope.
        """
        self.microscope.config.plate().well_index(well)  # refused before live view ends
        found: list[tuple[float, float]] = []

        def calibrate() -> MsgGenerator[None]:
            found.append((yield from calibrate_plate_a1(self.microscope, well)))

        with self._lock:
            was_live = self.state == "live"
            self.stop_live()
            self._refuse_if_busy("plate calibration")
            try:
                self._run(calibrate())
            finally:
                if was_live:
                    self.start_live()
        return found[0]

    def acquire(self, spec: Any, metadata: dict[str, Any] | None = None) -> str:
        """End live view and acquire ``spec`` (waits for the end); returns the run's uid."""
        with self._lock:
            self.stop_live()
            self._refuse_if_busy("acquisition")
            return self._run(acquire_plate(self.microscope, spec, metadata))

    def start_acquisition(self, spec: Any, metadata: dict[str, Any] | None = None) -> None:
        """End live view and start acquiring ``spec`` in the background (:meth:`wait`)."""
        with self._lock:
            self.stop_live()
            self._refuse_if_busy("acquisition")
            self._start("acquisition", acquire_plate(self.microscope, spec, metadata))

    def pause(self) -> None:
        """Pause the background acquisition at the end of its field of view (deferred).

        Raises:
            RuntimeError: no acquisition runs in the background.
        """
        worker = self._worker
        if self._kind != "acquisition" or worker is None or not worker.is_alive():
            raise RuntimeError("no acquisition runs in the background: nothing to pause")
        self.RE.request_pause(defer=True)

    def resume(self) -> None:
        """Resume the paused acquisition, in the background again.

        Raises:
            RuntimeError: the RunEngine is not paused.
        """
        with self._lock:
            self._check_paused("resume")
            self.wait()
            self._start_call("acquisition", self.RE.resume)

    def abort(self) -> None:
        """End the paused acquisition: its run closes as aborted, every image kept.

        Raises:
            RuntimeError: the RunEngine is not paused (pause first).
        """
        with self._lock:
            self._check_paused("abort")
            self.wait()
            self.RE.abort(reason="aborted at the prompt")

    def _check_paused(self, what: str) -> None:
        if self.RE.state != "paused":
            raise RuntimeError(f"cannot {what}: the RunEngine is {self.RE.state}, not paused")

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for the background plan (live view or an acquisition) to end."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)

    def close(self) -> None:
        """End live view, wait for a background acquisition, fail commands left waiting."""
        self.stop_live()
        self.wait(COMMAND_TIMEOUT_S)
        self.inbox.refuse_all(RuntimeError("live view has ended"))

    def _run(self, plan: MsgGenerator[Any]) -> str:
        result: Any = self.RE(plan)
        uids: Any = getattr(result, "run_start_uids", result)
        self.last_uid = str(uids[0]) if uids else ""
        return self.last_uid

    def _start(self, kind: str, plan: MsgGenerator[Any]) -> None:
        self._start_call(kind, lambda: self._run(plan))

    def _start_call(self, kind: str, call: Callable[[], Any]) -> None:
        self.last_error = None
        self._kind = kind
        self._worker = threading.Thread(
            target=self._background, args=(call,), name=f"hcs-{kind}", daemon=True
        )
        self._worker.start()

    def _background(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:
            self.last_error = exc
        finally:
            self.inbox.refuse_all(RuntimeError("live view has ended"))
