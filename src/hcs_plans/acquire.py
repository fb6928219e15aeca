"""``acquire_plate``: the multi-well, tiled, multi-channel acquisition.

Order: time point -> well -> field of view -> (z x channel stack, in the sequence's
``axis_order``). Each field's reference z comes from the spec's autofocus policy
(focus map, contrast or laser autofocus, its z at the previous time point; see
:mod:`hcs_plans.autofocus.plate`), recorded in the ``autofocus`` stream. Every field of
view starts at a checkpoint with the stage at rest and all earlier images recorded, so
a deferred pause never duplicates or loses an image.

The camera is prepared with each field's stack as a typed
:class:`~hcs_devices.camera.field.FieldSequence`, and records every image's row itself:
the plan only sends messages. Where the field's focus is known before the stage gets
there (no autofocus), the camera is prepared while the stage travels to it (a simulated
camera starts rendering the field's frames then). An immediate pause makes the
RunEngine replay the field's messages since its last checkpoint; the camera, prepared
again for the same field, takes only the frames not on disk yet, so each image and its
row are recorded exactly once.
A field of view's whole stack is one camera burst (kickoff, complete): hardware-timed
where the microscope can sequence its hardware, else the camera sets each frame up
through the devices and triggers it in software (decision 11). The stage already
travels to the next field of view while the burst's frames are still being written.
Once a field's last exposure has ended, the filter wheel turns to the next field's
first channel and (without autofocus) the focus goes to its first plane while the
stage travels: separate motors, and no exposure under way.
"""

# No postponed annotations: the queue server reads these plans' signatures as objects.
import functools
import importlib.metadata
import itertools
import json
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.preprocessors import finalize_wrapper, run_wrapper, stage_wrapper
from bluesky.utils import Msg, MsgGenerator
from ophyd_async.core import TriggerInfo

from hcs_devices.camera.device import Camera
from hcs_devices.camera.field import FieldSequence, FrameRecipe
from hcs_devices.microscope import Microscope
from hcs_devices.sequencer import SequencedFrame
from hcs_plans.autofocus.plate import PlateFocus, ZEnvelope
from hcs_plans.patterns.plate import FieldOfView
from hcs_plans.specs.acquisition import AcquisitionSpec, as_spec
from hcs_plans.stubs.read import rd
from hcs_plans.table import (
    AcquisitionError,
    AcquisitionTable,
    StackFrame,
    resolve,
)
from hcs_plans.time_points import Schedule
from hcs_schema import FRAMES_STREAM, IMAGES_STREAM

#: Versions recorded in every start document, so a run can be re-run from its record.
RECORDED_PACKAGES = ("hcs", "bluesky", "ophyd-async", "event-model", "useq-schema", "tiled")


def software_versions() -> dict[str, str]:
    """Versions of the packages that shape an acquisition, as this process loaded them."""
    return dict(_loaded_versions())


@functools.cache
def _loaded_versions() -> tuple[tuple[str, str], ...]:
    # Looked up once per process (each lookup reads the installed packages' metadata,
    # about a millisecond a run): a package upgraded later runs as loaded until restart.
    versions: list[tuple[str, str]] = []
    for name in RECORDED_PACKAGES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, "unknown"))
    return tuple(versions)


def plan_acquisition(microscope: Microscope, spec: AcquisitionSpec) -> MsgGenerator:
    """Resolve and check a spec against the microscope (reads only; moves nothing).

    Returns:
        The :class:`AcquisitionTable` of every image.
    """
    z_now = yield from rd(microscope.stage_.z)
    data_dir = microscope.camera.data.frames_root
    return resolve(microscope.config, spec, focus_z_um=float(z_now), data_dir=data_dir)


