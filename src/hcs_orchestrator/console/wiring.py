"""A console on a session: its LiveControl, its run tracker, its application."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcs_devices.camera.shared_frame import SharedFrameSlot
from hcs_orchestrator.console.app import build_console_app
from hcs_orchestrator.console.lab_queue import LabQueue
from hcs_orchestrator.console.panels import Panels
from hcs_orchestrator.console.plate import PlateMap, RunTracker
from hcs_orchestrator.live_control import LiveControl
from hcs_orchestrator.session import Session


@dataclass
class Console:
    """Everything the console serves for one session.

    Attributes:
        control: live view, navigation and acquisitions, through the session's RunEngine.
        tracker: the current run's progress (subscribed to the RunEngine).
        app: the web application.
        panels: the lab's queue, MERFISH rounds and the newest overview.
        slot: the shared-memory slot the preview frames are written to, if asked for.
    """

    control: LiveControl
    tracker: RunTracker
    app: Any
    panels: Panels
    _token: int
    slot: SharedFrameSlot | None = None

    def close(self) -> None:
        """End live view, stop following the RunEngine's documents, close the lab client.

        The shared-memory slot, if any, is removed (viewers reading it see no new frame).
        """
        self.control.close()
        self.control.RE.unsubscribe(self._token)
        self.panels.close()
        if self.slot is not None:
            self.control.microscope.camera.preview.remove_sink(self.slot)
            self.slot.close()


def console_for(
    session: Session,
    *,
    api_key: str,
    public_read: bool = False,
    plate: PlateMap | None = None,
    lab_dir: Path | None = None,
    shared_memory: bool = False,
) -> Console:
    """The console of ``session`` (call :meth:`Console.close` before closing the session).

    Args:
        session: the session whose microscope, RunEngine and catalog the console serves.
        api_key: the key commands (and reads, unless ``public_read``) need.
        public_read: let anyone who can connect watch, keyless.
        plate: the plate's layout on the stage (a 96-well plate by default).
        lab_dir: a lab (``hcs lab up``) whose queue and history the page shows.
        shared_memory: also write the preview frames to a shared-memory slot, for
            viewers in other processes (napari): :attr:`Console.slot`.

    Raises:
        ValueError: ``lab_dir`` holds no lab.
    """
    queue = LabQueue(lab_dir) if lab_dir is not None else None
    panels = Panels(data_dir=session.data_dir, catalog=session.catalog, queue=queue)
    control = LiveControl(session.RE, session.microscope)
    tracker = RunTracker()
    token = session.RE.subscribe(tracker)
    app = build_console_app(
        control,
        api_key=api_key,
        public_read=public_read,
        plate=plate,
        tracker=tracker,
        panels=panels,
    )
    slot = None
    if shared_memory:
        camera = session.microscope.config.camera
        slot = SharedFrameSlot(camera.sensor_height_px, camera.sensor_width_px)
        session.microscope.camera.preview.add_sink(slot)
    return Console(control, tracker, app, panels, token, slot)
