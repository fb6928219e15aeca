"""A console on a session: its LiveControl, its run tracker, its application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hcs_orchestrator.console.app import build_console_app
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
    """

    control: LiveControl
    tracker: RunTracker
    app: Any
    _token: int

    def close(self) -> None:
        """End live view and stop following the RunEngine's documents."""
        self.control.close()
        self.control.RE.unsubscribe(self._token)


def console_for(
    session: Session, *, api_key: str, public_read: bool = False, plate: PlateMap | None = None
) -> Console:
    """The console of ``session`` (call :meth:`Console.close` before closing the session)."""
    control = LiveControl(session.RE, session.microscope)
    tracker = RunTracker()
    token = session.RE.subscribe(tracker)
    app = build_console_app(
        control, api_key=api_key, public_read=public_read, plate=plate, tracker=tracker
    )
    return Console(control, tracker, app, token)