def acquire_plate(
    microscope: Microscope,
    spec: AcquisitionSpec | dict[str, Any] | str,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator:
    """Acquire every image a spec describes, into one run.

    Everything is checked first (positions inside the soft limits, channels known,
    exposures within the camera's range, disk space); a spec the microscope cannot do
    is refused with an error naming the field, before anything moves. Every way out
    (success, abort, stop, error) leaves the camera idle, its files closed and the
    light off.

    The run has two streams that line up row for row: ``primary`` holds the images,
    ``frames`` each image's metadata (:mod:`hcs_schema`). Both are collected once per
    field of view.

    Args:
        microscope: the microscope (from ``build_microscope``; by name through the
            queue server).
        spec: what to acquire: a spec, its plain data (a spec, or a bare useq
            ``MDASequence``, as JSON from a remote client), or the path of a YAML or
            JSON file of either.
        metadata: extra start-document metadata.

    Returns:
        The run's uid.
    """
    return (yield from acquire_fields(microscope, spec, metadata=metadata))


#: A frame of a field, as a selection names it: (well, fov, channel, z_index).
FrameKey = tuple[str, int, str, int]


def acquire_fields(
    microscope: Microscope,
    spec: AcquisitionSpec | dict[str, Any] | str,
    *,
    fields: Collection[tuple[str, int]] | None = None,
    skip_frames: Collection[FrameKey] = (),
    channel_rows: Mapping[str, Mapping[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator:
    """:func:`acquire_plate` for some of a spec's fields and frames, with extra row fields.

    The field machinery other plans reuse: ``run_merfish`` images one field of a round
    per run, and after a crash only the frames the catalog lacks.

    Args:
        microscope: the microscope.
        spec: what to acquire (as :func:`acquire_plate` takes it).
        fields: the (well, fov) pairs to image (in the spec's order); all by default.
        skip_frames: frames already recorded, not taken again (well, fov, channel,
            z_index).
        channel_rows: per channel name, extra fields of its images' rows (the MERFISH
            ``round`` and ``bit``; see :data:`hcs_schema.FRAME_DEFAULTS`).
        metadata: extra start-document metadata.

    Returns:
        The run's uid.
    """
    spec = as_spec(spec)
    table: AcquisitionTable = yield from plan_acquisition(microscope, spec)
    skipped = set(skip_frames)
    extra_rows = channel_rows or {}
    wanted = None if fields is None else set(fields)
    chosen = [i for i, f in enumerate(table.fields) if wanted is None or (f.well, f.fov) in wanted]
    following = dict(itertools.pairwise(chosen))
    experiment_id = spec.experiment_id or f"exp-{uuid.uuid4().hex[:8]}"
    md = _start_metadata(microscope, spec, table, experiment_id)
    if fields is not None or skipped:
        md["num_fields"] = len(chosen)
        md["num_images"] = sum(
            1
            for t in range(len(table.time_points_s))
            for i in chosen
            for sf in table.stack(t)
            if (table.fields[i].well, table.fields[i].fov, sf.channel.name, sf.z_index)
            not in skipped
        )
    md |= metadata or {}
    hardware_timed = spec.hardware_sequencing and microscope.camera.sequencer is not None
    base_z = float((yield from rd(microscope.stage_.z)))
    yield from bps.mv(microscope.camera.binning, spec.binning)
    focus = _plate_focus(microscope, spec, table, base_z)
    camera = microscope.camera
    #: Whether the RunEngine replays messages after an immediate pause (asked at the start).
    rewindable = True

    def planned_z(fov: FieldOfView) -> float | None:
        """A field's reference z when known before reaching it (not with autofocus)."""
        if table.z_absolute:
            return 0.0
        if focus is not None:
            return None
        return fov.z_um if (spec.z_reference == "stage" and fov.z_um is not None) else base_z

    def field_stack(t_index: int, fov: FieldOfView) -> list[StackFrame]:
        """The frames a field takes at a time point (those not recorded already)."""
        return [
            sf
            for sf in table.stack(t_index)
            if (fov.well, fov.fov, sf.channel.name, sf.z_index) not in skipped
        ]

    # Each field's frames are made once: as the next field's (a hint to the camera), then
    # kept for when that field is taken.
    @functools.lru_cache(maxsize=2)
    def field_frames(t_index: int, fov: FieldOfView, field_z: float) -> tuple[FrameRecipe, ...]:
        """A field's frames as the camera takes them (those not recorded already)."""
        identity = {
            "experiment_id": experiment_id,
            "well": fov.well,
            "fov": fov.fov,
            "time_index": t_index,
            "x_um": fov.x_um,
            "y_um": fov.y_um,
        }
        return tuple(_recipe(identity, sf, field_z, extra_rows) for sf in field_stack(t_index, fov))

    def field_sequence(
        t_index: int, fov: FieldOfView, field_z: float, following: tuple[FrameRecipe, ...]
    ) -> FieldSequence:
        """A field's frames (not empty: see ``field_stack``), and those of the next field."""
        return FieldSequence(
            key=f"t{t_index}/{fov.well}/{fov.fov}",
            frames=field_frames(t_index, fov, field_z),
            hardware_timed=hardware_timed,
            following=following,
        )

    def one_field(t_index: int, index: int, fov: FieldOfView) -> MsgGenerator:
        # Plain messages from here on: this runs once per field of view, and bluesky's
        # plan-stub wrappers cost more than the messages themselves at this rate.
        yield Msg("checkpoint")
        stack = field_stack(t_index, fov)
        field_z = planned_z(fov)
        nxt = table.fields[following[index]] if index in following else None
        nxt_stack = field_stack(t_index, nxt) if nxt is not None else []
        nxt_z = planned_z(nxt) if nxt is not None else None
        # The next field's frames, where known already: a simulated camera makes them
        # while it takes this field's.
        nxt_frames = field_frames(t_index, nxt, nxt_z) if nxt and nxt_z is not None else ()
        field = None
        if stack and field_z is not None:
            # Known before arriving: the camera gets ready while the stage travels.
            field = field_sequence(t_index, fov, field_z, nxt_frames)
            yield Msg("prepare", camera, field, group=FIELD)
        yield Msg("wait", None, group=PREMOVE)
        yield from _move_xy(microscope, fov)
        if field_z is None:
            assert focus is not None
            field_z = yield from focus.field_z(t_index, index, fov)
            # Focus is decided and recorded: a replay after a pause starts from here.
            yield Msg("checkpoint")
            yield from _move_xy(microscope, fov)
        if not stack:
            return
        # The next field's first frame: its filter, and its focus where known already.
        nxt_first = _settings(nxt_stack[0], nxt_z or 0.0) if nxt_stack else None
        # After the run's last field the focus heads back to where the run found it.
        last = nxt is None and t_index == len(table.time_points_s) - 1
        premove = (nxt, nxt_first, nxt_z is not None, base_z if last else None)
        try:
            if field is None:
                field = field_sequence(t_index, fov, field_z, nxt_frames)
                yield Msg("prepare", camera, field, group=FIELD)
            yield Msg("wait", None, group=FIELD)
            yield from _take_field(microscope, *premove)
            yield from _record(camera, rewindable)
        except Exception:
            # The run ends inside this field (an error, an abort, a stop): its images
            # already on disk are recorded all the same, each with its row.
            yield Msg("stop", camera)
            yield from _record(camera, rewindable)
            raise

    def first_moves(t_index: int) -> MsgGenerator:
        """Travel to a time point's first field, the filter and focus to its first frame."""
        fov = table.fields[chosen[0]]
        stack, z = field_stack(t_index, fov), planned_z(fov)
        first = _settings(stack[0], z or 0.0) if stack else None
        yield from _premove(microscope, fov, first, z is not None)

    def body() -> MsgGenerator:
        nonlocal rewindable
        rewindable = yield Msg("rewindable", None, None)
        if focus is not None:
            yield from focus.prepare()
        # Opens the run's frame set; each field prepares the camera for its frames.
        yield from bps.prepare(camera, TriggerInfo(), wait=True)
        # (bps.declare_stream types its objects as readables; these are collectables.)
        yield Msg("declare_stream", None, camera, name=IMAGES_STREAM, collect=True)
        yield Msg("declare_stream", None, camera.rows, name=FRAMES_STREAM, collect=True)
        schedule = Schedule(spec.late_time_points, spec.late_tolerance_s)
        timed = spec.sequence.time_plan is not None
        for t_index, t_s in enumerate(table.time_points_s):
            if not (yield from schedule.begin(t_index, t_s, record=timed)):
                continue
            if chosen:
                yield from first_moves(t_index)
            for index in chosen:
                yield from one_field(t_index, index, table.fields[index])
        # Anything a pause inside the last collect left unannounced (nothing, usually).
        yield from _record(camera, rewindable)
        yield from bps.wait(group=PREMOVE)
        if focus is not None:
            yield from bps.checkpoint()  # where a pause asked for by the last field happens
        # Leave the focus where the run found it.
        yield from bps.mv(microscope.stage_.z, base_z)

    def safe_state() -> MsgGenerator:
        yield from bps.mv(microscope.illumination.on, False)

    # Every run starts dark; staging the microscope makes its camera ready.
    yield from bps.mv(microscope.illumination.on, False)
    uid = yield from finalize_wrapper(
        stage_wrapper(run_wrapper(body(), md=md), [microscope]),
        safe_state(),
    )
    return uid


PREMOVE = "hcs-premove"
MOVE = "hcs-move"
FIELD = "hcs-field"


def _plate_focus(
    microscope: Microscope, spec: AcquisitionSpec, table: AcquisitionTable, base_z: float
) -> PlateFocus | None:
    """The autofocus policy's per-field z decisions, or None when the policy is off."""
    if not spec.autofocus.enabled or table.z_absolute:
        return None
    policy = spec.autofocus
    uses_contrast = policy.method == "contrast" or (
        policy.focus_map is not None and policy.focus_map.measure_with == "contrast"
    )
    uses_laser = policy.method == "laser" or (
        policy.focus_map is not None and policy.focus_map.measure_with == "laser"
    )
    if uses_laser and policy.laser.calibrate == "if_needed":
        uses_contrast = True
    known = [c.name for c in microscope.config.channels]
    if uses_contrast and policy.contrast.channel not in known:
        raise AcquisitionError(
            f"autofocus.contrast.channel: unknown channel {policy.contrast.channel!r}; "
            f"the microscope's channels are {known}"
        )
    if uses_laser and microscope.laser_autofocus is None:
        raise AcquisitionError(
            "autofocus.method: this microscope has no laser autofocus sensor; use contrast"
        )
    offsets = [c.z_offset_um for c in table.channels]
    envelope = ZEnvelope(
        below_um=-(min(table.z_offsets_um) + min(offsets)),
        above_um=max(table.z_offsets_um) + max(offsets),
    )
    return PlateFocus(
        microscope,
        spec.autofocus,
        table.fields,
        base_z,
        envelope,
        use_field_z=spec.z_reference == "stage",
    )


def _move_xy(microscope: Microscope, fov: FieldOfView) -> MsgGenerator:
    """Move to a field of view (a move to where an axis arrived commands nothing)."""
    yield Msg("set", microscope.stage_.x, fov.x_um, group=MOVE)
    yield Msg("set", microscope.stage_.y, fov.y_um, group=MOVE)
    yield Msg("wait", None, group=MOVE)


def _premove(
    microscope: Microscope,
    nxt: FieldOfView | None,
    first: SequencedFrame | None,
    with_focus: bool,
    rest_z_um: float | None = None,
) -> MsgGenerator:
    """Start travelling to the next field of view (waited for at the next field).

    The filter wheel turns to the next field's first channel meanwhile, and the focus
    goes to its first plane when that is known before arriving (no autofocus): each is
    a motor of its own, and no exposure is under way. With no next field, the focus
    goes to ``rest_z_um`` if given (where the run found it, after its last field).
    """
    if nxt is None:
        if rest_z_um is not None:
            yield Msg("set", microscope.stage_.z, rest_z_um, group=PREMOVE)
        return
    yield Msg("set", microscope.stage_.x, nxt.x_um, group=PREMOVE)
    yield Msg("set", microscope.stage_.y, nxt.y_um, group=PREMOVE)
    if first is not None:
        yield Msg("set", microscope.filter_wheel, first.filter_position, group=PREMOVE)
        if with_focus:
            yield Msg("set", microscope.stage_.z, first.z_um, group=PREMOVE)


def _record(camera: Camera, rewindable: bool) -> MsgGenerator:
    """Collect the field's images on disk and their rows, never replayed.

    Documents emitted since the last checkpoint would be emitted again by a replay
    (with sequence numbers rewound): the collects run with rewinding off, so a pause
    here resumes after them instead. ``rewindable`` is what the RunEngine had before
    (asked once per run), and what it gets back.
    """
    yield Msg("rewindable", None, False)
    try:
        yield Msg("collect", camera, name=IMAGES_STREAM)
        yield Msg("collect", camera.rows, name=FRAMES_STREAM)
    finally:
        yield Msg("rewindable", None, rewindable)


def _recipe(
    identity: dict[str, Any],
    sf: StackFrame,
    field_z: float,
    extra_rows: Mapping[str, Mapping[str, Any]],
) -> FrameRecipe:
    """One frame of a field: hardware settings and the image's row."""
    channel = sf.channel
    settings = _settings(sf, field_z)
    row = identity | {
        "channel": channel.name,
        "z_index": sf.z_index,
        "exposure_ms": channel.exposure_ms,
        **extra_rows.get(channel.name, {}),
    }
    return FrameRecipe(settings=settings, row=row)


def _settings(sf: StackFrame, field_z: float) -> SequencedFrame:
    """How the hardware is set for a frame of a field whose reference z is ``field_z``."""
    channel = sf.channel
    return SequencedFrame(
        z_um=field_z + sf.z_rel_um + channel.z_offset_um,
        source=channel.source,
        intensity_percent=channel.intensity_percent,
        filter_position=channel.filter_position,
        exposure_ms=channel.exposure_ms,
    )


def _take_field(
    microscope: Microscope,
    nxt: FieldOfView | None,
    first: SequencedFrame | None,
    with_focus: bool,
    rest_z_um: float | None,
) -> MsgGenerator:
    """The prepared field as one burst; the stage leaves for the next while it is written.

    The camera sets each frame up itself: through the hardware's sequencer when the
    field is hardware-timed, else through the devices, one software trigger per frame.
    """
    camera = microscope.camera
    yield Msg("kickoff", camera, group=FIELD)
    yield Msg("wait", None, group=FIELD)
    yield Msg("complete", camera, group=FIELD)
    yield Msg("wait_for", None, [camera.exposures_done])
    yield from _premove(microscope, nxt, first, with_focus, rest_z_um)
    yield Msg("wait", None, group=FIELD)


def _start_metadata(
    microscope: Microscope, spec: AcquisitionSpec, table: AcquisitionTable, experiment_id: str
) -> dict[str, Any]:
    config = microscope.config
    return {
        "plan_name": "acquire_plate",
        "experiment_id": experiment_id,
        "plate_format": table.plate_format,
        "wells": sorted({f.well for f in table.fields}),
        "num_fields": len(table.fields),
        "num_images": table.images,
        "channels": [c.name for c in table.channels],
        "sequence": json.loads(spec.sequence.model_dump_json(exclude_unset=True)),
        "spec": json.loads(spec.model_dump_json(exclude={"sequence"})),
        "microscope": json.loads(config.model_dump_json()),
        "pixel_size_um": config.pixel_size_um(spec.binning),
        "binning": spec.binning,
        "software_versions": software_versions(),
        "hints": {"dimensions": [(["time"], "primary")]},
    }
