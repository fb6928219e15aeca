"""Live view and plate calibration at the IPython prompt: ``live()``, ``calibrate_a1()``...

Each helper goes through :class:`~hcs_orchestrator.live_control.LiveControl`, so through
the RunEngine: live view runs in the background and the prompt stays free to steer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hcs_devices.navigation import MoveTo, SetChannel, SetExposure
from hcs_orchestrator.live_control import LiveControl


@dataclass(frozen=True)
class PromptHelpers:
    """The helpers a microscopist types at the prompt, bound to one session."""

    control: LiveControl

    def live(self, channel: str = "", exposure_ms: float = 0.0) -> None:
        """Start live view (in the background); ``stop_live()`` ends it.

        Args:
            channel: a configured channel (e.g. ``"DAPI"``); the current one if empty.
            exposure_ms: exposure in milliseconds; the current one if 0.
        """
        if self.control.state == "live":
            if channel:
                self.control.navigate(SetChannel(channel))
            if exposure_ms:
                self.control.navigate(SetExposure(exposure_ms))
            return
        self.control.start_live(channel, exposure_ms)
        print("live view running: move_to(x_um, y_um), live(channel=...), stop_live()")

    def stop_live(self) -> None:
        """End live view (the camera stops, the light goes off)."""
        self.control.stop_live()

    def move_to(self, x_um: float, y_um: float, z_um: float | None = None) -> None:
        """Move the stage (through live view if it runs)."""
        self.control.navigate(MoveTo(x_um, y_um, z_um))

    def calibrate_a1(self, well: str = "A1") -> tuple[float, float]:
        """Take the stage's position as the centre of ``well``; returns A1's centre (um).

        Centre the well in live view first. The result is what an acquisition spec's
        ``a1_center_xy`` takes; the calibration is also recorded as a run.
        """
        x_um, y_um = self.control.calibrate_a1(well)
        print(
            f"A1 centre: x {x_um:.1f} um, y {y_um:.1f} um; "
            f"in a spec: a1_center_xy: [{x_um:.1f}, {y_um:.1f}]"
        )
        return x_um, y_um

    def acquire_in_background(self, spec: Any) -> None:
        """Start acquiring ``spec`` and give the prompt back.

        ``pause()``, ``resume()`` and ``abort()`` steer it; ``wait()`` waits for its end.
        """
        self.control.start_acquisition(spec)
        print("acquiring in the background: pause(), resume(), abort(), wait()")

    def pause(self) -> None:
        """Pause the background acquisition once the field of view being imaged is done."""
        self.control.pause()

    def resume(self) -> None:
        """Resume the paused acquisition (in the background)."""
        self.control.resume()

    def abort(self) -> None:
        """End the paused acquisition; its images so far are kept."""
        self.control.abort()

    def wait(self) -> None:
        """Wait for the background acquisition (or live view) to end."""
        self.control.wait()

    def snap(self, channel: str = "", exposure_ms: float = 0.0) -> np.ndarray:
        """End live view, take one image into a run of its own and return its pixels."""
        uid = self.control.snap(channel, exposure_ms)
        frame = self.control.microscope.camera.preview.latest
        print(f"snapped: run {uid}")
        if frame is None:
            raise RuntimeError("the snapped frame did not reach the preview tap")
        return frame.pixels
