"""The shortest time the instrument could take for an acquisition: its speed limit.

Where :mod:`hcs_plans.estimate` says how long a run *will* take (software included),
the lower bound says how long no run on this instrument can beat, from the microscope
configuration alone. It walks the resolved acquisition in the order ``acquire_plate``
takes it (the table's fields of view and stacks) and counts only hardware:

- every exposure;
- the camera's readout at the sensor's frame rate (``camera.max_fps``). In a
  hardware-timed burst with overlapped readout (``camera.overlapped_readout``) frame n
  is read out while frame n+1 is exposed, so consecutive frames start at least the
  longer of the exposure and the readout apart; without it, the exposure plus the
  readout apart. A software-triggered frame is read out before the next trigger.
- the moves before each frame: the stage to a new field of view (trapezoid or triangle
  profile; X and Y together, the slower axis sets the time), the focus to the frame's
  plane and the filter wheel to its channel. Each is a motor of its own: they run at
  once, so the longest sets the time. Nothing moves during an exposure; a move may run
  while the previous frame is read out (in a burst: software triggers wait for it).
  Focus moves made outside a burst end moving up when the stage has that habit
  (``stage.z_backlash``); the burst's sequencer steps the focus directly.
- waits for the scheduled start of time points, and the focus's return to where the
  run found it.

Left out, because they are software or unknown in advance: the plan's messages, opening
and closing the run, writing frames (it overlaps acquisition), rendering frames on the
simulated microscope, autofocus, and the focus differences between fields of view.
Leaving a cost out only lowers the bound, so it stays a bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from hcs_devices.config.models import MicroscopeConfig
from hcs_plans.estimate import FrameMoves, focus_move_with_backlash_s
from hcs_plans.table import AcquisitionTable


@dataclass(frozen=True)
class LowerBound:
    """The instrument's shortest time for an acquisition, by what sets it (seconds each).

    Each part is the time during which that was the limit: the parts add up to the
    total, and a move hidden under a longer one counts nowhere.

    Attributes:
        exposures_s: every exposure.
        readout_s: readout not hidden under an exposure or a move.
        stage_s: stage moves between fields of view, where they were the longest wait.
        focus_s: focus moves, where they were the longest wait.
        filters_s: filter-wheel turns, where they were the longest wait.
        waits_s: waits for the scheduled start of time points.
    """

    exposures_s: float
    readout_s: float
    stage_s: float
    focus_s: float
    filters_s: float
    waits_s: float

    @property
    def total_s(self) -> float:
        """The whole acquisition."""
        return (
            self.exposures_s
            + self.readout_s
            + self.stage_s
            + self.focus_s
            + self.filters_s
            + self.waits_s
        )

    def parts(self) -> dict[str, float]:
        """The parts by name (``exposures``, ``readout``, ...), in seconds."""
        return {
            "exposures": self.exposures_s,
            "readout": self.readout_s,
            "stage": self.stage_s,
            "focus": self.focus_s,
            "filters": self.filters_s,
            "waits": self.waits_s,
        }


def lower_bound(
    config: MicroscopeConfig, table: AcquisitionTable, *, hardware_timed: bool
) -> LowerBound:
    """The shortest time the instrument can take for an acquisition.

    Args:
        config: the microscope configuration (stage, filter wheel and camera speeds).
        table: the resolved acquisition, in the order it is taken.
        hardware_timed: each field is a hardware-timed burst (else software triggers).

    Returns:
        The bound, by what sets it.
    """
    stage, cam = config.stage, config.camera
    readout = cam.readout_s
    parts: dict[str, float] = dict.fromkeys(
        ("exposures", "readout", "stage", "focus", "filters", "waits"), 0.0
    )
    x, y = stage.x.start_um, stage.y.start_um
    z = 0.0  # relative to each field's focus
    wheel = 1
    free = 0.0  # when the hardware may move again (the last exposure ended, or its frame came)
    ready = 0.0  # the earliest start of the next exposure the camera allows
    moves_before = FrameMoves(config, hardware_timed=hardware_timed)
    for t, start_s in enumerate(table.time_points_s):
        if start_s > free:
            parts["waits"] += start_s - free
            free, ready = start_s, max(ready, start_s)
        stack = table.stack(t)
        for field in table.fields:
            for i, frame in enumerate(stack):
                channel = frame.channel
                target = frame.z_rel_um + channel.z_offset_um
                moves = moves_before(
                    dxy_um=(field.x_um - x, field.y_um - y) if i == 0 else None,
                    dz_um=target - z,
                    wheel_from=wheel,
                    wheel_to=channel.filter_position,
                )
                x, y, z, wheel = field.x_um, field.y_um, target, channel.filter_position
                kind = max(moves, key=lambda k: moves[k])
                start = max(free + moves[kind], ready)
                parts[kind if free + moves[kind] >= ready else "readout"] += start - free
                exposure = channel.exposure_ms / 1000.0
                parts["exposures"] += exposure
                free = start + exposure
                if not hardware_timed:  # the next trigger waits for this frame
                    parts["readout"] += readout
                    free = ready = free + readout
                elif cam.overlapped_readout:
                    ready = start + max(exposure, readout)
                else:
                    ready = start + exposure + readout
    # The last frame's readout, while the focus returns to where the run found it.
    back = focus_move_with_backlash_s(stage, -z)
    last_readout = readout if hardware_timed else 0.0
    parts["focus" if back > last_readout else "readout"] += max(back, last_readout)
    return LowerBound(
        exposures_s=parts["exposures"],
        readout_s=parts["readout"],
        stage_s=parts["stage"],
        focus_s=parts["focus"],
        filters_s=parts["filters"],
        waits_s=parts["waits"],
    )
