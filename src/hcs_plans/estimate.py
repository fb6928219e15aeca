"""How long an acquisition will take, from what takes time on the instrument.

The estimate walks the resolved acquisition frame by frame, as the plan will:

- each frame: the focus move to its plane and the filter wheel's turn to its channel
  (in a hardware-timed burst the controller does these between frames, at once; in
  software they are messages of their own, one after the other, and a downward focus
  move has the stage's backlash leg), then the longest of the exposure, the sensor's
  readout and, on the simulated microscope, what is made at the exposure (the noise,
  or a fast simulation's copy from its bank);
- each field of view: the stage's move from the last one (the first: from where it
  stands; trapezoid or triangle profile, the longer of x and y), during which the
  filter and the focus move to the field's first frame (the plan sends them together),
  and the messages that prepare, start and record it. On the simulated microscope the
  field's images are rendered ahead, in a thread of their own, while the field before
  it is taken: the field takes at least as long as its images (and a new well's cells)
  take to render;
- each time point: the wait for its scheduled start, if the previous one ended early;
- the run: opening, staging and closing it, and writing what is left.

Not modelled: autofocus (its time depends on the specimen) and a slow disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from hcs_devices.config.models import MicroscopeConfig, StageConfig
from hcs_devices.stage.kinematics import move_duration_s
from hcs_plans.table import AcquisitionTable

#: Messages of one field of view (checkpoint, prepare, collect, ...), seconds. They
#: overlap the moves to the field's first frame (sent while the stage travels).
FIELD_OVERHEAD_S = 0.008
#: A software-triggered frame's own steps (the light switched off and on through the
#: devices, the trigger), seconds.
SOFTWARE_FRAME_S = 0.001
#: Opening, staging and closing a run, and recording its last field, seconds (a
#: one-image run's time beyond what the rest of the model accounts for: 0.0-0.06 s
#: on the simulated microscope, default and zero-latency).
RUN_OVERHEAD_S = 0.05


def xy_move_s(stage: StageConfig, dx_um: float, dy_um: float) -> float:
    """Time of a stage move by (dx, dy): X and Y move together, the slower sets the time.

    Args:
        stage: the stage configuration (each axis's top speed and acceleration).
        dx_um: distance along x (the sign is ignored).
        dy_um: distance along y (the sign is ignored).
    """
    return max(
        move_duration_s(dx_um, stage.x.max_velocity_um_s, stage.x.max_acceleration_um_s2),
        move_duration_s(dy_um, stage.y.max_velocity_um_s, stage.y.max_acceleration_um_s2),
    )


def focus_move_s(stage: StageConfig, dz_um: float) -> float:
    """Time of a focus (stage z) move by ``dz_um`` (the sign is ignored)."""
    return move_duration_s(dz_um, stage.z.max_velocity_um_s, stage.z.max_acceleration_um_s2)


def focus_move_with_backlash_s(stage: StageConfig, dz_um: float) -> float:
    """A focus move through the stage, ending moving up when the stage has that habit.

    With ``z_backlash: end_moving_up`` a downward move overshoots by
    ``z_backlash_overshoot_um`` and comes back up: two moves.
    """
    overshoot = stage.z_backlash_overshoot_um if stage.z_backlash == "end_moving_up" else 0.0
    if dz_um >= 0.0 or overshoot <= 0.0:
        return focus_move_s(stage, dz_um)
    return focus_move_s(stage, -dz_um + overshoot) + focus_move_s(stage, overshoot)


def frame_moves_s(
    config: MicroscopeConfig,
    *,
    dxy_um: tuple[float, float] | None,
    dz_um: float,
    wheel_from: int,
    wheel_to: int,
    hardware_timed: bool,
) -> dict[str, float]:
    """What each motor takes before a frame, s: stage, focus and filter wheel.

    ``dxy_um`` is the stage's move before a field's first frame (None for the others);
    the focus has the backlash leg unless the hardware times the stack. They are
    separate motors: they may move at once.
    """
    stage = config.stage
    return {
        "stage": 0.0 if dxy_um is None else xy_move_s(stage, *dxy_um),
        "focus": (
            focus_move_s(stage, dz_um)
            if hardware_timed
            else focus_move_with_backlash_s(stage, dz_um)
        ),
        "filters": config.filter_wheel.move_time_s(wheel_from, wheel_to),
    }


class FrameMoves:
    """:func:`frame_moves_s` of one microscope, each distinct move worked out once.

    A plate repeats the same few moves between the frames of every field (a whole
    1536-well plate has 24,576 frames but a few thousand distinct moves), so the
    estimate and the lower bound look them up instead.
    """

    def __init__(self, config: MicroscopeConfig, *, hardware_timed: bool) -> None:
        self._config = config
        self._hardware_timed = hardware_timed
        self._known: dict[tuple[tuple[float, float] | None, float, int, int], dict[str, float]] = {}

    def __call__(
        self, *, dxy_um: tuple[float, float] | None, dz_um: float, wheel_from: int, wheel_to: int
    ) -> dict[str, float]:
        """The moves before a frame (a new dict: the caller may change it)."""
        key = (dxy_um, dz_um, wheel_from, wheel_to)
        moves = self._known.get(key)
        if moves is None:
            moves = self._known[key] = frame_moves_s(
                self._config,
                dxy_um=dxy_um,
                dz_um=dz_um,
                wheel_from=wheel_from,
                wheel_to=wheel_to,
                hardware_timed=self._hardware_timed,
            )
        return dict(moves)


@dataclass(frozen=True)
class DurationEstimate:
    """An acquisition's duration, by what takes the time (seconds each).

    Attributes:
        frames_s: exposures, readouts and (simulated microscope) rendering.
        focus_s: moves of the focus between planes.
        filters_s: turns of the filter wheel between channels.
        stage_s: moves of the stage between fields of view.
        messages_s: the plan's messages per field (and per frame in software).
        waits_s: waits for the scheduled start of time points.
        run_s: opening and closing the run.
    """

    frames_s: float
    focus_s: float
    filters_s: float
    stage_s: float
    messages_s: float
    waits_s: float
    run_s: float

    @property
    def total_s(self) -> float:
        """The whole run."""
        return (
            self.frames_s
            + self.focus_s
            + self.filters_s
            + self.stage_s
            + self.messages_s
            + self.waits_s
            + self.run_s
        )


def estimate_duration(
    config: MicroscopeConfig,
    table: AcquisitionTable,
    *,
    hardware_timed: bool,
    frame_render_s: dict[str, float] | None = None,
    image_ahead_s: dict[str, float] | None = None,
    first_view_s: float = 0.0,
    warmup_s: float = 0.0,
) -> DurationEstimate:
    """Estimate how long an acquisition takes.

    Args:
        config: the microscope configuration.
        table: the resolved acquisition.
        hardware_timed: each field is a hardware-timed burst (else software triggers).
        frame_render_s: on the simulated microscope, the time of what one frame of each
            channel makes at its exposure (it overlaps the exposure); none for a real
            camera.
        image_ahead_s: on the simulated microscope, the time one frame's image of each
            channel takes to render ahead, in a thread of its own (a field's images
            while the field before it is taken): a field takes at least the sum of
            its images. None where images are not made ahead.
        first_view_s: on the simulated microscope, the extra time of the first frame
            in each well after the first (the well's cells are built then; ahead, with
            the well's first images, where images are made ahead).
        warmup_s: on the simulated microscope, the extra time of the run's first frame.
    """
    stage, cam = config.stage, config.camera
    readout_s = cam.readout_s
    frames_s = focus_s = filters_s = stage_s = messages_s = waits_s = 0.0
    x, y = stage.x.start_um, stage.y.start_um
    z = 0.0  # relative to each field's focus
    wheel = 1
    clock = 0.0
    moves_before = FrameMoves(config, hardware_timed=hardware_timed)
    ahead = image_ahead_s or {}
    frames_s += warmup_s
    if not ahead:
        frames_s += first_view_s * max(0, len({f.well for f in table.fields}) - 1)
    seen: set[str] = set()  # wells whose cells are built
    for t, start_s in enumerate(table.time_points_s):
        if start_s > clock:
            waits_s += start_s - clock
            clock = start_s
        began = frames_s + focus_s + filters_s + stage_s + messages_s
        stack = table.stack(t)
        for field in table.fields:
            field_began = frames_s + focus_s + filters_s + stage_s + messages_s
            images_s = first_view_s if ahead and seen and field.well not in seen else 0.0
            seen.add(field.well)
            for i, frame in enumerate(stack):
                target = frame.z_rel_um + frame.channel.z_offset_um
                moves = moves_before(
                    dxy_um=(field.x_um - x, field.y_um - y) if i == 0 else None,
                    dz_um=target - z,
                    wheel_from=wheel,
                    wheel_to=frame.channel.filter_position,
                )
                if i == 0:  # the field's messages go out during the moves to its first frame
                    messages_s += max(0.0, FIELD_OVERHEAD_S - max(moves.values()))
                x, y, z, wheel = field.x_um, field.y_um, target, frame.channel.filter_position
                # Separate motors move at once, in either mode (see lower_bound).
                kind = max(moves, key=lambda k: moves[k])
                moves = {kind: moves[kind]}
                stage_s += moves.get("stage", 0.0)
                focus_s += moves.get("focus", 0.0)
                filters_s += moves.get("filters", 0.0)
                render_s = (frame_render_s or {}).get(frame.channel.name, 0.0)
                frames_s += max(frame.channel.exposure_ms / 1000.0, readout_s, render_s)
                images_s += ahead.get(frame.channel.name, 0.0)
                if not hardware_timed:
                    messages_s += SOFTWARE_FRAME_S
            # The field's images were rendered while the field before it was taken.
            took = frames_s + focus_s + filters_s + stage_s + messages_s - field_began
            frames_s += max(0.0, images_s - took)
        clock += frames_s + focus_s + filters_s + stage_s + messages_s - began
    focus_s += focus_move_with_backlash_s(stage, -z)
    return DurationEstimate(
        frames_s=frames_s,
        focus_s=focus_s,
        filters_s=filters_s,
        stage_s=stage_s,
        messages_s=messages_s,
        waits_s=waits_s,
        run_s=RUN_OVERHEAD_S,
    )
