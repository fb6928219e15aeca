"""What starts each exposure of the main camera, decided from the configuration alone.

A GenICam camera on ``trigger: hardware`` waits for a rising edge on its input line.
On a microscope with a Squid board, the board's camera trigger output sends that edge,
one pulse per frame, and strobes the channel's light for the exposure (as Squid's own
software does in hardware-trigger mode): plans then leave the light off between
frames. Without a board nothing would send the edge, so the camera falls back to
software triggers (one TriggerSoftware command per frame). :func:`camera_triggering`
makes that decision once, for the factory that builds the camera and for the dry run
that reports it (:meth:`CameraTriggering.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hcs_devices.config.models import GenicamBackend, MicroscopeConfig

TriggerMode = Literal["board", "software", "free_run", "simulated"]


@dataclass(frozen=True)
class CameraTriggering:
    """How the camera's exposures start.

    Attributes:
        mode: ``board`` (the Squid board's trigger pulses, the light strobed by the
            board), ``software`` (a trigger command per frame), ``free_run`` (the
            camera's own clock) or ``simulated`` (the simulated camera renders frames).
        detail: why, for a person (the dry run prints it).
        fallback: the configuration asked for hardware triggers that cannot be sent.
    """

    mode: TriggerMode
    detail: str
    fallback: bool = False

    @property
    def board_triggers(self) -> bool:
        """The Squid board sends a trigger pulse per frame and strobes the light."""
        return self.mode == "board"

    def describe(self) -> str:
        """One line for the dry run."""
        return f"camera triggers: {self.detail}"


def camera_triggering(config: MicroscopeConfig) -> CameraTriggering:
    """How the main camera of ``config`` will be triggered during an acquisition."""
    backend = config.camera.backend
    if not isinstance(backend, GenicamBackend):
        return CameraTriggering("simulated", "simulated camera (each frame rendered on request)")
    board = config.squid if config.stage.backend.kind == "squid" else None
    line = backend.trigger_line
    if backend.trigger == "free_run":
        return CameraTriggering(
            "free_run",
            "none: camera.backend.trigger is free_run, so each image is the next frame the "
            "camera sends on its own clock; use software or hardware for acquisitions",
        )
    if backend.trigger == "hardware" and board is not None:
        channel = board.trigger.camera_channel
        return CameraTriggering(
            "board",
            f"hardware, one pulse per frame from the Squid board's trigger output {channel} "
            f"to the camera's {line}; the board strobes each channel's light for its exposure",
        )
    if backend.trigger == "hardware":
        return CameraTriggering(
            "software",
            "software (fallback): camera.backend.trigger is hardware but no Squid board is "
            f"configured to send pulses to the camera's {line}; one trigger command per frame",
            fallback=True,
        )
    hint = (
        f" (set camera.backend.trigger to hardware, with the Squid board's trigger output "
        f"{board.trigger.camera_channel} wired to the camera's {line}, for board triggers)"
        if board is not None
        else ""
    )
    return CameraTriggering("software", f"software, one trigger command per frame{hint}")
